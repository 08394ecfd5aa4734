"""The ranked list of new sources of a day, with how significant each is, and image cut-outs.

A new source has no master-catalog counterpart. What makes one interesting
is that earlier images *should* have seen it and did not: its significance
(VAST's "new high sigma") is the peak flux of its first detection over the
noise at its position in the deepest earlier image that covered it, measured
by forced photometry there (those forced rows are stored too: the source's
light curve before it appeared). A source first seen where nothing looked
before gets no such figure and ranks after those that have one.
"""

from __future__ import annotations

from pathlib import Path

import astropy.units as u
import numpy as np
import pandas as pd
from astropy.coordinates import SkyCoord

__all__ = ["prior_images", "rank_new_sources", "write_cutout"]

#: Earlier images are looked for this far back (a drift scan revisits a field daily).
LOOKBACK_DAYS = 30.0
#: An earlier tile covers a position closer than this to its phase centre
#: (the field's half-width at 1.5 primary-beam FWHMs is ~2.2 deg).
TILE_REACH = 2.0 * u.deg


def _mjd(t) -> float:
    return t.timestamp() / 86400.0 + 40587.0


def prior_images(db, coord: SkyCoord, before_mjd: float, lookback_days: float = LOOKBACK_DAYS) -> pd.DataFrame:
    """Tile images made before ``before_mjd`` whose field held ``coord``: path, pb, residual, epoch."""
    import datetime as dt

    from sqlalchemy import select

    from dsa110_resources.db import Image, MeasurementSet, Tile

    until = dt.datetime(1858, 11, 17, tzinfo=dt.UTC) + dt.timedelta(days=before_mjd)
    since = until - dt.timedelta(days=lookback_days)
    reach = TILE_REACH.to_value(u.deg)
    dec = float(coord.dec.deg)
    with db.session() as s:
        rows = s.execute(
            select(Image.tile_id, Image.kind, Image.path, Tile.group_time, MeasurementSet.ra_deg,
                   MeasurementSet.dec_deg)
            .join(Tile, Tile.tile_id == Image.tile_id)
            .join(MeasurementSet, MeasurementSet.tile_id == Image.tile_id)
            .where(Tile.group_time >= since, Tile.group_time < until,
                   MeasurementSet.dec_deg.between(dec - reach, dec + reach),
                   Image.kind.in_(("image", "pb", "residual")))
        ).all()
    if not rows:
        return pd.DataFrame(columns=["tile_id", "image", "pb", "residual", "epoch_mjd"])
    t = pd.DataFrame(rows, columns=["tile_id", "kind", "path", "time", "ra", "dec"]).drop_duplicates(["tile_id", "kind"])
    sep = SkyCoord(t["ra"].to_numpy() * u.deg, t["dec"].to_numpy() * u.deg).separation(coord)
    t = t[sep <= TILE_REACH]
    wide = t.pivot(index="tile_id", columns="kind", values="path")
    if "image" not in wide:
        return pd.DataFrame(columns=["tile_id", "image", "pb", "residual", "epoch_mjd"])
    wide = wide.dropna(subset=["image"])
    epochs = t.drop_duplicates("tile_id").set_index("tile_id")["time"].map(_mjd)
    return pd.DataFrame({"tile_id": wide.index, "image": wide["image"].to_numpy(),
                         "pb": wide.get("pb", pd.Series(index=wide.index)).to_numpy(),
                         "residual": wide.get("residual", pd.Series(index=wide.index)).to_numpy(),
                         "epoch_mjd": epochs.reindex(wide.index).to_numpy()}).reset_index(drop=True)


def _prior_noise(db, source, lookback_days: float) -> tuple[float, int]:
    """Forced photometry at the source on earlier images (rows stored); the lowest noise and the count."""
    from sqlalchemy import delete, insert

    from dsa110_resources.db import SourceMeasurement
    from dsa110_resources.photometry.forced import forced_photometry_image

    coord = SkyCoord(source.ra_deg * u.deg, source.dec_deg * u.deg)
    images = prior_images(db, coord, source.first_seen_mjd, lookback_days)
    rows = []
    for im in images.itertuples():
        pb = im.pb if isinstance(im.pb, str) else None
        res = im.residual if isinstance(im.residual, str) else None
        f = forced_photometry_image(im.image, coord.reshape((1,)), pb_path=pb, residual_path=res, source_ids=[source.id])
        if f.empty or not np.isfinite(f["flux_err_jy"].iloc[0]):
            continue
        r = f.iloc[0]
        rows.append(dict(image_path=im.image, image_kind="tile", tile_id=im.tile_id, epoch_mjd=float(r.epoch_mjd),
                         forced=True, ra_deg=float(r.ra_deg), dec_deg=float(r.dec_deg), peak_jy=float(r.flux_jy),
                         peak_err_jy=float(r.flux_err_jy), flux_jy=float(r.flux_jy),
                         flux_err_jy=float(r.flux_err_jy), local_rms_jy=float(r.local_rms_jy_beam),
                         snr=float(r.snr), pb_gain=float(r.pb_gain), new_source_id=int(source.id)))
    with db.session() as s:
        paths = [r["image_path"] for r in rows]
        if paths:
            s.execute(delete(SourceMeasurement).where(SourceMeasurement.new_source_id == source.id,
                                                      SourceMeasurement.image_path.in_(paths)))
            s.execute(insert(SourceMeasurement), rows)
    if not rows:
        return float("nan"), 0
    return min(r["flux_err_jy"] for r in rows), len(rows)


def rank_new_sources(db, start_mjd: float, end_mjd: float, lookback_days: float = LOOKBACK_DAYS) -> pd.DataFrame:
    """New sources first seen in [start, end): significance against earlier images, ranked.

    Updates each source's ``new_sigma`` and ``n_prior_images``. Columns:
    rank, new_source_id, name, ra_deg, dec_deg, first_seen_mjd, first_image,
    n_detections, max_snr, peak_flux_jy, new_sigma, n_prior_images.
    """
    from sqlalchemy import select

    from dsa110_resources.db import NewSource, SourceMeasurement

    with db.session() as s:
        sources = list(s.scalars(select(NewSource).where(NewSource.first_seen_mjd >= start_mjd,
                                                         NewSource.first_seen_mjd < end_mjd,
                                                         NewSource.status != "rejected")))
    records = []
    for source in sources:
        noise, n_prior = _prior_noise(db, source, lookback_days)
        with db.session() as s:
            first_peak = s.scalar(select(SourceMeasurement.peak_jy)
                                  .where(SourceMeasurement.new_source_id == source.id, ~SourceMeasurement.forced)
                                  .order_by(SourceMeasurement.epoch_mjd).limit(1))
            row = s.get(NewSource, source.id)
            row.new_sigma = float(first_peak / noise) if n_prior and first_peak is not None else None
            row.n_prior_images = n_prior
            records.append(dict(new_source_id=row.id, name=row.name, ra_deg=row.ra_deg, dec_deg=row.dec_deg,
                                first_seen_mjd=row.first_seen_mjd, first_image=row.first_image,
                                n_detections=row.n_detections, max_snr=row.max_snr, peak_flux_jy=row.peak_flux_jy,
                                new_sigma=row.new_sigma, n_prior_images=n_prior))
    table = pd.DataFrame(records, columns=["new_source_id", "name", "ra_deg", "dec_deg", "first_seen_mjd",
                                           "first_image", "n_detections", "max_snr", "peak_flux_jy", "new_sigma",
                                           "n_prior_images"])
    table = table.sort_values(["new_sigma", "max_snr"], ascending=False, na_position="last").reset_index(drop=True)
    table.insert(0, "rank", np.arange(1, len(table) + 1))
    return table


def write_cutout(image_path, coord: SkyCoord, path, title: str = "", size_beams: float = 20.0) -> Path:
    """A PNG of the image around ``coord``: ``size_beams`` restoring-beam majors on a side."""
    from astropy.nddata import Cutout2D

    from dsa110_resources.imaging.preview import write_preview
    from dsa110_resources.photometry.forced import RestoringBeam, read_plane

    plane = read_plane(image_path)
    beam = RestoringBeam.from_header(plane.header)
    side = int(round(size_beams * beam.major.to_value(u.deg) / abs(float(plane.header["CDELT2"]))))
    cut = Cutout2D(plane.data, coord, (side, side), wcs=plane.wcs, mode="partial", fill_value=np.nan)
    return write_preview(cut.data, path, title=title, max_pixels=side)
