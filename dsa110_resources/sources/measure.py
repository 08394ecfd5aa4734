"""One image through blind finding, association and forced photometry, into the products DB.

For a tile image:
1. find sources blind (``finder.find_sources``);
2. associate each with the newest master catalog (de Ruiter), else with a new
   source seen before, else start a new source (no catalog counterpart; at
   least ``NEW_SOURCE_SNR``);
3. measure by forced photometry (``photometry.forced``) every master-catalog
   and new source inside the primary beam that was *not* detected, so a
   light curve has a flux at every epoch, detections or not;
4. write the rows (``SourceMeasurement``; re-running an image replaces its
   rows) and the image's source table as Parquet; refresh the statistics of
   the new sources it touched.

A mosaic is searched and associated with the catalog only: new sources are
found on tiles, where each detection has one epoch.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import astropy.units as u
import numpy as np
import pandas as pd
from astropy.coordinates import SkyCoord

from dsa110_resources.sources.association import AssociationOptions, associate, weighted_position
from dsa110_resources.sources.finder import FinderOptions, find_sources

__all__ = ["ImageSources", "measure_image", "refresh_new_sources", "new_source_name", "NEW_SOURCE_SNR"]

#: A detection with no counterpart starts a new source only this bright. At
#: 5 sigma ~0.4% of a tile's detections are noise (the injection test): ~1000
#: a day over ~280 tiles; above 7 sigma Gaussian noise gives none. Fainter
#: unmatched detections are kept (no source id) and still join a new source
#: that a brighter detection started.
NEW_SOURCE_SNR = 7.0


@dataclass
class ImageSources:
    """What one image gave: its rows (detections and forced) and the counts."""

    table: pd.DataFrame
    n_detections: int
    n_catalog: int  # detections associated with the master catalog
    n_new: int  # new sources started by this image
    n_known_new: int  # detections of new sources seen before
    n_forced: int
    finder_seconds: float
    catalog_version: int | None
    new_source_ids: list[int] = field(default_factory=list)


def new_source_name(ra_deg: float, dec_deg: float) -> str:
    c = SkyCoord(ra_deg * u.deg, dec_deg * u.deg)
    return (f"DSA J{c.ra.to_string(u.hourangle, sep='', precision=1, pad=True)}"
            f"{c.dec.to_string(sep='', precision=0, alwayssign=True, pad=True)}")


def image_footprint(image_path) -> tuple[SkyCoord, u.Quantity]:
    """Centre of a FITS image and the radius to its corner, from the header alone."""
    from astropy.io import fits
    from astropy.wcs import WCS

    header = fits.getheader(image_path)
    wcs = WCS(header).celestial
    nx, ny = header["NAXIS1"], header["NAXIS2"]
    centre = wcs.pixel_to_world(nx / 2, ny / 2)
    corner = wcs.pixel_to_world(0, 0)
    return SkyCoord(centre.ra, centre.dec), centre.separation(corner).to(u.deg)


def _known_new_sources(db, centre: SkyCoord, radius: u.Quantity) -> pd.DataFrame:
    from sqlalchemy import select

    from dsa110_resources.db import NewSource

    r = float(radius.to_value(u.deg))
    dec = float(centre.dec.deg)
    with db.session() as s:
        rows = s.execute(select(NewSource.id, NewSource.ra_deg, NewSource.dec_deg, NewSource.ra_err_arcsec,
                                NewSource.dec_err_arcsec)
                         .where(NewSource.dec_deg.between(dec - r, dec + r),
                                NewSource.status != "rejected")).all()
    return pd.DataFrame(rows, columns=["new_source_id", "ra_deg", "dec_deg", "ra_err_arcsec", "dec_err_arcsec"])


def _forced(image_path, pb_path, residual_path, targets: pd.DataFrame, id_column: str) -> pd.DataFrame:
    from dsa110_resources.photometry.forced import forced_photometry_image

    if targets.empty:
        return pd.DataFrame()
    coords = SkyCoord(targets["ra_deg"].to_numpy() * u.deg, targets["dec_deg"].to_numpy() * u.deg)
    f = forced_photometry_image(image_path, coords, pb_path=pb_path, residual_path=residual_path,
                                source_ids=targets[id_column].to_numpy())
    # Blanked pixels (a mosaic's edges, outside its coverage) give no flux.
    f = f[np.isfinite(f["flux_jy"]) & np.isfinite(f["flux_err_jy"]) & (f["flux_err_jy"] > 0)]
    if f.empty:
        return pd.DataFrame()
    return pd.DataFrame({
        "forced": True, "ra_deg": f["ra_deg"], "dec_deg": f["dec_deg"], "ra_err_arcsec": np.nan,
        "dec_err_arcsec": np.nan, "peak_jy": f["flux_jy"], "peak_err_jy": f["flux_err_jy"],
        "flux_jy": f["flux_jy"], "flux_err_jy": f["flux_err_jy"], "major_arcsec": np.nan,
        "minor_arcsec": np.nan, "pa_deg": np.nan, "local_rms_jy": f["local_rms_jy_beam"], "snr": f["snr"],
        "pb_gain": f["pb_gain"], id_column: f["source_id"].to_numpy(),
    })


def measure_image(db, image_path, *, pb_path=None, residual_path=None, rms_path=None, tile_id: str | None = None,
                  image_kind: str = "tile", parquet_path: Path | None = None,
                  finder: FinderOptions = FinderOptions(),
                  association: AssociationOptions = AssociationOptions(),
                  new_source_snr: float = NEW_SOURCE_SNR) -> ImageSources:
    """Steps 1-4 of the module docstring for one image; returns the rows and counts."""
    from sqlalchemy import delete, insert

    from dsa110_resources.catalogs.master import load_master_catalog
    from dsa110_resources.db import NewSource, SourceMeasurement

    image_path = str(image_path)
    found = find_sources(image_path, pb_path=pb_path, residual_path=residual_path, rms_path=rms_path,
                         options=finder)
    epoch = found.attrs["epoch_mjd"]
    centre, radius = image_footprint(image_path)
    try:
        catalog = load_master_catalog(db, center=centre, radius=radius + association.max_separation)
        version = int(catalog["version_id"].iloc[0]) if len(catalog) else None
    except LookupError:
        catalog, version = pd.DataFrame(columns=["source_id", "ra_deg", "dec_deg"]), None
    det = found.assign(forced=False)
    matched = associate(det, catalog.rename(columns={"source_id": "master_source_id"}), "master_source_id",
                        association)
    det = det.join(matched)
    det["new_source_id"] = None
    new_ids: list[int] = []
    n_known_new = 0
    if image_kind == "tile":
        unmatched = det[det["master_source_id"].isna()]
        known = _known_new_sources(db, centre, radius + association.max_separation)
        again = associate(unmatched, known, "new_source_id", association)
        n_known_new = int(again["new_source_id"].notna().sum())
        det.loc[again.index, "new_source_id"] = again["new_source_id"]
        det.loc[again.index[again["new_source_id"].notna()], ["separation_arcsec", "de_ruiter"]] = \
            again.loc[again["new_source_id"].notna(), ["separation_arcsec", "de_ruiter"]].to_numpy()
        fresh = det.index[det["master_source_id"].isna() & det["new_source_id"].isna()
                          & (det["snr"] >= new_source_snr)]
        if len(fresh):
            with db.session() as s:
                for k in fresh:
                    r = det.loc[k]
                    source = NewSource(name=new_source_name(r.ra_deg, r.dec_deg), ra_deg=float(r.ra_deg),
                                       dec_deg=float(r.dec_deg), ra_err_arcsec=float(r.ra_err_arcsec),
                                       dec_err_arcsec=float(r.dec_err_arcsec), first_seen_mjd=epoch,
                                       first_image=image_path, last_seen_mjd=epoch, n_detections=1,
                                       max_snr=float(r.snr), peak_flux_jy=float(r.peak_jy))
                    existing = s.query(NewSource).filter_by(name=source.name).one_or_none()
                    if existing is not None:  # the same name from a re-run of this image
                        source = existing
                    else:
                        s.add(source)
                    s.flush()
                    det.loc[k, "new_source_id"] = source.id
                    new_ids.append(source.id)
    # Forced photometry where a known source was not detected.
    forced = []
    if len(catalog):
        missed = catalog[~catalog["source_id"].isin(det["master_source_id"].dropna())]
        forced.append(_forced(image_path, pb_path, residual_path,
                              missed.rename(columns={"source_id": "master_source_id"}), "master_source_id"))
    if image_kind == "tile":
        known = _known_new_sources(db, centre, radius)
        missed_new = known[~known["new_source_id"].isin(det["new_source_id"].dropna())]
        forced.append(_forced(image_path, pb_path, residual_path, missed_new, "new_source_id"))
    forced = [f for f in forced if not f.empty]
    table = pd.concat([det, *forced], ignore_index=True) if forced else det.reset_index(drop=True)
    table = table.assign(image_path=image_path, image_kind=image_kind, tile_id=tile_id, epoch_mjd=epoch,
                         master_version_id=version)
    columns = [c.name for c in SourceMeasurement.__table__.columns if c.name not in ("id", "created_at")]
    for c in columns:
        if c not in table:
            table[c] = None
    table = table[columns]
    records = table.astype(object).where(table.notna(), None).to_dict("records")
    for r in records:
        r["forced"] = bool(r["forced"])
        if r["new_source_id"] is not None:
            r["new_source_id"] = int(r["new_source_id"])
    with db.session() as s:
        s.execute(delete(SourceMeasurement).where(SourceMeasurement.image_path == image_path))
        if records:
            s.execute(insert(SourceMeasurement), records)
    touched = sorted({int(i) for i in table["new_source_id"].dropna()})
    refresh_new_sources(db, touched)
    if parquet_path is not None:
        parquet_path = Path(parquet_path)
        parquet_path.parent.mkdir(parents=True, exist_ok=True)
        tmp = parquet_path.with_name(f".{parquet_path.name}.partial")
        table.to_parquet(tmp, index=False)
        tmp.replace(parquet_path)
    return ImageSources(table, len(det), int(det["master_source_id"].notna().sum()), len(new_ids), n_known_new,
                        int(table["forced"].sum()), float(found.attrs["seconds"]), version, new_ids)


def refresh_new_sources(db, ids) -> None:
    """Recompute each new source's position and statistics from its detections."""
    from sqlalchemy import select

    from dsa110_resources.db import NewSource, SourceMeasurement

    if not ids:
        return
    with db.session() as s:
        for source in s.scalars(select(NewSource).where(NewSource.id.in_(list(ids)))):
            rows = s.execute(select(SourceMeasurement.ra_deg, SourceMeasurement.dec_deg,
                                    SourceMeasurement.ra_err_arcsec, SourceMeasurement.dec_err_arcsec,
                                    SourceMeasurement.epoch_mjd, SourceMeasurement.snr, SourceMeasurement.peak_jy,
                                    SourceMeasurement.image_path)
                             .where(SourceMeasurement.new_source_id == source.id, ~SourceMeasurement.forced)
                             .order_by(SourceMeasurement.epoch_mjd)).all()
            if not rows:
                continue
            t = pd.DataFrame(rows, columns=["ra", "dec", "era", "edec", "epoch", "snr", "peak", "image"])
            ra, dec, era, edec = weighted_position(t.ra, t.dec, t.era, t.edec)
            source.ra_deg, source.dec_deg, source.ra_err_arcsec, source.dec_err_arcsec = ra, dec, era, edec
            source.first_seen_mjd, source.first_image = float(t.epoch.iloc[0]), str(t.image.iloc[0])
            source.last_seen_mjd = float(t.epoch.iloc[-1])
            source.n_detections = len(t)
            source.max_snr = float(t.snr.max())
            source.peak_flux_jy = float(t.peak.max())
