"""The daily light-curve / ESE assets on forced photometry simulated with known truth."""

import datetime as dt

import numpy as np
from dagster import DagsterEventType, DagsterInstance, Definitions
from sqlalchemy import func, select

from dsa110_assets.photometry import daily_variability, normalisation_references, science_daily_job
from dsa110_resources.db import ESECandidate, FluxCorrection, ForcedPhotometry, ProductsDB, VariabilityMetric
from dsa110_resources.db.resource import ProductsDBResource
from dsa110_resources.db.session import sqlite_url
from dsa110_resources.photometry.injection import SimulationSpec, simulate_light_curves
from dsa110_resources.stores.resource import StorageResource

START_MJD = 60950.0  # 2025-10-04


def test_daily_job_recovers_injected_eses(tmp_path):
    spec = SimulationSpec(n_epochs=60, start_mjd=START_MJD, n_references=30, n_steady=400, n_ese=20)
    sim = simulate_light_curves(spec, seed=11)
    url = sqlite_url(tmp_path / "products.sqlite")
    db = ProductsDB(url)
    with db.session() as s:
        for i, source_id in enumerate(sim.source_ids):
            for e, mjd in enumerate(sim.epoch_mjd):
                if np.isfinite(sim.flux[i, e]):
                    s.add(ForcedPhotometry(
                        image_path=f"/images/{e}.fits", source_id=str(source_id), band="full",
                        epoch_mjd=float(mjd), ra_deg=0.0, dec_deg=0.0,
                        flux_jy=float(sim.flux[i, e]), flux_err_jy=float(sim.err[i, e]),
                    ))
    last_day = (dt.datetime(1858, 11, 17) + dt.timedelta(days=float(sim.epoch_mjd[-1]))).strftime("%Y-%m-%d")
    definitions = Definitions(
        assets=[daily_variability], asset_checks=[normalisation_references], jobs=[science_daily_job],
        resources={"storage": StorageResource(data_root=str(tmp_path / "data"), fast_root=None),
                   "products_db": ProductsDBResource(url=url)},
    )
    result = definitions.resolve_job_def("science_daily_job").execute_in_process(
        partition_key=last_day, instance=DagsterInstance.ephemeral(), raise_on_error=False
    )
    assert result.success
    keys = {e.asset_key.to_user_string() for e in result.all_events
            if e.event_type == DagsterEventType.ASSET_MATERIALIZATION}
    assert keys == {"lightcurves", "ese_candidates"}

    truth = sim.truth
    injected = set(truth.index[truth["kind"] == "ese"].astype(str))
    steady = set(truth.index[truth["kind"] != "ese"].astype(str))
    with db.session() as s:
        flagged = set(s.scalars(select(ESECandidate.source_id).where(ESECandidate.day == last_day)))
        assert s.scalar(select(func.count()).select_from(VariabilityMetric)) == len(sim.source_ids)
        assert s.scalar(select(func.count()).select_from(FluxCorrection)) == spec.n_epochs
        plots = list(s.scalars(select(ESECandidate.plot_path)))
    assert len(flagged & injected) >= 0.9 * len(injected)
    assert len(flagged & steady) <= 2
    assert plots and all((tmp_path / "data").joinpath(p).exists() or p.startswith("/") for p in plots)
    assert (tmp_path / "data" / "photometry" / "daily" / f"{last_day}.lightcurves.parquet").exists()


def test_day_without_photometry_is_no_data(tmp_path):
    url = sqlite_url(tmp_path / "products.sqlite")
    definitions = Definitions(
        assets=[daily_variability], jobs=[science_daily_job],
        resources={"storage": StorageResource(data_root=str(tmp_path / "data"), fast_root=None),
                   "products_db": ProductsDBResource(url=url)},
    )
    result = definitions.resolve_job_def("science_daily_job").execute_in_process(
        partition_key="2025-10-05", instance=DagsterInstance.ephemeral()
    )
    assert result.success
    assert not [e for e in result.all_events if e.event_type == DagsterEventType.ASSET_MATERIALIZATION]
    observed = [e for e in result.all_events if e.event_type == DagsterEventType.ASSET_OBSERVATION]
    assert len(observed) == 2
