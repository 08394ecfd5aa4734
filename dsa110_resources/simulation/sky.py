"""The simulated sky: synthetic NVSS-like catalogs, calibrators, variability.

A :class:`SkyModel` is a :class:`~dsa110_resources.catalogs.SkyCatalog` plus
optional light curves keyed by source name; the flux of a source at a tile's
epoch is its catalog flux times its light curve at that time.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import astropy.units as u
import numpy as np
from astropy.coordinates import HADec, SkyCoord
from astropy.time import Time

from dsa110_resources import constants as C
from dsa110_resources.catalogs import SkyCatalog, calibrator_catalog, get_calibrator
from dsa110_resources.simulation.lightcurves import ESELightCurve

__all__ = [
    "SkyModel",
    "calibrator_transit_start",
    "synthetic_nvss_catalog",
]


@dataclass
class SkyModel:
    """Sources and their light curves (name -> light curve; absent = steady)."""

    catalog: SkyCatalog
    light_curves: dict = field(default_factory=dict)

    def flux_scale(self, time: Time) -> np.ndarray:
        """Per-source flux factor at ``time`` (1 for steady sources)."""
        out = np.ones(len(self.catalog))
        if self.light_curves:
            index = {str(n): i for i, n in enumerate(self.catalog.name)}
            for name, lc in self.light_curves.items():
                if name in index:
                    out[index[name]] = float(lc.factor(time))
        return out


def _uniform_in_band(rng, n, dec_lo, dec_hi, ra_lo, ra_hi):
    """n points uniform on the sphere in an RA/Dec box (degrees)."""
    sin_lo, sin_hi = np.sin(np.deg2rad(dec_lo)), np.sin(np.deg2rad(dec_hi))
    dec = np.rad2deg(np.arcsin(rng.uniform(sin_lo, sin_hi, n)))
    ra = rng.uniform(ra_lo, ra_hi, n) % 360.0
    return ra, dec


def synthetic_nvss_catalog(
    centers: SkyCoord,
    radius: u.Quantity,
    *,
    n_sources: int | None = None,
    density: u.Quantity = 50.0 / u.deg**2,
    min_flux: u.Quantity = 2.5 * u.mJy,
    slope: float = 0.9,
    max_flux: u.Quantity = 5.0 * u.Jy,
    seed: int = 0,
) -> SkyCatalog:
    """A seeded NVSS-like catalog covering every circle of ``radius`` about ``centers``.

    Counts follow a power law N(>S) = density * (S / min_flux)^-slope (NVSS has
    ~50 deg^-2 above 2.5 mJy, slope ~0.9 at mJy levels), truncated at
    ``max_flux``; spectral indices ~ N(-0.7, 0.2). Sources are drawn in the
    RA/Dec box enclosing the circles, then kept inside any circle. With
    ``n_sources`` given, that many are drawn per circle area instead of the
    NVSS density (the flux law is unchanged).
    """
    rng = np.random.default_rng(seed)
    centers = SkyCoord(np.atleast_1d(centers.ra.deg) * u.deg, np.atleast_1d(centers.dec.deg) * u.deg)
    r = radius.to_value(u.deg)
    dec_lo = max(-90.0, centers.dec.deg.min() - r)
    dec_hi = min(90.0, centers.dec.deg.max() + r)
    # RA extent of the circles; unwrap about the first centre.
    ra0 = centers.ra.deg[0]
    dra = (centers.ra.deg - ra0 + 180.0) % 360.0 - 180.0
    half = r / max(np.cos(np.deg2rad(max(abs(dec_lo), abs(dec_hi)))), 1e-3)
    ra_lo, ra_hi = ra0 + dra.min() - half, ra0 + dra.max() + half
    if ra_hi - ra_lo >= 360.0:
        ra_lo, ra_hi = 0.0, 360.0
    box_area = np.rad2deg(1.0) ** 2 * np.deg2rad(ra_hi - ra_lo) * (
        np.sin(np.deg2rad(dec_hi)) - np.sin(np.deg2rad(dec_lo))
    )
    if n_sources is None:
        n_box = rng.poisson(density.to_value(u.deg**-2) * box_area)
    else:
        circle_area = 2 * np.pi * (1 - np.cos(np.deg2rad(r))) * np.rad2deg(1.0) ** 2
        n_box = int(round(n_sources * box_area / circle_area))
    ra, dec = _uniform_in_band(rng, n_box, dec_lo, dec_hi, ra_lo, ra_hi)
    # Inverse-CDF sampling of a power law truncated at max_flux.
    smin, smax = min_flux.to_value(u.Jy), max_flux.to_value(u.Jy)
    q = rng.uniform(0.0, 1.0, n_box)
    tail = (smax / smin) ** -slope
    flux = smin * (1.0 - q * (1.0 - tail)) ** (-1.0 / slope)
    alpha = rng.normal(-0.7, 0.2, n_box)
    coords = SkyCoord(ra * u.deg, dec * u.deg)
    keep = np.zeros(n_box, bool)
    for c in centers:
        keep |= coords.separation(c).deg <= r
    idx = np.flatnonzero(keep)
    if n_sources is not None and len(centers) == 1:
        idx = idx[:n_sources]
    names = np.array(
        [f"SIM J{ra[i]:08.4f}{dec[i]:+08.4f}" for i in idx], dtype=object
    )
    return SkyCatalog(names, ra[idx], dec[idx], flux[idx], alpha[idx])


def calibrator_transit_start(
    name: str,
    after: Time,
    *,
    location=None,
    tile_duration: u.Quantity = C.TILE_DURATION,
) -> tuple[Time, u.Quantity]:
    """Start time of the first tile after ``after`` whose midpoint is the calibrator's transit.

    Returns ``(start_time, apparent_dec)``: point at the calibrator's apparent
    declination of date so it crosses the beam centre.
    """
    location = C.site_location() if location is None else location
    cal = get_calibrator(name)
    sidereal = 1.0027379093 * 360.0 * u.deg / u.day  # Earth rotation rate vs UT
    t = after + tile_duration / 2
    for _ in range(4):
        hadec = cal.coord.transform_to(HADec(obstime=t, location=location))
        ha = hadec.ha.wrap_at(180 * u.deg)
        t = t - (ha / sidereal).to(u.s)
    if t - tile_duration / 2 < after:  # transit already passed: next sidereal day
        t = t + (360 * u.deg / sidereal).to(u.s)
        hadec = cal.coord.transform_to(HADec(obstime=t, location=location))
        t = t - (hadec.ha.wrap_at(180 * u.deg) / sidereal).to(u.s)
    dec = cal.coord.transform_to(HADec(obstime=t, location=location)).dec.to(u.deg)
    return t - tile_duration / 2, dec


def build_sky(config, tile_centers: SkyCoord, epochs: Time | None = None) -> SkyModel:
    """The sky a config asks for, covering the fields of the given tile centres.

    Catalog file or synthetic NVSS-like sources, plus calibrators, plus ESE
    light curves on ``config.n_variable_sources`` of the brightest synthetic
    sources, with dips placed inside the span of ``epochs`` (seeded).
    """
    if config.catalog_file is not None:
        from dsa110_resources.catalogs import read_catalog

        catalog = read_catalog(config.catalog_file)
    else:
        catalog = synthetic_nvss_catalog(
            tile_centers,
            config.field_radius,
            n_sources=config.n_sources,
            density=config.source_density,
            min_flux=config.catalog_min_flux,
            slope=config.counts_slope,
            seed=config.seed,
        )
    n_field = len(catalog)
    cals = calibrator_catalog(config.calibrators)
    catalog = catalog.concatenate(cals) if len(cals) else catalog
    light_curves = {}
    if config.n_variable_sources and n_field:
        rng = np.random.default_rng([config.seed, 7])
        order = np.argsort(catalog.flux_jy[:n_field])[::-1][: config.n_variable_sources]
        t_lo = epochs.mjd.min() if epochs is not None else 0.0
        t_hi = epochs.mjd.max() if epochs is not None else 0.0
        for i in order:
            light_curves[str(catalog.name[i])] = ESELightCurve(
                t0_mjd=float(rng.uniform(t_lo, t_hi)) if t_hi > t_lo else float(t_lo),
                # weeks, as observed; squeezed into shorter runs so the dip and caustics are seen
                duration_days=float(
                    rng.uniform(14.0, 60.0) if t_hi - t_lo > 60 else rng.uniform(0.4, 0.8) * max(t_hi - t_lo, 1e-3)
                ),
                depth=float(rng.uniform(0.1, 0.5)),
                caustic=float(rng.uniform(0.05, 0.2)),
            )
    return SkyModel(catalog, light_curves)
