"""Which catalog sources may serve as flux-scale references: the catalog's judgement.

A reference must be compact (a resolved source's forced flux depends on the
synthesized beam, which changes with hour angle and tile), isolated (a
neighbour inside the fit box adds flux that depends on where the tile puts
it) and bright enough. Photometry judges steadiness and S/N later
(:mod:`.tile_normalisation`); this module reads what the catalog knows.

The catalog is a plain DataFrame with ``source_id`` (or that index) and any
of these optional columns; absent columns do not constrain, and a missing
value in a present column counts as "not known good" (excluded):

    compact   bool  True = smaller than the beam
    isolated  bool  True = no neighbour within a few beams
    confused  bool  True = blended with a neighbour (the opposite sense)
    resolved  bool  True = larger than the beam (the opposite sense)
    flux_jy   float catalog flux, cut at ``min_flux_jy`` when given
"""

from __future__ import annotations

import numpy as np
import pandas as pd

__all__ = ["GOOD_FLAGS", "BAD_FLAGS", "eligible_references"]

#: Columns where True means fit to be a reference, and where True means not.
GOOD_FLAGS = ("compact", "isolated")
BAD_FLAGS = ("confused", "resolved")


def _flag(values: pd.Series, good: bool) -> np.ndarray:
    known = values.notna().to_numpy()
    truth = values.fillna(not good).astype(bool).to_numpy()
    return known & (truth if good else ~truth)


def eligible_references(catalog: pd.DataFrame, *, min_flux_jy: float | None = None) -> pd.Series:
    """Bool Series indexed by source_id: may this source be a flux-scale reference?"""
    if "source_id" in catalog.columns:
        index = pd.Index(catalog["source_id"].astype(str), name="source_id")
    else:
        index = pd.Index(catalog.index.astype(str), name="source_id")
    if index.has_duplicates:
        raise ValueError(f"reference catalog repeats source ids, e.g. {index[index.duplicated()][0]!r}")
    ok = np.ones(len(catalog), bool)
    for column in GOOD_FLAGS:
        if column in catalog.columns:
            ok &= _flag(catalog[column], good=True)
    for column in BAD_FLAGS:
        if column in catalog.columns:
            ok &= _flag(catalog[column], good=False)
    if min_flux_jy is not None:
        if "flux_jy" not in catalog.columns:
            raise ValueError("min_flux_jy given but the reference catalog has no flux_jy column")
        ok &= np.nan_to_num(catalog["flux_jy"].to_numpy(float), nan=0.0) >= min_flux_jy
    return pd.Series(ok, index=index, name="eligible")
