"""Which catalog sources may serve as flux-scale references: the catalog's judgement.

A reference must be compact (a resolved source's forced flux depends on the
synthesized beam, which changes with hour angle and tile), isolated (a
neighbour inside the fit box adds flux that depends on where the tile puts
it) and bright enough. Photometry judges steadiness and S/N later
(:mod:`.tile_normalisation`); this module reads what the catalog knows.

The catalog is a plain DataFrame with ``source_id`` (or that index) and any
of these optional columns; absent columns do not constrain, and a missing
value in a present column counts as "not known good" (excluded):

    reference bool  True = the catalog's own combined verdict (e.g. the master catalog's)
    compact   bool  True = smaller than the beam
    isolated  bool  True = no neighbour within a few beams
    confused  bool  True = blended with a neighbour (the opposite sense)
    resolved  bool  True = larger than the beam (the opposite sense)
    flux_jy   float catalog flux, cut at ``min_flux_jy`` when given
"""

from __future__ import annotations

import astropy.units as u
import numpy as np
import pandas as pd

from dsa110_resources.catalogs.crossmatch import is_compact, is_isolated
from dsa110_resources.catalogs.sky import SkyCatalog

#: DSA-110's synthesized beam is ~59" x 18" at Dec +54 (dsa110-facts): sizes are judged against the major axis.
DEFAULT_BEAM_MAJOR = 60 * u.arcsec

__all__ = ["GOOD_FLAGS", "BAD_FLAGS", "eligible_references", "reference_catalog"]

#: Columns where True means fit to be a reference, and where True means not.
GOOD_FLAGS = ("reference", "compact", "isolated")
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


def reference_catalog(catalog: SkyCatalog, beam_major: u.Quantity = DEFAULT_BEAM_MAJOR) -> pd.DataFrame:
    """The flag table for an operator's sky catalog (until the master catalog supplies its own).

    compact: catalog major axis < half the beam; isolated: no other catalog
    source within three beams (:mod:`dsa110_resources.catalogs.crossmatch`).
    """
    return pd.DataFrame({
        "source_id": np.asarray(catalog.name).astype(str),
        "ra_deg": catalog.ra_deg,
        "dec_deg": catalog.dec_deg,
        "flux_jy": catalog.flux_jy,
        "compact": is_compact(catalog, beam_major),
        "isolated": is_isolated(catalog, 3 * beam_major),
    })
