"""Light curves in the products database: what the daily chain reads and writes, and what scientists query.

- :func:`read_measurements`: per-tile forced photometry (the daily chain's input).
- :func:`write_daily` : one day's products: per-tile corrections, per-transit
  fluxes (the day's, and the previous day's again: a transit over midnight is
  complete only the next day), normalised tile fluxes, variability metrics,
  ESE candidates. A day's rerun replaces that day's rows; earlier days keep the
  normalisation of their own run (re-materialise their partitions to renormalise them).
- :func:`source_transits`, :func:`source_measurements`, :func:`stored_candidates`,
  :func:`cone_search`: the scientist's side (``dsa110 lightcurve``,
  ``candidates``, ``cone``).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from sqlalchemy import delete, func, select, update

from dsa110_resources.db import ESECandidate, FluxCorrection, ForcedPhotometry, TransitFlux, VariabilityMetric

__all__ = [
    "read_measurements",
    "write_daily",
    "read_transits",
    "source_transits",
    "source_measurements",
    "stored_candidates",
    "cone_search",
    "mjd_of_day",
]

#: What the daily chain needs per measurement (no paths: at full scale a daily run holds ~10^7 rows).
MEASUREMENT_COLUMNS = (
    "id", "source_id", "tile_id", "epoch_mjd", "band", "flux_jy", "flux_err_jy", "pb_gain", "ra_deg", "dec_deg",
    "blended",
)


def mjd_of_day(day: str) -> float:
    """MJD at 00:00 UTC of a YYYY-MM-DD day."""
    return float(pd.Timestamp(day).to_julian_date() - 2400000.5)


def _date_of_mjd(mjd: float) -> str:
    return (pd.Timestamp("1858-11-17") + pd.Timedelta(days=int(np.floor(mjd)))).strftime("%Y-%m-%d")


def _num(value) -> float | None:
    return None if value is None or not np.isfinite(value) else float(value)


def read_measurements(db, *, until_mjd: float | None = None, since_mjd: float | None = None,
                      source_ids=None, include_edge: bool = False) -> pd.DataFrame:
    """Per-tile forced photometry as the long table the normalisation takes."""
    fp = ForcedPhotometry
    # a row without a tile id is its own tile, named by its image
    columns = [func.coalesce(fp.tile_id, fp.image_path) if c == "tile_id" else getattr(fp, c)
               for c in MEASUREMENT_COLUMNS]
    query = select(*columns)
    if until_mjd is not None:
        query = query.where(fp.epoch_mjd < until_mjd)
    if since_mjd is not None:
        query = query.where(fp.epoch_mjd >= since_mjd)
    if source_ids is not None:
        query = query.where(fp.source_id.in_([str(s) for s in source_ids]))
    if not include_edge:
        query = query.where(~fp.edge)
    with db.session() as s:
        rows = s.execute(query).all()
    # ids repeat ~10^2-10^4 times: categories halve the table (~60 B a row instead of ~120)
    return pd.DataFrame(rows, columns=list(MEASUREMENT_COLUMNS)).astype(
        {"source_id": "category", "tile_id": "category", "band": "category"})


def write_daily(db, day: str, products, measurements: pd.DataFrame, threshold: float,
                plots: dict[str, str] | None = None) -> dict:
    """Store one day's products (see the module docstring); returns row counts written."""
    start = mjd_of_day(day)
    end = start + 1.0
    norm = products.normalisation
    corr = norm.corrections
    today = corr[(corr["epoch_mjd"] >= start) & (corr["epoch_mjd"] < end) & np.isfinite(corr["correction"])]
    # the day's transits, and the previous day's again: a transit whose mean falls before midnight
    # may have tiles after it, which only today's run has seen
    transits = products.transits
    transits = transits[transits["day_mjd"].isin([int(start) - 1, int(start)])]
    yesterday = _date_of_mjd(start - 1)
    tiles = norm.table
    tiles = tiles[(tiles["epoch_mjd"] >= start) & (tiles["epoch_mjd"] < end)]
    if "id" not in tiles.columns:
        tiles = tiles.merge(measurements[["id", "source_id", "tile_id", "band"]],
                            on=["source_id", "tile_id", "band"], how="left")
    updates = [
        {"id": int(i), "norm_flux_jy": _num(f), "norm_flux_err_jy": _num(e)}
        for i, f, e in zip(tiles["id"], tiles["norm_flux_jy"], tiles["norm_flux_err_jy"], strict=True)
        if pd.notna(i)
    ]
    candidates = products.candidates
    plots = plots or {}
    with db.session() as s:
        for model in (VariabilityMetric, FluxCorrection, ESECandidate):
            s.execute(delete(model).where(model.day == day))
        rewritten = [day] + ([yesterday] if (transits["day_mjd"] < int(start)).any() else [])
        s.execute(delete(TransitFlux).where(TransitFlux.day.in_(rewritten)))
        s.add_all(
            FluxCorrection(day=day, tile_id=str(r.tile_id), epoch_mjd=float(r.epoch_mjd), band=str(r.band),
                           correction=float(r.correction), correction_err=float(r.correction_err),
                           n_references=int(r.n_references), chi2_nu=_num(r.chi2_nu), ref_spread=_num(r.ref_spread))
            for r in today.itertuples()
        )
        s.add_all(
            TransitFlux(source_id=str(r.source_id), band=str(r.band), day=day if r.day_mjd == int(start) else yesterday,
                        epoch_mjd=float(r.epoch_mjd),
                        flux_jy=float(r.flux_jy), flux_err_jy=float(r.flux_err_jy), n_tiles=int(r.n_tiles),
                        chi2_nu=_num(r.chi2_nu))
            for r in transits.itertuples()
        )
        if updates:
            s.execute(update(ForcedPhotometry), updates)
        s.add_all(
            VariabilityMetric(
                source_id=str(sid), day=day, band=products.band, n_epochs=int(row["n_epochs"]),
                weighted_mean_jy=_num(row["weighted_mean_jy"]), eta=_num(row["eta"]), chi2_nu=_num(row["chi2_nu"]),
                v=_num(row["v"]), vs_max=_num(row["vs_max"]), m_at_vs_max=_num(row["m_at_vs_max"]),
                two_epoch_flag=bool(row["two_epoch_flag"]),
            )
            for sid, row in products.variability.iterrows()
        )
        s.add_all(
            ESECandidate(
                source_id=str(sid), day=day, band=products.band, rank=int(row["rank"]), snr=float(row["snr"]),
                depth=_num(row["depth"]), duration_days=_num(row["duration_days"]), t0_mjd=_num(row["t0_mjd"]),
                threshold=float(threshold),
                details={k: _num(v) for k, v in row.items() if str(k).startswith("depth_")} or None,
                plot_path=plots.get(str(sid)),
            )
            for sid, row in candidates.iterrows()
        )
    normalised = sum(u["norm_flux_jy"] is not None for u in updates)  # the others are cleared (no correction)
    return {"corrections": len(today), "transits": len(transits), "tiles_normalised": normalised,
            "variability": len(products.variability), "candidates": len(candidates)}


def read_transits(db, *, since_mjd: float, until_mjd: float) -> pd.DataFrame:
    """Stored per-transit fluxes of the days in [since_mjd, until_mjd), as aggregate_transits gives them."""
    days = [_date_of_mjd(m) for m in np.arange(np.floor(since_mjd), np.floor(until_mjd))]
    tf = TransitFlux
    with db.session() as s:
        rows = s.execute(select(tf.source_id, tf.band, tf.day, tf.epoch_mjd, tf.flux_jy, tf.flux_err_jy, tf.n_tiles,
                                tf.chi2_nu).where(tf.day.in_(days))).all() if days else []
    table = pd.DataFrame(rows, columns=["source_id", "band", "day", "epoch_mjd", "flux_jy", "flux_err_jy", "n_tiles",
                                        "chi2_nu"])
    table.insert(2, "day_mjd", table["day"].map({d: int(mjd_of_day(d)) for d in table["day"].unique()}).astype(int))
    return table.drop(columns=["day"])


def source_transits(db, source_id: str, band: str | None = None) -> pd.DataFrame:
    """A source's stored per-transit light curve (normalised), oldest first."""
    query = select(TransitFlux.day, TransitFlux.band, TransitFlux.epoch_mjd, TransitFlux.flux_jy,
                   TransitFlux.flux_err_jy, TransitFlux.n_tiles, TransitFlux.chi2_nu
                   ).where(TransitFlux.source_id == str(source_id))
    if band is not None:
        query = query.where(TransitFlux.band == band)
    with db.session() as s:
        rows = s.execute(query.order_by(TransitFlux.band, TransitFlux.epoch_mjd)).all()
    table = pd.DataFrame(rows, columns=["day", "band", "epoch_mjd", "flux_jy", "flux_err_jy", "n_tiles", "chi2_nu"])
    table.insert(0, "source_id", str(source_id))
    return table


def source_measurements(db, source_ids, band: str | None = None) -> pd.DataFrame:
    """Every per-tile measurement of the sources (edge ones too, flagged), with the tile's correction."""
    fp = ForcedPhotometry
    query = (
        select(fp.source_id, fp.tile_id, fp.image_path, fp.epoch_mjd, fp.band, fp.ra_deg, fp.dec_deg, fp.flux_jy,
               fp.flux_err_jy, fp.norm_flux_jy, fp.norm_flux_err_jy, fp.pb_gain, fp.snr, fp.blended, fp.edge,
               FluxCorrection.correction, FluxCorrection.correction_err, FluxCorrection.n_references)
        .outerjoin(FluxCorrection, (FluxCorrection.tile_id == fp.tile_id) & (FluxCorrection.band == fp.band))
        .where(fp.source_id.in_([str(s) for s in source_ids]))
    )
    if band is not None:
        query = query.where(fp.band == band)
    with db.session() as s:
        rows = s.execute(query.order_by(fp.source_id, fp.band, fp.epoch_mjd)).all()
    columns = ["source_id", "tile_id", "image_path", "epoch_mjd", "band", "ra_deg", "dec_deg", "flux_jy",
               "flux_err_jy", "norm_flux_jy", "norm_flux_err_jy", "pb_gain", "snr", "blended", "edge",
               "correction", "correction_err", "n_references"]
    return pd.DataFrame(rows, columns=columns)


def stored_candidates(db, day: str | None = None) -> tuple[str | None, pd.DataFrame]:
    """The ranked ESE candidates of ``day`` (default: the latest day with any), and that day."""
    with db.session() as s:
        if day is None:
            day = s.scalar(select(func.max(VariabilityMetric.day)))
        if day is None:
            return None, pd.DataFrame()
        rows = s.execute(
            select(ESECandidate.rank, ESECandidate.source_id, ESECandidate.band, ESECandidate.snr,
                   ESECandidate.depth, ESECandidate.duration_days, ESECandidate.t0_mjd, ESECandidate.status,
                   ESECandidate.plot_path, ESECandidate.details)
            .where(ESECandidate.day == day).order_by(ESECandidate.rank)
        ).all()
    table = pd.DataFrame(rows, columns=["rank", "source_id", "band", "snr", "depth", "duration_days", "t0_mjd",
                                        "status", "plot_path", "details"])
    return day, table


def cone_search(db, ra_deg: float, dec_deg: float, radius_deg: float) -> pd.DataFrame:
    """Sources with forced photometry within ``radius_deg`` of (ra, dec), nearest first.

    Columns: source_id, ra_deg, dec_deg, separation_arcsec, n_measurements, first_mjd, last_mjd.
    """
    if not 0 < radius_deg <= 10:
        raise ValueError(f"cone radius must be in (0, 10] deg, got {radius_deg}")
    fp = ForcedPhotometry
    query = (
        select(fp.source_id, func.min(fp.ra_deg), func.min(fp.dec_deg), func.count(), func.min(fp.epoch_mjd),
               func.max(fp.epoch_mjd))
        .where(fp.dec_deg.between(dec_deg - radius_deg, dec_deg + radius_deg))
        .group_by(fp.source_id)
    )
    with db.session() as s:
        rows = s.execute(query).all()
    table = pd.DataFrame(rows, columns=["source_id", "ra_deg", "dec_deg", "n_measurements", "first_mjd", "last_mjd"])
    if table.empty:
        return table.assign(separation_arcsec=[])
    ra1, dec1 = np.radians(ra_deg), np.radians(dec_deg)
    ra2, dec2 = np.radians(table["ra_deg"].to_numpy(float)), np.radians(table["dec_deg"].to_numpy(float))
    hav = np.sin((dec2 - dec1) / 2) ** 2 + np.cos(dec1) * np.cos(dec2) * np.sin((ra2 - ra1) / 2) ** 2
    sep = np.degrees(2 * np.arcsin(np.sqrt(np.clip(hav, 0, 1))))
    table["separation_arcsec"] = sep * 3600
    table = table[sep <= radius_deg].sort_values("separation_arcsec", ignore_index=True)
    return table[["source_id", "ra_deg", "dec_deg", "separation_arcsec", "n_measurements", "first_mjd", "last_mjd"]]
