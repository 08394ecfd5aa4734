"""Forced-photometry light curves sampled exactly as the drift-scan array samples them.

No imaging: each (source, tile) measurement is drawn from the truth the way a
tile image would report it, so the normalisation and the ESE search can be
proven on the sampling they meet in operation:

- Tiles follow each other every ``TILE_DURATION`` (~309 s) around the clock;
  each points at hour angle 0, so its centre is at RA = LST of its mid-time.
  A solar day is ~236 s longer than a sidereal one, so tile boundaries move
  against the sky by ~4 min a day, as they do on the telescope.
- A source is measured in every tile whose tile-averaged primary beam (the
  pipeline's :class:`~dsa110_resources.imaging.primary_beam.DriftScanBeam`,
  i.e. the configured beam model) reaches ``beam_level`` at its position:
  ~4-5 tiles a transit, at a different place in the beam each time.
- Each tile has its own flux-scale error (calibrated on its own); the noise of
  the beam-corrected image at a source is the tile's rms / beam response, and
  that is the error reported.
- ``sampling="daily"`` is the control: the same sky once a day, one scale
  error per day for all sources (a daily mosaic), noise of the linear mosaic
  of the same tiles, sigma / sqrt(sum A^2).

Truth (per-source intrinsic light curves) comes from the inputs only:
:meth:`DriftSurvey.true_flux` evaluates the injected model, never the code
under test. ESE shapes are the simulator's
(:class:`dsa110_resources.simulation.lightcurves.ESELightCurve`).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import astropy.units as u
import numpy as np
import pandas as pd
from astropy.coordinates import SkyCoord
from astropy.time import Time
from scipy.interpolate import RegularGridInterpolator

from dsa110_resources import constants as C
from dsa110_resources.imaging.primary_beam import BeamModel, DriftScanBeam, beam_model
from dsa110_resources.simulation.lightcurves import ESELightCurve

__all__ = ["DriftSurveySpec", "DriftSurvey", "simulate_drift_survey", "subband_label", "tile_beam_grid"]

#: Sidereal days per solar day: the sky's advance over the tile grid.
SIDEREAL_PER_SOLAR = 86400.0 / C.SIDEREAL_DAY.to_value(u.s)


@dataclass(frozen=True)
class DriftSurveySpec:
    """The sky, the array's sampling and the error model.

    Sources fill RA ``ra_range_deg`` and Dec within ``dec_halfwidth_deg`` of the
    pointing, with dN/dlog S proportional to S^-count_slope between the flux
    limits (slope 1 gives ~10% of sources above 10x the faint limit, like
    NVSS in the tens of mJy). ``non_compact_fraction`` of the catalog is
    flagged resolved or confused (a reference selector must skip them).
    """

    n_sources: int = 3000
    n_days: int = 60
    start_mjd: float = 60950.0
    pointing_dec_deg: float = 54.57
    ra_range_deg: tuple[float, float] = (150.0, 190.0)
    dec_halfwidth_deg: float = 1.9
    flux_range_jy: tuple[float, float] = (0.01, 3.0)
    count_slope: float = 1.0
    tile_noise_jy: float = 0.5e-3  # image rms at the beam centre, before beam correction
    tile_noise_spread: float = 0.2  # log-normal tile-to-tile spread of that rms
    fractional_noise: float = 0.003  # per-measurement (position, beam jitter)
    scale_error: float = 0.05  # rms of each tile's (or day's) flux-scale error
    beam_level: float = 0.3  # sources measured where the tile beam is above this
    missing_tile_fraction: float = 0.03
    ese_fraction: float = 0.02
    ese_depth: tuple[float, float] = (0.2, 0.5)
    ese_duration_days: tuple[float, float] = (10.0, 25.0)
    ese_caustic_ratio: tuple[float, float] = (0.2, 0.6)
    non_compact_fraction: float = 0.1
    sampling: str = "tiles"  # "tiles" (the array) or "daily" (once per day, one scale per day)
    # sub-band images (centre frequencies, Hz): rows labelled "sb<MHz>" beside "full", each with its
    # own scale error per tile and the noise of its share of the band; ESEs deepen as lambda^2
    subbands_hz: tuple[float, ...] = ()


@dataclass
class DriftSurvey:
    spec: DriftSurveySpec
    measurements: pd.DataFrame  # source_id, tile_id, epoch_mjd, band, flux_jy, flux_err_jy, pb_gain, ra_deg, dec_deg
    catalog: pd.DataFrame  # source_id, ra_deg, dec_deg, flux_jy, compact, isolated, resolved
    truth: pd.DataFrame  # per source: kind, mean_flux_jy, depth, duration_days, t0_mjd, caustic
    tile_scale: pd.Series  # tile_id -> injected flux-scale factor
    subband_scale: pd.DataFrame | None = None  # tile_id x sub-band label -> injected factor

    def true_flux(self, source_ids, epoch_mjd, freq_hz: float | None = None) -> np.ndarray:
        """Intrinsic flux of each (source, epoch) pair, from the injected model alone.

        freq_hz: a sub-band's frequency (ESE depth scales as (nu / 1.4 GHz)^-2); None: the full band.
        """
        ids = np.asarray(source_ids)
        mjd = np.broadcast_to(np.asarray(epoch_mjd, float), ids.shape)
        truth = self.truth
        rows = truth.index.get_indexer(ids)
        if (rows < 0).any():
            raise KeyError(f"unknown source ids, e.g. {ids[rows < 0][0]!r}")
        flux = truth["mean_flux_jy"].to_numpy()[rows].copy()
        for i in np.flatnonzero(truth["kind"].to_numpy() == "ese"):
            hit = rows == i
            if hit.any():
                row = truth.iloc[i]
                model = ESELightCurve(t0_mjd=row.t0_mjd, duration_days=row.duration_days, depth=row.depth,
                                      caustic=row.caustic, chromatic=freq_hz is not None, ref_freq_hz=1.4e9)
                freq = None if freq_hz is None else freq_hz * u.Hz
                flux[hit] *= model.factor(Time(mjd[hit], format="mjd"), freq)
        return flux


def tile_beam_grid(pointing_dec_deg: float, half_width_deg: float = 4.5) -> RegularGridInterpolator:
    """The grid below for the configured beam model (DSA110_PRIMARY_BEAM)."""
    return _tile_beam_grid(pointing_dec_deg, half_width_deg, beam_model())


@lru_cache(maxsize=4)
def _tile_beam_grid(pointing_dec_deg: float, half_width_deg: float, model: BeamModel) -> RegularGridInterpolator:
    """Tile-averaged beam response against (RA offset from the tile centre, Dec), degrees.

    Computed once with the pipeline's DriftScanBeam on a tile of TILE_DURATION
    over the whole band; the response of a tile depends on a source's RA only
    through its offset from the tile's centre, so every tile reuses this grid.
    """
    mid = Time(60950.5, format="mjd")
    half = C.TILE_DURATION / 2
    beam = DriftScanBeam(
        pointing_mid=SkyCoord(180.0 * u.deg, pointing_dec_deg * u.deg),
        mid_time=mid, start_time=mid - half, end_time=mid + half,
        frequencies=C.band_frequencies(), model=model,
    )
    cosd = np.cos(np.radians(pointing_dec_deg))
    dra = np.linspace(-half_width_deg / cosd * 1.5, half_width_deg / cosd * 1.5, 241)
    ddec = np.linspace(-half_width_deg, half_width_deg, 91)
    gra, gdec = np.meshgrid(180.0 + dra, pointing_dec_deg + ddec, indexing="ij")
    response = beam.response(SkyCoord(gra * u.deg, gdec * u.deg))
    return RegularGridInterpolator((dra, pointing_dec_deg + ddec), response, bounds_error=False, fill_value=0.0)


def _wrap180(x):
    return (np.asarray(x) + 180.0) % 360.0 - 180.0


def _population(spec: DriftSurveySpec, rng) -> tuple[pd.DataFrame, pd.DataFrame]:
    n = spec.n_sources
    ra = rng.uniform(*spec.ra_range_deg, n)
    # uniform on the sphere within the Dec strip
    lo, hi = np.radians(spec.pointing_dec_deg + np.array([-1, 1]) * spec.dec_halfwidth_deg)
    dec = np.degrees(np.arcsin(rng.uniform(np.sin(lo), np.sin(hi), n)))
    smin, smax = spec.flux_range_jy
    a = spec.count_slope
    u_ = rng.uniform(size=n)  # inverse CDF of dN/dS ~ S^-(a+1)
    s0 = (smin**-a - u_ * (smin**-a - smax**-a)) ** (-1 / a)
    kinds = np.where(rng.random(n) < spec.ese_fraction, "ese", "steady")
    depth = np.full(n, np.nan)
    duration = np.full(n, np.nan)
    t0 = np.full(n, np.nan)
    caustic = np.full(n, np.nan)
    end = spec.start_mjd + spec.n_days
    for i in np.flatnonzero(kinds == "ese"):
        duration[i] = rng.uniform(*spec.ese_duration_days)
        depth[i] = rng.uniform(*spec.ese_depth)
        caustic[i] = depth[i] * rng.uniform(*spec.ese_caustic_ratio)
        margin = min(duration[i] / 2 + 3, spec.n_days / 2)  # the whole dip inside the survey when it fits
        t0[i] = rng.uniform(spec.start_mjd + margin, end - margin)
    ids = pd.Index([f"DS{i:06d}" for i in range(n)], name="source_id")
    truth = pd.DataFrame({"kind": kinds, "mean_flux_jy": s0, "depth": depth, "duration_days": duration,
                          "t0_mjd": t0, "caustic": caustic, "ra_deg": ra, "dec_deg": dec}, index=ids)
    bad = rng.random(n) < spec.non_compact_fraction
    resolved = bad & (rng.random(n) < 0.5)
    catalog = pd.DataFrame({
        "source_id": ids, "ra_deg": ra, "dec_deg": dec,
        "flux_jy": s0 * (1 + 0.1 * rng.standard_normal(n)),  # another survey, another epoch
        "compact": ~resolved, "resolved": resolved, "isolated": ~(bad & ~resolved),
    })
    return truth, catalog


def _tiles(spec: DriftSurveySpec, rng) -> pd.DataFrame:
    """Every tile of the survey whose field touches the simulated RA range."""
    tile_s = C.TILE_DURATION.to_value(u.s)
    n = int(spec.n_days * 86400.0 / tile_s)
    mid = spec.start_mjd + (np.arange(n) + 0.5) * tile_s / 86400.0
    # LST at mid-time on a sky whose RA 0 transits at start_mjd (a convention: only offsets matter)
    ra = (360.0 * SIDEREAL_PER_SOLAR * (mid - spec.start_mjd)) % 360.0
    cosd = np.cos(np.radians(spec.pointing_dec_deg))
    margin = 5.0 / cosd
    lo, hi = spec.ra_range_deg
    centre, half = (lo + hi) / 2, (hi - lo) / 2 + margin
    near = np.abs(_wrap180(ra - centre)) <= half
    keep = near & (rng.random(n) >= spec.missing_tile_fraction)
    idx = np.flatnonzero(keep)
    times = Time(mid[idx], format="mjd")
    tile_ids = [t.strftime("%Y-%m-%dT%H:%M:%S") for t in times.to_datetime()]
    noise = spec.tile_noise_jy * np.exp(spec.tile_noise_spread * rng.standard_normal(len(idx)))
    scale = 1 + spec.scale_error * rng.standard_normal(len(idx))
    return pd.DataFrame({"tile_id": tile_ids, "epoch_mjd": mid[idx], "ra_deg": ra[idx], "noise_jy": noise,
                         "scale": scale})


def simulate_drift_survey(spec: DriftSurveySpec = DriftSurveySpec(), seed: int = 0) -> DriftSurvey:
    """Draw the sky, the tiles and every measurement the array would make."""
    if spec.sampling not in ("tiles", "daily"):
        raise ValueError(f"sampling must be 'tiles' or 'daily', got {spec.sampling!r}")
    rng = np.random.default_rng(seed)
    truth, catalog = _population(spec, rng)
    tiles = _tiles(spec, rng)
    beam = tile_beam_grid(spec.pointing_dec_deg)
    src_ra, src_dec = truth["ra_deg"].to_numpy(), truth["dec_deg"].to_numpy()
    order = np.argsort(src_ra)
    sorted_ra = src_ra[order]
    cosd = np.cos(np.radians(spec.pointing_dec_deg))
    reach = 4.0 / cosd  # well past the beam_level contour in RA
    # candidate (tile, source) pairs by RA window, then the beam decides
    pairs_t, pairs_s = [], []
    for t, ra in enumerate(tiles["ra_deg"].to_numpy()):
        lo, hi = ra - reach, ra + reach
        segs = [(lo, hi)] if lo >= 0 and hi < 360 else [(lo % 360, 360.0), (0.0, hi % 360)]
        for a, b in segs:
            i0, i1 = np.searchsorted(sorted_ra, [a, b])
            pairs_s.append(order[i0:i1])
            pairs_t.append(np.full(i1 - i0, t))
    pt, ps = np.concatenate(pairs_t), np.concatenate(pairs_s)
    gain = beam(np.column_stack([_wrap180(src_ra[ps] - tiles["ra_deg"].to_numpy()[pt]), src_dec[ps]]))
    seen = gain >= spec.beam_level
    pt, ps, gain = pt[seen], ps[seen], gain[seen]
    epoch = tiles["epoch_mjd"].to_numpy()[pt]
    survey = DriftSurvey(spec, pd.DataFrame(), catalog, truth.drop(columns=["ra_deg", "dec_deg"]), pd.Series(dtype=float))
    true = _true_at(survey, ps, epoch)
    noise = tiles["noise_jy"].to_numpy()[pt]
    if spec.sampling == "tiles":
        sigma = np.sqrt((noise / gain) ** 2 + (spec.fractional_noise * true) ** 2)
        scale = tiles["scale"].to_numpy()[pt]
        table = pd.DataFrame({
            "source_id": truth.index.to_numpy()[ps], "tile_id": tiles["tile_id"].to_numpy()[pt],
            "epoch_mjd": epoch, "band": "full",
            "flux_jy": true * scale + sigma * rng.standard_normal(len(pt)), "flux_err_jy": sigma,
            "pb_gain": gain, "ra_deg": src_ra[ps], "dec_deg": src_dec[ps],
        })
        tile_scale = pd.Series(tiles["scale"].to_numpy(), index=tiles["tile_id"].to_numpy())
        if spec.subbands_hz:
            table, survey.subband_scale = _subbands(spec, rng, survey, table, tiles, pt, noise, gain)
    else:
        table, tile_scale = _daily(spec, rng, truth, survey, ps, epoch, gain, noise, src_ra, src_dec)
    survey.measurements = table.sort_values(["epoch_mjd", "source_id"], ignore_index=True)
    survey.tile_scale = tile_scale
    return survey


def _true_at(survey: DriftSurvey, rows: np.ndarray, epoch: np.ndarray) -> np.ndarray:
    return survey.true_flux(survey.truth.index.to_numpy()[rows], epoch)


def subband_label(freq_hz: float) -> str:
    return f"sb{freq_hz / 1e6:.0f}"


def _subbands(spec, rng, survey, table, tiles, pt, noise, gain):
    """Sub-band rows for every tile measurement: own scale per (tile, sub-band), noise x sqrt(n)."""
    n_sub = len(spec.subbands_hz)
    scales = {}
    parts = [table]
    for freq in spec.subbands_hz:
        label = subband_label(freq)
        scale = 1 + spec.scale_error * rng.standard_normal(len(tiles))
        scales[label] = scale
        true = survey.true_flux(table["source_id"].to_numpy(), table["epoch_mjd"].to_numpy(), freq)
        sigma = np.sqrt(n_sub * (noise / gain) ** 2 + (spec.fractional_noise * true) ** 2)
        parts.append(table.assign(band=label, flux_jy=true * scale[pt] + sigma * rng.standard_normal(len(pt)),
                                  flux_err_jy=sigma))
    return pd.concat(parts, ignore_index=True), pd.DataFrame(scales, index=tiles["tile_id"].to_numpy())


def _daily(spec, rng, truth, survey, ps, epoch, gain, noise, src_ra, src_dec):
    """Once per day: a linear mosaic of the same tiles, one flux scale per day."""
    day = np.floor(epoch - spec.start_mjd).astype(int)
    frame = pd.DataFrame({"s": ps, "day": day, "w": gain**2 / noise**2, "we": epoch * gain**2 / noise**2})
    agg = frame.groupby(["s", "day"], sort=True).agg(w=("w", "sum"), we=("we", "sum")).reset_index()
    s, d = agg["s"].to_numpy(), agg["day"].to_numpy()
    mjd = agg["we"].to_numpy() / agg["w"].to_numpy()
    true = _true_at(survey, s, mjd)
    sigma = np.sqrt(1.0 / agg["w"].to_numpy() + (spec.fractional_noise * true) ** 2)
    day_scale = 1 + spec.scale_error * rng.standard_normal(spec.n_days)
    tile_ids = np.array([f"daily-{k:03d}" for k in range(spec.n_days)])
    table = pd.DataFrame({
        "source_id": truth.index.to_numpy()[s], "tile_id": tile_ids[d], "epoch_mjd": mjd, "band": "full",
        "flux_jy": true * day_scale[d] + sigma * rng.standard_normal(len(s)), "flux_err_jy": sigma,
        "pb_gain": 1.0, "ra_deg": src_ra[s], "dec_deg": src_dec[s],
    })
    return table, pd.Series(day_scale, index=tile_ids)
