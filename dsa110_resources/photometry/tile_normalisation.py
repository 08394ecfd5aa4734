"""Per-tile flux-scale normalisation for drift-scan sampling.

A drift-scan array calibrates every ~5-minute tile on its own, so each tile
carries its own flux-scale error, and a source is measured only in the ~4-5
tiles whose field holds it. There is no "epoch" shared by the whole sky, so
each tile's scale is measured from the references *inside that tile*:

    flux[m] ~ baseline[source(m)] * correction[tile(m)]

a rank-one fit over reference measurements only, alternated a few times:
a tile's correction is the sigma-clipped, inverse-variance weighted mean of
its references' flux/baseline; a reference's baseline is the median of its
corrected fluxes over the judging window; the overall scale is fixed by
median(correction) = 1 over the window's tiles. Each band (the full band or
a sub-band label) is solved on its own: sub-band images carry their own
scale errors.

A reference is a catalog-eligible source (:mod:`.references`: compact,
isolated) that is bright (median S/N >= min_snr where the beam is good),
measured often enough in the window (a count, not a fraction of epochs:
drift scans see a source ~4 times a day, never every "epoch"), and steady:
after the fit its normalised residuals are consistent with its errors
(sources whose rms residual / error is well above their peers', and above
``min_scatter`` in fraction, are dropped, logged and returned). Only
reference measurements with beam response >= min_pb_gain count: far down
the beam the beam model's own error grows.

The correction's error is 1/sqrt(sum w) of the weighted mean, inflated by
sqrt(chi2_nu) of the tile's references when they scatter more than their
errors say; it is folded into every normalised error. Tiles with fewer than
``min_references_per_tile`` references stay un-normalised (NaN) and are
reported. ``ref_spread`` per tile (rms distance of the references from their
centroid over that of all sources in the tile, when positions are given)
says whether the references sample the whole field or one corner.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

__all__ = ["TileCriteria", "TileNormalisation", "normalise_tiles", "DEFAULT_BAND"]

log = logging.getLogger(__name__)

DEFAULT_BAND = "full"


@dataclass(frozen=True)
class TileCriteria:
    """What makes a reference and a usable tile correction."""

    min_snr: float = 50.0
    min_pb_gain: float = 0.5
    min_measurements: int = 8
    window_days: float | None = 30.0
    scatter_factor: float = 3.0
    min_scatter: float = 0.01
    clip: float = 4.0
    min_references_per_tile: int = 3
    iterations: int = 6


@dataclass
class TileNormalisation:
    """Corrections per (tile, band), the references used, and the normalised measurements."""

    corrections: pd.DataFrame  # tile_id, band, epoch_mjd, correction, correction_err, n_references, chi2_nu, ref_spread
    references: pd.DataFrame  # source_id, band, baseline_jy, rms_z, frac_scatter, n_measurements, used, reason
    table: pd.DataFrame  # input rows + correction, correction_err, norm_flux_jy, norm_flux_err_jy
    dropped: list[dict] = field(default_factory=list)

    def fraction_normalised(self) -> float:
        return float(np.isfinite(self.table["norm_flux_jy"]).mean()) if len(self.table) else 0.0


REQUIRED = ("source_id", "tile_id", "epoch_mjd", "flux_jy", "flux_err_jy")


def _group_median(values: np.ndarray, codes: np.ndarray, n: int) -> np.ndarray:
    out = np.full(n, np.nan)
    if len(values):
        med = pd.Series(values).groupby(codes).median()
        out[med.index.to_numpy()] = med.to_numpy()
    return out


def _solve(f, e, t, s, n_tiles, n_refs, window_tiles, clip, iterations):
    """Alternating rank-one fit; returns correction, error, n used, chi2_nu, baseline, kept mask."""
    in_window = window_tiles[t]
    baseline = _group_median(np.where(in_window, f, np.nan), s, n_refs)
    correction = np.ones(n_tiles)
    keep = np.ones(len(f), bool)
    for _ in range(iterations):
        r = f / baseline[s]
        sr = e / baseline[s]
        med = _group_median(r, t, n_tiles)
        dev = np.abs(r - med[t])
        mad = 1.4826 * _group_median(dev, t, n_tiles)
        keep = dev <= clip * np.maximum(mad[t], sr)
        w = np.where(keep, 1.0 / sr**2, 0.0)
        sw = np.bincount(t, w, n_tiles)
        with np.errstate(all="ignore"):
            correction = np.bincount(t, w * np.nan_to_num(r), n_tiles) / sw
        scale = np.nanmedian(correction[window_tiles]) if window_tiles.any() else np.nanmedian(correction)
        correction = correction / scale
        corrected = f / correction[t]
        baseline = _group_median(np.where(in_window & keep, corrected, np.nan), s, n_refs)
    r = f / baseline[s]
    sr = e / baseline[s]
    w = np.where(keep, 1.0 / sr**2, 0.0)
    sw = np.bincount(t, w, n_tiles)
    n_used = np.bincount(t, keep.astype(float), n_tiles).astype(int)
    with np.errstate(all="ignore"):
        resid = r - correction[t]
        chi2 = np.bincount(t, w * np.nan_to_num(resid) ** 2, n_tiles) / np.maximum(n_used - 1, 1)
        err = np.sqrt(1.0 / sw) * np.sqrt(np.maximum(chi2, 1.0))
    return correction, err, n_used, chi2, baseline, keep


def _spread(table: pd.DataFrame, is_ref: np.ndarray, tile_codes: np.ndarray, n_tiles: int) -> np.ndarray:
    """rms distance of references from their centroid / that of all sources, per tile (deg ratio)."""
    if not {"ra_deg", "dec_deg"} <= set(table.columns):
        return np.full(n_tiles, np.nan)
    dec = np.radians(table["dec_deg"].to_numpy(float))
    ra = np.radians(table["ra_deg"].to_numpy(float))
    xyz = np.column_stack([np.cos(dec) * np.cos(ra), np.cos(dec) * np.sin(ra), np.sin(dec)])

    def rms(mask):
        n = np.bincount(tile_codes[mask], minlength=n_tiles).astype(float)
        centre = np.column_stack([np.bincount(tile_codes[mask], xyz[mask, k], n_tiles) for k in range(3)])
        with np.errstate(all="ignore"):
            centre /= n[:, None]
            d2 = np.sum((xyz[mask] - centre[tile_codes[mask]]) ** 2, axis=1)
            return np.sqrt(np.bincount(tile_codes[mask], d2, n_tiles) / n)

    with np.errstate(all="ignore"):
        return rms(is_ref) / rms(np.ones(len(table), bool))


def _normalise_band(table: pd.DataFrame, eligible: pd.Series | None, criteria: TileCriteria):
    f_all = table["flux_jy"].to_numpy(float)
    e_all = table["flux_err_jy"].to_numpy(float)
    tile_codes, tiles = pd.factorize(table["tile_id"], sort=True)
    n_tiles = len(tiles)
    tile_epoch = pd.Series(table["epoch_mjd"].to_numpy(float)).groupby(tile_codes).mean().to_numpy()
    end = np.nanmax(tile_epoch) if n_tiles else 0.0
    window_tiles = (tile_epoch >= end - criteria.window_days) if criteria.window_days else np.ones(n_tiles, bool)

    gain = table["pb_gain"].to_numpy(float) if "pb_gain" in table.columns else np.ones(len(table))
    good = np.isfinite(f_all) & np.isfinite(e_all) & (e_all > 0) & (np.nan_to_num(gain) >= criteria.min_pb_gain)
    if "blended" in table.columns:  # the forced fit saw a neighbour: never a reference measurement
        good &= ~table["blended"].fillna(True).to_numpy(bool)
    src_codes, src_ids = pd.factorize(table["source_id"].astype(str), sort=True)
    src_ids = np.asarray(src_ids)
    ids = src_ids[src_codes]
    if eligible is not None:
        good &= eligible.reindex(src_ids).fillna(False).to_numpy(bool)[src_codes]
    # bright and well measured in the window
    judged = good & window_tiles[tile_codes]
    stats = pd.DataFrame({"id": ids[judged], "snr": f_all[judged] / e_all[judged]}).groupby("id")["snr"]
    summary = pd.DataFrame({"snr": stats.median(), "n": stats.size()})
    candidates = summary.index[(summary["snr"] >= criteria.min_snr) & (summary["n"] >= criteria.min_measurements)]
    src_index = pd.Index(src_ids)
    is_candidate = src_index.isin(candidates)  # hashed: np.isin on strings is quadratic-slow
    dropped: list[dict] = []
    reasons: dict[str, str] = {}
    while True:
        ref_mask = good & is_candidate[src_codes]
        ref_rows = np.flatnonzero(ref_mask)
        s_codes, ref_ids = pd.factorize(ids[ref_rows], sort=True)
        t = tile_codes[ref_rows]
        f, e = f_all[ref_rows], e_all[ref_rows]
        correction, corr_err, n_used, chi2, baseline, keep = _solve(
            f, e, t, s_codes, n_tiles, len(ref_ids), window_tiles, criteria.clip, criteria.iterations
        )
        with np.errstate(all="ignore"):
            resid = f / (correction[t] * baseline[s_codes]) - 1
            z = resid / np.sqrt((e / f) ** 2 + (corr_err[t] / correction[t]) ** 2)
        judge = window_tiles[t] & np.isfinite(z)
        frame = pd.DataFrame({"s": s_codes[judge], "z2": z[judge] ** 2, "r": resid[judge]}).groupby("s")
        rms_z = np.full(len(ref_ids), np.nan)
        frac = np.full(len(ref_ids), np.nan)
        if len(ref_ids):
            rms_z[frame.size().index] = np.sqrt(frame["z2"].mean().to_numpy())
            frac[frame.size().index] = frame["r"].std().to_numpy()
        limit = max(criteria.scatter_factor * np.nanmedian(rms_z), 2.0) if len(ref_ids) else np.inf
        bad = (rms_z > limit) & (frac > criteria.min_scatter)
        if not bad.any():
            break
        for k in np.flatnonzero(bad):
            reason = f"variable: rms residual {rms_z[k]:.1f} sigma ({frac[k]:.3f} fractional) > {limit:.1f} sigma"
            log.warning("reference %s dropped (%s)", ref_ids[k], reason)
            dropped.append({"source_id": ref_ids[k], "reason": reason, "rms_z": float(rms_z[k])})
            reasons[ref_ids[k]] = reason
        is_candidate[src_index.get_indexer(np.asarray(ref_ids)[bad])] = False

    few = n_used < criteria.min_references_per_tile
    correction = np.where(few, np.nan, correction)
    corr_err = np.where(few, np.nan, corr_err)
    n_thin = int((few & window_tiles).sum())
    if n_thin:
        log.warning("%d of %d tiles have fewer than %d references: left un-normalised", n_thin,
                    int(window_tiles.sum()), criteria.min_references_per_tile)
    spread_mask = np.zeros(len(table), bool)
    spread_mask[ref_rows[keep]] = True
    corrections = pd.DataFrame({
        "tile_id": np.asarray(tiles), "epoch_mjd": tile_epoch, "correction": correction,
        "correction_err": corr_err, "n_references": n_used, "chi2_nu": chi2,
        "ref_spread": _spread(table, spread_mask, tile_codes, n_tiles),
    })
    used_refs = pd.DataFrame({
        "source_id": np.asarray(ref_ids), "baseline_jy": baseline, "rms_z": rms_z, "frac_scatter": frac,
        "n_measurements": np.bincount(s_codes, minlength=len(ref_ids)), "used": True, "reason": "",
    })
    gone = pd.DataFrame({"source_id": list(reasons), "used": False, "reason": list(reasons.values())})
    references = pd.concat([used_refs, gone], ignore_index=True)

    c, ce = correction[tile_codes], corr_err[tile_codes]
    out = table.copy()
    out["correction"] = c
    out["correction_err"] = ce
    with np.errstate(all="ignore"):
        out["norm_flux_jy"] = f_all / c
        out["norm_flux_err_jy"] = np.sqrt((e_all / c) ** 2 + (f_all * ce / c**2) ** 2)
    return corrections, references, out, dropped


def normalise_tiles(
    measurements: pd.DataFrame,
    eligible: pd.Series | None = None,
    criteria: TileCriteria = TileCriteria(),
) -> TileNormalisation:
    """Per-(tile, band) flux-scale corrections and the normalised measurements.

    measurements: one row per (source, tile[, band]) with source_id, tile_id,
    epoch_mjd, flux_jy, flux_err_jy and optionally band (default "full", or a
    sub-band label: each band is solved on its own), pb_gain (beam response at
    the source), blended (never a reference measurement), ra_deg/dec_deg (for ref_spread).
    eligible: bool Series indexed by source_id (see
    :func:`.references.eligible_references`); None lets every source compete.
    """
    missing = [c for c in REQUIRED if c not in measurements.columns]
    if missing:
        raise ValueError(f"measurement table lacks columns {missing}")
    table = measurements if "band" in measurements.columns else measurements.assign(band=DEFAULT_BAND)
    keys = table[["source_id", "tile_id", "band"]]
    if keys.duplicated().any():
        first = keys[keys.duplicated()].iloc[0].to_dict()
        raise ValueError(f"repeated (source_id, tile_id, band) rows, e.g. {first}: a tile photometered twice?")
    if eligible is not None:
        eligible = eligible.copy()
        eligible.index = eligible.index.astype(str)
    parts, corrections, references, dropped = [], [], [], []
    for band, rows in table.groupby("band", sort=True):
        corr, refs, out, drop = _normalise_band(rows.reset_index(drop=True), eligible, criteria)
        corrections.append(corr.assign(band=band))
        references.append(refs.assign(band=band))
        parts.append(out)
        dropped += [dict(d, band=band) for d in drop]
        log.info("band %s: %d tiles, %d with a correction, median %d references, median error %.4f", band,
                 len(corr), int(np.isfinite(corr["correction"]).sum()), int(np.median(corr["n_references"])),
                 float(np.nanmedian(corr["correction_err"])) if np.isfinite(corr["correction_err"]).any() else np.nan)
    if not parts:
        empty = table.assign(correction=np.nan, correction_err=np.nan, norm_flux_jy=np.nan, norm_flux_err_jy=np.nan)
        return TileNormalisation(pd.DataFrame(), pd.DataFrame(), empty, [])
    return TileNormalisation(pd.concat(corrections, ignore_index=True), pd.concat(references, ignore_index=True),
                             pd.concat(parts, ignore_index=True), dropped)
