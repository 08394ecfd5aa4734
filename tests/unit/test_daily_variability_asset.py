"""The daily light-curve / ESE assets on per-tile forced photometry sampled as the array samples.

The products DB is filled with a drift-scan simulation's tile measurements
(truth from its inputs); the daily job runs for two days in a row, and the
scientist's commands read what it stored.
"""

import datetime as dt

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner
from dagster import DagsterEventType, DagsterInstance, Definitions
from astropy.io import fits
from astropy.wcs import WCS
from sqlalchemy import func, insert, select, update

from dsa110_assets.photometry import daily_variability, normalisation_references, science_daily_job
from dsa110_resources.catalogs.resource import SkyCatalogResource
from dsa110_resources.cli import main
from dsa110_resources.db import ESECandidate, FluxCorrection, ForcedPhotometry, ProductsDB, TransitFlux
from dsa110_resources.db.resource import ProductsDBResource
from dsa110_resources.db.session import sqlite_url
from dsa110_resources.photometry.daily import TILE_WINDOW_DAYS, analyse_drift_scan
from dsa110_resources.photometry.drift_simulation import DriftSurveySpec, simulate_drift_survey
from dsa110_resources.photometry.references import eligible_references
from dsa110_resources.photometry.store import read_measurements, write_daily
from dsa110_resources.stores.resource import StorageResource

SPEC = DriftSurveySpec(n_sources=500, n_days=40, ra_range_deg=(150.0, 162.0), ese_fraction=0.03,
                       ese_duration_days=(10.0, 14.0))


def _day(mjd: float) -> str:
    return (dt.datetime(1858, 11, 17) + dt.timedelta(days=float(mjd))).strftime("%Y-%m-%d")


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("daily")
    sim = simulate_drift_survey(SPEC, seed=5)
    url = sqlite_url(tmp / "products.sqlite")
    db = ProductsDB(url)
    m = sim.measurements
    with db.session() as s:
        s.execute(insert(ForcedPhotometry), [
            {"image_path": f"/images/{r.tile_id}.image.fits", "tile_id": r.tile_id, "source_id": r.source_id,
             "band": r.band, "epoch_mjd": r.epoch_mjd, "ra_deg": r.ra_deg, "dec_deg": r.dec_deg,
             "flux_jy": r.flux_jy, "flux_err_jy": r.flux_err_jy, "pb_gain": r.pb_gain, "blended": False,
             "edge": False, "created_at": dt.datetime.now(dt.UTC)}
            for r in m.itertuples()
        ])
    definitions = Definitions(
        assets=[daily_variability], asset_checks=[normalisation_references], jobs=[science_daily_job],
        resources={"storage": StorageResource(data_root=str(tmp / "data"), fast_root=None),
                   "products_db": ProductsDBResource(url=url), "sky_catalog": SkyCatalogResource(path=None)},
    )
    last = _day(m["epoch_mjd"].max())
    before = _day(m["epoch_mjd"].max() - 1)
    # the days before the tile window, as their own daily runs left them (the same science path,
    # without Dagster): the job normalises 30 days of tiles and searches these transits too
    eligible = eligible_references(sim.catalog)
    end = np.floor(m["epoch_mjd"].max()) + 1
    for day_mjd in range(int(m["epoch_mjd"].min()) + 1, int(end - TILE_WINDOW_DAYS)):
        table = read_measurements(db, until_mjd=day_mjd + 1, since_mjd=day_mjd + 1 - TILE_WINDOW_DAYS)
        write_daily(db, _day(day_mjd), analyse_drift_scan(table, eligible), table, threshold=5.5)
    results = {}
    instance = DagsterInstance.ephemeral()
    for day in (before, last, last):  # two days, and a rerun of the last
        results[day] = definitions.resolve_job_def("science_daily_job").execute_in_process(
            partition_key=day, instance=instance, raise_on_error=False)
    return sim, db, url, tmp, last, before, results


def test_daily_job_stores_per_tile_corrections_transits_and_candidates(run):
    sim, db, _, tmp, last, before, results = run
    for day, result in results.items():
        assert result.success, day
        keys = {e.asset_key.to_user_string() for e in result.all_events
                if e.event_type == DagsterEventType.ASSET_MATERIALIZATION}
        assert keys == {"lightcurves", "ese_candidates"}
        checks = [e for e in result.all_events if e.event_type == DagsterEventType.ASSET_CHECK_EVALUATION]
        assert checks and all(c.event_specific_data.passed for c in checks)
    start = pd.Timestamp(last).to_julian_date() - 2400000.5
    m = sim.measurements
    tiles_today = m.loc[(m["epoch_mjd"] >= start) & (m["epoch_mjd"] < start + 1), "tile_id"].unique()
    with db.session() as s:
        corr = pd.DataFrame(s.execute(select(FluxCorrection.tile_id, FluxCorrection.correction,
                                             FluxCorrection.day)).all(), columns=["tile_id", "correction", "day"])
        n_transits = s.scalar(select(func.count()).select_from(TransitFlux).where(TransitFlux.day == last))
        normalised_today = s.scalar(select(func.count()).select_from(ForcedPhotometry).where(
            ForcedPhotometry.epoch_mjd >= start, ForcedPhotometry.norm_flux_jy.is_not(None)))
        flagged = set(s.scalars(select(ESECandidate.source_id).where(ESECandidate.day == last)))
        plots = list(s.scalars(select(ESECandidate.plot_path).where(ESECandidate.day == last)))
    # one row per tile of each day (the rerun replaced, not doubled), tracking the injected scale
    assert {last, before} <= set(corr["day"])
    mine = corr[corr["day"] == last]
    assert mine["tile_id"].is_unique and len(mine) >= 0.8 * len(tiles_today)
    assert set(mine["tile_id"]) <= set(tiles_today)
    ratio = mine["correction"].to_numpy() / sim.tile_scale.reindex(mine["tile_id"]).to_numpy()
    assert np.std(ratio / np.median(ratio)) < 0.01
    assert n_transits >= 0.8 * m.loc[m["epoch_mjd"] >= start, "source_id"].nunique()
    assert normalised_today >= 0.8 * ((m["epoch_mjd"] >= start).sum())
    truth = sim.truth
    ese = set(truth.index[(truth["kind"] == "ese") & (truth["mean_flux_jy"] >= 0.02)])
    assert len(ese) >= 5 and len(flagged & ese) >= 0.8 * len(ese)
    assert len(flagged - set(truth.index[truth["kind"] == "ese"])) <= 1
    assert plots and all(p and (tmp / "data").joinpath(p).exists() for p in plots)
    lc = [e for e in results[last].all_events if e.event_type == DagsterEventType.ASSET_MATERIALIZATION
          and e.asset_key.to_user_string() == "lightcurves"][0]
    # 30 days of tiles normalised afresh, the 10 before from the transits their own runs stored
    assert lc.event_specific_data.materialization.metadata["n_days"].value == SPEC.n_days
    ui = [e for e in results[last].all_events if e.event_type == DagsterEventType.ASSET_MATERIALIZATION
          and e.asset_key.to_user_string() == "ese_candidates"][0]
    shown = [k for k in ui.event_specific_data.materialization.metadata if k.startswith("lightcurve ")]
    assert len(shown) == min(len(plots), 20)
    assert (tmp / "data" / "photometry" / "daily" / f"{last}.lightcurves.parquet").exists()


def test_scientist_commands_read_the_database(run):
    sim, db, url, tmp, last, _, _ = run
    runner = CliRunner()
    with db.session() as s:
        top = s.scalar(select(ESECandidate.source_id).where(ESECandidate.day == last, ESECandidate.rank == 1))
    listed = runner.invoke(main, ["candidates", "--db-url", url])
    assert listed.exit_code == 0, listed.output
    assert f"stored for {last}" in listed.output and top in listed.output
    fresh = runner.invoke(main, ["candidates", "--search", "--db-url", url, "--top", "2", "--plots", str(tmp / "p"),
                                 "--output", str(tmp / "ranked.parquet")])
    assert fresh.exit_code == 0, fresh.output
    assert "tiles normalised" in fresh.output and len(list((tmp / "p").glob("ese_*.png"))) == 2
    assert top in set(pd.read_parquet(tmp / "ranked.parquet")["source_id"])
    png = tmp / "top.png"
    lc = runner.invoke(main, ["lightcurve", top, "--db-url", url, "--tiles", "--plot", str(png)])
    assert lc.exit_code == 0, lc.output
    assert "per transit (normalised):" in lc.output and "per tile:" in lc.output
    assert png.stat().st_size > 1000
    missing = runner.invoke(main, ["lightcurve", "NOPE", "--db-url", url])
    assert missing.exit_code != 0 and "no measurements" in missing.output
    # a cone around the candidate finds it, and its export holds every tile measurement of it
    ra, dec = sim.catalog.set_index("source_id").loc[top, ["ra_deg", "dec_deg"]]
    out = tmp / "cone.csv"
    cone = runner.invoke(main, ["cone", str(ra + 0.001), str(dec), "--radius", "20", "--db-url", url,
                                "--export", str(out)])
    assert cone.exit_code == 0, cone.output
    exported = pd.read_csv(out)
    assert top in set(exported["source_id"])
    assert (exported["source_id"] == top).sum() == (sim.measurements["source_id"] == top).sum()
    # one of its tiles' images on disk: its cut-out is centred on the source; the others are gone
    tile = exported.loc[exported["source_id"] == top, "tile_id"].iloc[0]
    image = _write_image(tmp / "tile.image.fits", ra, dec)
    with db.session() as s:
        s.execute(update(ForcedPhotometry).where(ForcedPhotometry.tile_id == tile).values(image_path=str(image)))
    cut = runner.invoke(main, ["cone", str(ra), str(dec), "--radius", "20", "--db-url", url,
                               "--export", str(tmp / "cone.parquet"), "--cutouts", str(tmp / "cutouts")])
    assert cut.exit_code == 0, cut.output
    rows = pd.read_parquet(tmp / "cone.parquet")
    made = rows[rows["cutout_path"].notna()]
    assert set(made["tile_id"]) == {tile}
    with fits.open(made[made["source_id"] == top]["cutout_path"].iloc[0]) as hdul:
        stamp, header = hdul[0].data, hdul[0].header
    assert stamp.shape == (240, 240) and header["BMAJ"] == pytest.approx(59 / 3600)
    peak = np.unravel_index(np.nanargmax(stamp), stamp.shape)
    assert abs(peak[0] - 119.5) <= 1 and abs(peak[1] - 119.5) <= 1
    bad = runner.invoke(main, ["cone", str(ra), str(dec), "--radius", "1e6", "--db-url", url])
    assert bad.exit_code != 0 and "radius" in bad.output


def _write_image(path, ra, dec, n=600):
    """A 3"-pixel SIN image with one point source at (ra, dec) in its centre."""
    w = WCS(naxis=2)
    w.wcs.ctype = ["RA---SIN", "DEC--SIN"]
    w.wcs.crval = [ra, dec]
    w.wcs.crpix = [n / 2 + 0.5, n / 2 + 0.5]
    w.wcs.cdelt = [-3 / 3600, 3 / 3600]
    yy, xx = np.mgrid[:n, :n] - (n - 1) / 2
    data = np.exp(-0.5 * (xx**2 + yy**2) / 4.0).astype(np.float32)[None, None]
    header = w.to_header()
    header["BMAJ"], header["BMIN"], header["BPA"] = 59 / 3600, 18 / 3600, 0.0
    fits.PrimaryHDU(data, header).writeto(path)
    return path


def test_day_without_photometry_is_no_data(tmp_path):
    url = sqlite_url(tmp_path / "products.sqlite")
    definitions = Definitions(
        assets=[daily_variability], jobs=[science_daily_job],
        resources={"storage": StorageResource(data_root=str(tmp_path / "data"), fast_root=None),
                   "products_db": ProductsDBResource(url=url), "sky_catalog": SkyCatalogResource(path=None)},
    )
    result = definitions.resolve_job_def("science_daily_job").execute_in_process(
        partition_key="2025-10-05", instance=DagsterInstance.ephemeral()
    )
    assert result.success
    assert not [e for e in result.all_events if e.event_type == DagsterEventType.ASSET_MATERIALIZATION]
    observed = [e for e in result.all_events if e.event_type == DagsterEventType.ASSET_OBSERVATION]
    assert len(observed) == 2
