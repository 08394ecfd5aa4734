"""Mosaic QA: the figures behind the mosaic asset checks.

* noise: the mosaic divided by its noise map should have unit scatter; a
  ratio far from 1 means the tile noises (weights) or the convolution's noise
  scaling are wrong. Robust (MAD, clipped), so sources barely move it.
* overlap consistency: a source seen by two tiles must have one flux. Forced
  photometry (photometry.forced) on each beam-uncorrected tile, divided by
  that tile's beam, at catalog positions inside both tiles' beams; compares
  every pair (fractional difference and pull in combined errors).
* astrometry (and flux scale): catalog sources fitted on the mosaic with the
  common beam's shape fixed (imaging.qa.recover_sources): offsets in arcsec
  and beams, flux ratio to the catalog.
* coverage: fraction of the planned region (grid.planned_mask) above the
  blanking level.

Pass/fail limits live in ``QaLimits``; the Dagster checks read ``passed``.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import astropy.units as u
import numpy as np
from astropy.coordinates import SkyCoord

from dsa110_resources.imaging.qa import ReferenceSources, recover_sources, robust_noise
from dsa110_resources.photometry.forced import forced_photometry_image

from .combine import MosaicProducts
from .inputs import MosaicInput


@dataclass(frozen=True)
class QaLimits:
    noise_ratio: tuple[float, float] = (0.8, 1.25)
    overlap_median_fraction: float = 0.05  # median |S1 - S2| / mean(S)
    overlap_pull_rms: float = 2.0
    offset_median_beams: float = 0.2
    min_coverage: float = 0.8
    snr_min: float = 10.0


@dataclass
class MosaicQA:
    noise_ratio: float | None = None
    noise_median_jy: float | None = None  # median of the noise map over unblanked pixels
    overlap_pairs: int = 0
    overlap_median_fraction: float | None = None
    overlap_pull_rms: float | None = None
    astrometry_sources: int = 0
    offset_median_arcsec: float | None = None
    offset_median_beams: float | None = None
    flux_ratio_median: float | None = None
    coverage: float | None = None
    checks: dict[str, bool] = field(default_factory=dict)

    @property
    def passed(self) -> bool:
        return all(self.checks.values())

    def as_dict(self) -> dict:
        return asdict(self)


def noise_consistency(products: MosaicProducts, stride: int = 4) -> tuple[float, float]:
    """(robust scatter of mosaic / noise map, median noise map), on every ``stride``-th pixel."""
    mosaic = products.mosaic[::stride, ::stride]
    with np.errstate(divide="ignore", invalid="ignore"):
        noise = 1.0 / np.sqrt(products.weight[::stride, ::stride])
    ok = np.isfinite(mosaic) & np.isfinite(noise)
    if not ok.any():
        raise ValueError("mosaic has no unblanked pixel")
    return robust_noise(mosaic[ok] / noise[ok]), float(np.median(noise[ok]))


def overlap_consistency(inputs: list[MosaicInput], positions: SkyCoord, snr_min: float = 10.0) -> dict:
    """Pairwise agreement of forced fluxes of sources seen in several tiles (PB-corrected each)."""
    tables = []
    for tile in inputs:
        t = forced_photometry_image(tile.image_path, positions, pb_path=tile.pb_path)
        t = t[(~t.edge) & (~t.blended) & (t.snr >= snr_min)]
        t["tile_id"] = tile.tile_id
        tables.append(t[["source_id", "tile_id", "flux_jy", "flux_err_jy"]])
    fractions, pulls, rows = [], [], []
    if tables:
        import pandas as pd

        table = pd.concat(tables, ignore_index=True)
        for source_id, group in table.groupby("source_id"):
            s, e = group.flux_jy.to_numpy(), group.flux_err_jy.to_numpy()
            ids = group.tile_id.to_numpy()
            for i in range(len(s)):
                for j in range(i + 1, len(s)):
                    fractions.append(abs(s[i] - s[j]) / (0.5 * (s[i] + s[j])))
                    pulls.append((s[i] - s[j]) / np.hypot(e[i], e[j]))
                    rows.append((int(source_id), ids[i], ids[j], float(s[i]), float(s[j])))
    fractions, pulls = np.array(fractions), np.array(pulls)
    return {
        "pairs": len(rows),
        "median_fraction": float(np.median(fractions)) if rows else None,
        "pull_rms": float(np.sqrt(np.mean(pulls**2))) if rows else None,
        "rows": rows,
    }


def astrometry(products: MosaicProducts, positions: SkyCoord, flux: u.Quantity, snr_min: float = 10.0):
    """imaging.qa.recover_sources on the mosaic (already beam-corrected: beam map of ones)."""
    _, noise = noise_consistency(products)
    beam = products.beam
    ones = np.broadcast_to(np.float32(1.0), products.mosaic.shape)
    on_grid = products.grid.footprint_contains(positions)
    references = ReferenceSources(positions[on_grid], flux[on_grid])
    return recover_sources(products.mosaic, products.grid.wcs, ones, (beam.major, beam.minor, beam.pa),
                           noise, references, snr_min=snr_min, pb_limit=0.5)


def planned_coverage(products: MosaicProducts, stride: int = 8) -> float:
    """Fraction of the planned RA/Dec region that is above the blanking level."""
    planned = products.grid.planned_mask(slice(None), stride)
    valid = np.isfinite(products.mosaic[::stride, ::stride])
    if not planned.any():
        return 0.0
    return float((planned & valid).sum() / planned.sum())


def mosaic_qa(
    products: MosaicProducts,
    inputs: list[MosaicInput] | None = None,
    catalog=None,
    limits: QaLimits = QaLimits(),
) -> MosaicQA:
    """All mosaic QA figures. ``catalog``: a SkyCatalog or (SkyCoord, flux Quantity); without one the
    overlap and astrometry checks are skipped (not failed)."""
    qa = MosaicQA()
    qa.noise_ratio, qa.noise_median_jy = noise_consistency(products)
    lo, hi = limits.noise_ratio
    qa.checks["noise"] = lo <= qa.noise_ratio <= hi
    qa.coverage = planned_coverage(products)
    qa.checks["coverage"] = qa.coverage >= limits.min_coverage
    if catalog is not None:
        coords, flux = (catalog.coords, catalog.flux) if hasattr(catalog, "coords") else catalog
        if inputs:
            overlap = overlap_consistency(inputs, coords, limits.snr_min)
            qa.overlap_pairs = overlap["pairs"]
            qa.overlap_median_fraction = overlap["median_fraction"]
            qa.overlap_pull_rms = overlap["pull_rms"]
            if overlap["pairs"]:
                qa.checks["overlap_flux"] = (overlap["median_fraction"] <= limits.overlap_median_fraction
                                             or overlap["pull_rms"] <= limits.overlap_pull_rms)
        stats = astrometry(products, coords, flux, limits.snr_min)
        qa.astrometry_sources = stats.n_measured
        qa.offset_median_arcsec = stats.offset_median_arcsec
        qa.offset_median_beams = stats.offset_median_beams
        qa.flux_ratio_median = stats.flux_ratio_median
        if stats.n_measured:
            qa.checks["astrometry"] = stats.offset_median_beams <= limits.offset_median_beams
    return qa
