"""What was injected into a tile, written next to it.

Two files per tile, named after the tile's (unjittered) start timestamp:

``<YYYY-MM-DDTHH:MM:SS>_truth.json`` (schema ``dsa110-sim-truth/1``):
    tile_id, start_time/mid_time (ISO UTC), files {subband: path},
    file_timestamps {subband: name timestamp}, missing_subbands,
    pointing {declination_deg (of date), phase_center_az_deg/alt_deg,
    meridian_ra_deg/meridian_dec_deg (ICRS at mid-time)},
    antennas {active (antenna numbers), dead, station_file/layout},
    sources: rows {name, ra_deg, dec_deg, flux_jy (catalog, at ref_freq),
    spectral_index, flux_scale (light curve at mid-time), true_flux_jy
    (= flux_jy * flux_scale), beam_mid (Airy power at band centre, mid-time),
    apparent_flux_jy, included (in the visibilities)}, ref_freq_hz,
    light_curves {name: parameters (lightcurves.py)},
    noise {enabled, sefd_jy, sigma_vis_jy (per real/imag part of one
    cross-correlation, one pol), sigma_auto_jy, expected_image_noise_jy
    (Stokes I, natural weighting, live antennas, written subbands)},
    rfi [events: frequency_hz, channel (ascending band index), t_start,
    t_stop, amplitude_jy], zeroed_channels {band_index, frequency_hz},
    corruptions (toggles), config (all options).
``<...>_truth.npz`` (arrays): antenna_numbers (n_ant), times_jd (n_t),
    band_freqs_hz (768 ascending), gains (n_ant, n_t, 2) complex,
    delays_ns (n_ant, 2), bandpass (n_ant, 768, 2) complex (ascending band);
    pol axis is XX, YY. Data model: see instrument.py.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

__all__ = ["TileTruth", "read_truth"]

SCHEMA = "dsa110-sim-truth/1"


@dataclass
class TileTruth:
    """Truth of one tile: ``meta`` (the JSON document) and ``arrays`` (the NPZ)."""

    meta: dict
    arrays: dict = field(default_factory=dict)
    json_path: Path | None = None
    npz_path: Path | None = None

    @property
    def tile_id(self) -> str:
        return self.meta["tile_id"]

    @property
    def files(self) -> dict[int, Path]:
        return {int(k): Path(v) for k, v in self.meta["files"].items()}

    @property
    def sources(self) -> list[dict]:
        return self.meta["sources"]

    def write(self, out_dir: str | Path) -> TileTruth:
        out_dir = Path(out_dir)
        self.json_path = out_dir / f"{self.tile_id}_truth.json"
        self.npz_path = out_dir / f"{self.tile_id}_truth.npz"
        meta = dict(self.meta, schema=SCHEMA, arrays_file=self.npz_path.name)
        tmp = self.npz_path.with_name(f".{self.npz_path.name}.tmp.npz")
        np.savez(tmp, **self.arrays)
        os.replace(tmp, self.npz_path)
        tmp = self.json_path.with_name(f".{self.json_path.name}.tmp")
        tmp.write_text(json.dumps(meta, indent=1, default=_json_default))
        os.replace(tmp, self.json_path)
        self.meta = meta
        return self


def _json_default(obj):
    if isinstance(obj, np.integer):
        return int(obj)
    if isinstance(obj, np.floating):
        return float(obj)
    if isinstance(obj, np.bool_):
        return bool(obj)
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, Path):
        return str(obj)
    raise TypeError(f"not JSON serialisable: {type(obj)}")


def read_truth(json_path: str | Path) -> TileTruth:
    """Read a truth JSON (and its NPZ arrays, if present)."""
    json_path = Path(json_path)
    meta = json.loads(json_path.read_text())
    if meta.get("schema") != SCHEMA:
        raise ValueError(f"{json_path}: unknown truth schema {meta.get('schema')!r}")
    npz_path = json_path.with_name(meta["arrays_file"])
    arrays = {}
    if npz_path.exists():
        with np.load(npz_path) as z:
            arrays = {k: z[k] for k in z.files}
    return TileTruth(meta, arrays, json_path, npz_path if npz_path.exists() else None)
