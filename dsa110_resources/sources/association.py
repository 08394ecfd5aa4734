"""Association of blind detections with the master catalog and with earlier new sources.

A detection and a known source are the same when their positions agree
within their errors: the de Ruiter radius (de Ruiter et al. 1977; the VAST
pipeline's default association),

    r = sqrt( (d_ra cos dec)^2 / (s_ra1^2 + s_ra2^2) + d_dec^2 / (s_dec1^2 + s_dec2^2) ),

is at most ``de_ruiter_limit`` (5.68: VAST's default, keeping all but ~1e-7
of true pairs for Rayleigh-distributed offsets), and the separation is at most
``max_separation`` (a beam, so a huge position error cannot reach far). A
detection's error is the finder's, plus an astrometric floor in quadrature
(a tile's calibration leaves a few arcsec); a catalog entry without errors
gets ``catalog_error``. Each detection takes its best (smallest r) match.
"""

from __future__ import annotations

from dataclasses import dataclass

import astropy.units as u
import numpy as np
import pandas as pd
from astropy.coordinates import SkyCoord

from dsa110_resources.catalogs.crossmatch import pairs_within

__all__ = ["AssociationOptions", "de_ruiter", "associate", "weighted_position"]


@dataclass(frozen=True)
class AssociationOptions:
    de_ruiter_limit: float = 5.68
    max_separation: u.Quantity = 75 * u.arcsec  # the full array's beam major axis
    astrometric_floor: u.Quantity = 3 * u.arcsec
    catalog_error: u.Quantity = 2 * u.arcsec


def de_ruiter(ra1, dec1, ra_err1, dec_err1, ra2, dec2, ra_err2, dec_err2) -> np.ndarray:
    """The de Ruiter radius of position pairs: degrees for positions, arcsec for errors."""
    dra = ((np.asarray(ra1) - np.asarray(ra2) + 180.0) % 360.0 - 180.0) * 3600.0
    dra *= np.cos(np.deg2rad((np.asarray(dec1) + np.asarray(dec2)) / 2))
    ddec = (np.asarray(dec1) - np.asarray(dec2)) * 3600.0
    return np.sqrt(dra**2 / (np.square(ra_err1) + np.square(ra_err2))
                   + ddec**2 / (np.square(dec_err1) + np.square(dec_err2)))


def _errors(table: pd.DataFrame, default: float, floor: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
    out = []
    for column in ("ra_err_arcsec", "dec_err_arcsec"):
        e = table[column].to_numpy(float) if column in table else np.full(len(table), np.nan)
        e = np.where(np.isfinite(e) & (e > 0), e, default)
        out.append(np.hypot(e, floor))
    return out[0], out[1]


def associate(detections: pd.DataFrame, known: pd.DataFrame, id_column: str,
              options: AssociationOptions = AssociationOptions()) -> pd.DataFrame:
    """For each detection, the best-matching row of ``known`` (or none).

    Both tables hold ra_deg, dec_deg and optionally ra/dec_err_arcsec.
    Returns a frame indexed like ``detections`` with the matched
    ``id_column`` value (None when unmatched), separation_arcsec and de_ruiter.
    """
    out = pd.DataFrame({id_column: pd.Series([None] * len(detections), index=detections.index, dtype=object),
                        "separation_arcsec": np.nan, "de_ruiter": np.nan}, index=detections.index)
    if detections.empty or known.empty:
        return out
    det = SkyCoord(detections["ra_deg"].to_numpy() * u.deg, detections["dec_deg"].to_numpy() * u.deg)
    cat = SkyCoord(known["ra_deg"].to_numpy() * u.deg, known["dec_deg"].to_numpy() * u.deg)
    pairs = pairs_within(det, cat, options.max_separation)
    if pairs.empty:
        return out
    i, j = pairs["index"].to_numpy(int), pairs["catalog_index"].to_numpy(int)
    dra, ddec = _errors(detections, options.catalog_error.to_value(u.arcsec), options.astrometric_floor.to_value(u.arcsec))
    kra, kdec = _errors(known, options.catalog_error.to_value(u.arcsec))
    r = de_ruiter(detections["ra_deg"].to_numpy()[i], detections["dec_deg"].to_numpy()[i], dra[i], ddec[i],
                  known["ra_deg"].to_numpy()[j], known["dec_deg"].to_numpy()[j], kra[j], kdec[j])
    pairs = pairs.assign(de_ruiter=r)[r <= options.de_ruiter_limit]
    best = pairs.sort_values("de_ruiter").drop_duplicates("index")
    rows = detections.index[best["index"].to_numpy(int)]
    out.loc[rows, id_column] = known[id_column].to_numpy()[best["catalog_index"].to_numpy(int)]
    out.loc[rows, "separation_arcsec"] = best["separation_arcsec"].to_numpy()
    out.loc[rows, "de_ruiter"] = best["de_ruiter"].to_numpy()
    return out


def weighted_position(ra, dec, ra_err, dec_err) -> tuple[float, float, float, float]:
    """Inverse-variance mean position (deg) and its errors (arcsec) of several detections."""
    ra, dec = np.asarray(ra, float), np.asarray(dec, float)
    wra, wdec = 1 / np.square(ra_err), 1 / np.square(dec_err)
    ra0 = ra[0]
    dra = (ra - ra0 + 180.0) % 360.0 - 180.0  # unwrap about the first
    mean_ra = (ra0 + np.sum(wra * dra) / np.sum(wra)) % 360.0
    mean_dec = np.sum(wdec * dec) / np.sum(wdec)
    return float(mean_ra), float(mean_dec), float(np.sqrt(1 / np.sum(wra))), float(np.sqrt(1 / np.sum(wdec)))
