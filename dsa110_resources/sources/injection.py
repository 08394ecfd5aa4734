"""Injection tests of a source finder: simulated tiles with known sources, and the scoring.

A tile comes from :func:`dsa110_resources.mosaic.synthetic.write_tile` (the
drift-averaged primary beam, an elliptical restoring beam and noise
correlated like a real image's). Sources sit on a jittered grid several beams
apart, so completeness is not confused with blending, at *apparent* S/N
values chosen by the caller (the intrinsic flux is the apparent one over the
beam response there). Scoring matches detections to the truth by position
only: a detection with no injected source within ``match_radius`` is false.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import astropy.units as u
import numpy as np
import pandas as pd
from astropy.coordinates import SkyCoord
from astropy.time import Time

from dsa110_resources import constants as C
from dsa110_resources.imaging.primary_beam import DriftScanBeam
from dsa110_resources.mosaic.synthetic import SyntheticTile, write_tile
from dsa110_resources.photometry.forced import RestoringBeam

__all__ = ["InjectedTile", "inject_tile", "score"]

#: The full array's Briggs-0.5 beam (bench/chain.py tiles) on the default 7.6" cell.
TILE_BEAM = RestoringBeam(75 * u.arcsec, 48 * u.arcsec, 10 * u.deg)
TILE_CELL = 7.6 * u.arcsec
TILE_NOISE = 0.2 * u.mJy  # thermal, 96 antennas, one tile (dsa110-facts)


@dataclass
class InjectedTile:
    tile: SyntheticTile
    truth: pd.DataFrame  # ra_deg, dec_deg, snr (apparent), flux_jy (intrinsic), pb_gain

    @property
    def image(self) -> Path:
        return Path(f"{self.tile.prefix}.image.fits")

    @property
    def pb(self) -> Path:
        return Path(f"{self.tile.prefix}.pb.fits")


def inject_tile(directory: Path, snrs, *, size: int = 1600, spacing_beams: float = 6.0, min_pb: float = 0.3,
                start: str = "2025-10-13T13:25:07", ra: float = 150.0, dec: float = 40.0, seed: int = 0,
                beam: RestoringBeam = TILE_BEAM, cell: u.Quantity = TILE_CELL,
                noise: u.Quantity = TILE_NOISE) -> InjectedTile:
    """A tile with sources at the given apparent S/N values (cycled over the grid positions)."""
    rng = np.random.default_rng(seed)
    t0 = Time(start, scale="utc")
    pointing = SkyCoord(ra * u.deg, dec * u.deg)
    step = (spacing_beams * beam.major).to_value(u.deg)
    half = (size / 2 - 10) * cell.to_value(u.deg)
    grid = np.arange(-half + step / 2, half, step)
    gx, gy = np.meshgrid(grid, grid)
    jitter = rng.uniform(-0.25, 0.25, (2,) + gx.shape) * step
    frame = pointing.skyoffset_frame()
    coords = SkyCoord((gx + jitter[0]).ravel() * u.deg, (gy + jitter[1]).ravel() * u.deg, frame=frame).icrs
    drift = DriftScanBeam(pointing, t0 + C.TILE_DURATION / 2, t0, t0 + C.TILE_DURATION,
                          np.linspace(C.BAND_LOW, C.BAND_HIGH, 16))
    gain = np.asarray(drift.response(coords))
    keep = gain >= min_pb
    coords, gain = coords[keep], gain[keep]
    snr = np.resize(np.asarray(snrs, float), len(coords))
    rng.shuffle(snr)
    flux = snr * noise.to_value(u.Jy) / gain
    tile = write_tile(Path(directory), t0.strftime("%Y-%m-%dT%H:%M:%S"), t0, pointing, (size, size), cell, beam,
                      noise, coords, flux * u.Jy, rng, with_pbcor=False)
    truth = pd.DataFrame({"ra_deg": coords.ra.deg, "dec_deg": coords.dec.deg, "snr": snr, "flux_jy": flux,
                          "pb_gain": gain})
    return InjectedTile(tile, truth)


def score(found: pd.DataFrame, truth: pd.DataFrame, match_radius: u.Quantity = 30 * u.arcsec) -> dict:
    """Completeness per injected S/N, the false fraction and flux/position accuracy."""
    t = SkyCoord(truth["ra_deg"].to_numpy() * u.deg, truth["dec_deg"].to_numpy() * u.deg)
    n_found = len(found)
    if n_found == 0:
        return {"completeness": {float(s): 0.0 for s in np.unique(truth["snr"])}, "n_found": 0, "n_false": 0,
                "false_fraction": 0.0}
    f = SkyCoord(found["ra_deg"].to_numpy() * u.deg, found["dec_deg"].to_numpy() * u.deg)
    idx, sep, _ = t.match_to_catalog_sky(f)
    recovered = sep <= match_radius
    _, sep_f, _ = f.match_to_catalog_sky(t)
    false = sep_f > match_radius
    completeness = {float(s): float(recovered[truth["snr"].to_numpy() == s].mean()) for s in np.unique(truth["snr"])}
    bright = recovered & (truth["snr"].to_numpy() >= 20)
    ratio = found["peak_jy"].to_numpy()[idx[bright]] / truth["flux_jy"].to_numpy()[bright]
    return {
        "completeness": completeness,
        "n_injected": len(truth),
        "n_found": n_found,
        "n_false": int(false.sum()),
        "false_fraction": float(false.mean()),
        "false_snr": sorted(float(s) for s in found["snr"].to_numpy()[false]),
        "bright_flux_ratio_median": float(np.median(ratio)) if bright.any() else float("nan"),
        "bright_offset_arcsec_median": float(np.median(sep[bright].to_value(u.arcsec))) if bright.any() else float("nan"),
    }
