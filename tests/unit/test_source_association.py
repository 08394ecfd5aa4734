"""Association, forced photometry of non-detections and new sources, through the Dagster assets.

Three daily visits of one field (simulated tiles: drift-scan primary beam,
correlated noise) hold: catalog sources bright enough to detect, catalog
sources too faint to detect, a persistent source missing from the catalog,
and a transient that appears on the third day. The truth is the list each
was made from.
"""

from __future__ import annotations

import datetime as dt

import astropy.units as u
import numpy as np
import pandas as pd
import pytest
from astropy.coordinates import SkyCoord
from astropy.time import Time
from dagster import DagsterInstance, materialize
from sqlalchemy import select

from dsa110_assets.sources import master_catalog, new_sources, sources, sources_catalog_recovery
from dsa110_resources import constants as C
from dsa110_resources.catalogs.resource import MasterCatalogResource
from dsa110_resources.db import Image, MeasurementSet, NewSource, ProductsDB, SourceMeasurement, Tile
from dsa110_resources.db.resource import ProductsDBResource
from dsa110_resources.db.session import sqlite_url
from dsa110_resources.imaging.primary_beam import DriftScanBeam
from dsa110_resources.mosaic.synthetic import write_tile
from dsa110_resources.sources.association import de_ruiter
from dsa110_resources.sources.injection import TILE_BEAM, TILE_CELL, TILE_NOISE
from dsa110_resources.stores.resource import StorageResource

pytest.importorskip("bdsf")

POINTING = SkyCoord(150 * u.deg, 40 * u.deg)
STARTS = ["2025-10-13T13:25:07", "2025-10-14T13:21:11", "2025-10-15T13:17:15"]
SIZE = 720
SIGMA = TILE_NOISE.to_value(u.Jy)


def _offsets(dx, dy):
    return SkyCoord(np.asarray(dx) * u.deg, np.asarray(dy) * u.deg, frame=POINTING.skyoffset_frame()).icrs


@pytest.fixture(scope="module")
def field(tmp_path_factory):
    root = tmp_path_factory.mktemp("field")
    rng = np.random.default_rng(5)
    grid = np.linspace(-0.6, 0.6, 6)
    gx, gy = np.meshgrid(grid, grid)
    coords = _offsets(gx.ravel(), gy.ravel())
    bright, faint = np.arange(0, 36, 2), np.arange(1, 36, 2)  # alternate: no two bright ones adjacent
    persistent = _offsets([0.0], [0.0])  # midway between grid points
    transient = _offsets([0.24], [-0.24])
    t0 = Time(STARTS[0], scale="utc")
    drift = DriftScanBeam(POINTING, t0 + C.TILE_DURATION / 2, t0, t0 + C.TILE_DURATION,
                          np.linspace(C.BAND_LOW, C.BAND_HIGH, 16))
    snr = np.where(np.isin(np.arange(36), bright), 30.0, 1.5)
    flux = snr * SIGMA / drift.response(coords)
    p_flux = 15 * SIGMA / drift.response(persistent)
    t_flux = 30 * SIGMA / drift.response(transient)
    # The catalog: positions off by ~1" (its errors 2"), NVSS-style CSV.
    cat_pos = coords.spherical_offsets_by(rng.normal(0, 1, 36) * u.arcsec, rng.normal(0, 1, 36) * u.arcsec)
    names = [f"NVSS {i:02d}" for i in range(36)]
    nvss = root / "nvss.csv"
    pd.DataFrame({"name": names, "ra_deg": cat_pos.ra.deg, "dec_deg": cat_pos.dec.deg, "flux_jy": flux,
                  "ra_err_arcsec": 2.0, "dec_err_arcsec": 2.0, "major_arcsec": 5.0}).to_csv(nvss, index=False)
    url = sqlite_url(root / "products.sqlite")
    db = ProductsDB(url)
    tiles = []
    for k, start in enumerate(STARTS):
        t = Time(start, scale="utc")
        srcs, fl = [coords, persistent], [flux, p_flux]
        if k == 2:
            srcs.append(transient)
            fl.append(t_flux)
        all_c = SkyCoord(np.concatenate([c.ra.deg for c in srcs]) * u.deg,
                         np.concatenate([c.dec.deg for c in srcs]) * u.deg)
        tile = write_tile(root / "images", start, t, POINTING, (SIZE, SIZE), TILE_CELL, TILE_BEAM, TILE_NOISE,
                          all_c, np.concatenate(fl) * u.Jy, rng, with_pbcor=False)
        tiles.append(tile)
        group_time = t.to_datetime(timezone=dt.UTC)
        key = group_time.strftime("%Y-%m-%dT%H:") + f"{group_time.minute // 5 * 5:02d}"
        with db.session() as s:
            s.add(Tile(tile_id=start, group_time=group_time, partition_key=key, status="converted"))
            s.add(MeasurementSet(tile_id=start, path=f"/ms/{start}.ms", kind="science", mid_time=group_time,
                                 ra_deg=POINTING.ra.deg, dec_deg=POINTING.dec.deg))
            for kind in ("image", "pb", "residual"):
                s.add(Image(tile_id=start, path=f"{tile.prefix}.{kind}.fits", kind=kind))
    resources = {
        "storage": StorageResource(data_root=str(root / "data"), fast_root=None),
        "products_db": ProductsDBResource(url=url),
        "master_catalog_files": MasterCatalogResource(nvss_path=str(nvss)),
    }
    instance = DagsterInstance.ephemeral()
    first = materialize([master_catalog], resources=resources, instance=instance)
    again = materialize([master_catalog], resources=resources, instance=instance)
    keys = []
    for tile in tiles:
        t = tile.start.to_datetime(timezone=dt.UTC)
        keys.append(t.strftime("%Y-%m-%dT%H:") + f"{t.minute // 5 * 5:02d}")
        run = materialize([sources, sources_catalog_recovery], partition_key=keys[-1], resources=resources,
                          instance=instance)
        assert run.success
        [check] = run.get_asset_check_evaluations()
        # the 18 bright catalog sources (30 sigma) are all expected and all found; the faint ones not expected
        assert check.passed and check.metadata["expected"].value == 18 and check.metadata["detected"].value == 18
    daily = materialize([new_sources], partition_key="2025-10-15", resources=resources, instance=instance)
    return dict(root=root, db=db, tiles=tiles, coords=coords, cat_names=names, bright=bright, faint=faint,
                flux=flux, persistent=persistent, transient=transient, catalog_runs=(first, again), daily=daily,
                t_flux=float(t_flux[0]))


def _metadata(result, key):
    mats = result.asset_materializations_for_node(key)
    return mats[0].metadata if mats else {}


def test_de_ruiter_radius_by_hand():
    # 3" east and 4" north at dec 0 with 1" errors on both: sqrt(9/2 + 16/2) = 3.54
    r = de_ruiter(0.0, 0.0, 1.0, 1.0, 3 / 3600, 4 / 3600, 1.0, 1.0)
    assert float(r) == pytest.approx(np.sqrt(12.5), rel=1e-9)


def test_catalog_asset_versions_only_on_change(field):
    first, again = field["catalog_runs"]
    assert _metadata(first, "master_catalog")["version"].value == 1
    assert _metadata(again, "master_catalog")["outcome"].value.startswith("inputs and parameters unchanged")


def test_detections_associate_with_their_catalog_source(field):
    db = field["db"]
    with db.session() as s:
        rows = pd.DataFrame(s.execute(select(SourceMeasurement.tile_id, SourceMeasurement.master_source_id,
                                             SourceMeasurement.forced, SourceMeasurement.ra_deg,
                                             SourceMeasurement.dec_deg, SourceMeasurement.flux_jy,
                                             SourceMeasurement.flux_err_jy)).all(),
                            columns=["tile", "master", "forced", "ra", "dec", "flux", "err"])
    names = np.array(field["cat_names"])
    for tile in STARTS:
        det = rows[(rows.tile == tile) & ~rows.forced]
        # Which injected source each detection really is, by position (truth, not the catalog).
        c = SkyCoord(det.ra.to_numpy() * u.deg, det.dec.to_numpy() * u.deg)
        idx, sep, _ = c.match_to_catalog_sky(field["coords"])
        truly = np.where(sep < 30 * u.arcsec, names[idx], None)
        got = det.master.to_numpy()
        associated = pd.notna(got)
        assert set(names[field["bright"]]) <= set(got[associated])  # every bright source found and associated
        wrong = [(g, t) for g, t, a in zip(got, truly, associated) if a and g != t]
        assert not wrong
    # Faint catalog sources: a forced flux at every epoch, consistent with the truth.
    forced = rows[rows.forced & rows.master.isin(names[field["faint"]])]
    assert forced.groupby("master").size().eq(3).all() and forced.master.nunique() == len(field["faint"])
    truth = pd.Series(field["flux"], index=names)
    pulls = (forced.flux - truth.reindex(forced.master).to_numpy()) / forced.err
    assert abs(np.median(pulls)) < 0.5 and np.std(pulls) < 1.6


def test_new_sources_and_ranked_daily_list(field):
    db = field["db"]
    with db.session() as s:
        found = {r.name: r for r in s.scalars(select(NewSource))}
    assert len(found) <= 3  # the two real ones, and at most one noise peak
    coords = SkyCoord([r.ra_deg for r in found.values()] * u.deg, [r.dec_deg for r in found.values()] * u.deg)
    by_pos = {}
    for label in ("persistent", "transient"):
        sep = coords.separation(field[label][0])
        assert sep.min() < 10 * u.arcsec, label
        by_pos[label] = list(found.values())[int(np.argmin(sep))]
    p, t = by_pos["persistent"], by_pos["transient"]
    mjd = [Time(x, scale="utc").mjd for x in STARTS]
    assert p.n_detections == 3 and p.first_seen_mjd == pytest.approx(mjd[0], abs=1e-6)
    assert t.n_detections == 1 and t.first_seen_mjd == pytest.approx(mjd[2], abs=1e-6)
    assert t.peak_flux_jy == pytest.approx(field["t_flux"], rel=0.15)
    # The daily list for day 3: the transient first, judged against the two earlier visits.
    ranked = pd.read_parquet(field["root"] / "data" / "sources" / "daily" / "2025-10-15.new_sources.parquet")
    top = ranked.iloc[0]
    assert top["name"] == t.name and top["n_prior_images"] == 2
    assert 15 < top["new_sigma"] < 40
    assert p.name not in set(ranked["name"])  # first seen on day 1, not new on day 3
    with db.session() as s:
        before = s.execute(select(SourceMeasurement.flux_jy, SourceMeasurement.flux_err_jy)
                           .where(SourceMeasurement.new_source_id == t.id, SourceMeasurement.forced)).all()
    assert len(before) == 2 and all(abs(f) < 4 * e for f, e in before)  # nothing there before
    meta = _metadata(field["daily"], "new_sources")
    assert f"cutout {t.name}" in meta and meta[f"cutout {t.name}"].value.startswith("![")
    assert (field["root"] / "data" / "qa" / "2025-10-15" / "new_sources").is_dir()
    tile_parquet = field["root"] / "data" / "sources" / "tiles" / "2025-10-15" / f"{STARTS[2]}.sources.parquet"
    assert len(pd.read_parquet(tile_parquet)) > len(field["bright"])


def _small_field(tmp_path, db):
    """A 300^2 tile with two catalog sources, one bright source the catalog lacks and one faint one."""
    from dsa110_resources.catalogs.master import CatalogInput, build_master_catalog, store_master_catalog

    coords = _offsets([-0.15, 0.15, 0.0, 0.15], [0.0, 0.1, -0.15, -0.15])
    t = Time(STARTS[0], scale="utc")
    gain = DriftScanBeam(POINTING, t + C.TILE_DURATION / 2, t, t + C.TILE_DURATION,
                         np.linspace(C.BAND_LOW, C.BAND_HIGH, 16)).response(coords)
    flux = np.array([40, 25, 20, 5.5]) * SIGMA / gain
    tile = write_tile(tmp_path, STARTS[0], t, POINTING, (300, 300), TILE_CELL, TILE_BEAM, TILE_NOISE, coords,
                      flux * u.Jy, np.random.default_rng(1), with_pbcor=False)
    nvss = tmp_path / "nvss.tsv"
    pd.DataFrame({"NVSS": ["A", "B"], "RAJ2000": coords.ra.deg[:2], "DEJ2000": coords.dec.deg[:2],
                  "S1.4": flux[:2] * 1e3}).to_csv(nvss, sep="\t", index=False)
    store_master_catalog(db, build_master_catalog(CatalogInput("nvss", nvss)))
    return tile


def _measure_twice(tmp_path, db):
    from sqlalchemy import func

    from dsa110_resources.sources.measure import measure_image

    tile = _small_field(tmp_path, db)
    kwargs = dict(pb_path=f"{tile.prefix}.pb.fits", residual_path=f"{tile.prefix}.residual.fits",
                  tile_id=STARTS[0], parquet_path=tmp_path / "s.parquet")
    first = measure_image(db, f"{tile.prefix}.image.fits", **kwargs)
    second = measure_image(db, f"{tile.prefix}.image.fits", **kwargs)  # a re-run replaces, never adds
    assert (first.n_catalog, first.n_new) == (2, 1) and second.n_new == 0 and second.n_known_new == 1
    with db.session() as s:
        assert s.scalar(select(func.count()).select_from(NewSource)) == 1
        rows = s.execute(select(SourceMeasurement.master_source_id, SourceMeasurement.new_source_id)
                         .where(~SourceMeasurement.forced)).all()
        new = s.scalars(select(NewSource)).one()
    # The faint one (5.5 sigma; its noise here lifts it to ~6.6) is detected but starts no new source.
    assert sorted(r[0] for r in rows if r[0]) == ["A", "B"] and len(rows) == 4
    assert sum(r[0] is None and r[1] is None for r in rows) == 1
    assert new.n_detections == 1 and new.first_seen_mjd == pytest.approx(Time(STARTS[0]).mjd)


def test_measuring_an_image_again_replaces_its_rows_sqlite(tmp_path):
    _measure_twice(tmp_path, ProductsDB(sqlite_url(tmp_path / "p.sqlite")))


@pytest.mark.postgres
def test_measuring_an_image_again_replaces_its_rows_postgres(tmp_path, postgres_url):
    db = ProductsDB(postgres_url)
    try:
        _measure_twice(tmp_path, db)
    finally:
        db.dispose()
