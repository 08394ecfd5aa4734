"""The production layout, for real: separate processes on PostgreSQL and RabbitMQ.

A gRPC code server, a daemon and a webserver (both pointed at the code server
by deploy/workspace.yaml), the instance from deploy/dagster.postgres.yaml on a
fresh database, the products database on another, and two Celery workers,
each with its own tmpfs staging directory and the data tiers shared. A
GraphQL backfill carries two calibrator tiles (3C286 transits on consecutive
days) through the per-tile chain; one worker is killed with SIGKILL (with its
child processes) in the middle of an imaging step. The broker hands that step
to the other worker, both runs succeed, both workers ran steps, and every
product and database row is as it must be, with no half product anywhere.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from dagster import AssetKey, DagsterEventType, DagsterInstance, RunsFilter
from sqlalchemy import select

from deployment import NoBroker, calibrator_tiles, deployment as start_deployment, require_broker
from dsa110_resources.catalogs.calibrators import calibrator_catalog
from dsa110_resources.db import CalibrationApplication, CalibrationTable, ForcedPhotometry, Image, MeasurementSet, ProductsDB, Tile
from dsa110_resources.stores.tiers import OLD_PREFIX, PARTIAL_PREFIX, STAGING_PREFIX

pytestmark = [pytest.mark.e2e, pytest.mark.postgres, pytest.mark.casa, pytest.mark.slow]

TILE_ASSETS = ("subband_group", "measurement_set", "calibrated_ms", "image", "photometry")
TILE_CHECKS = ("ms_integrity", "ms_flag_fraction", "calibration_quality", "image_noise", "image_flux_scale",
               "image_dynamic_range")
#: Killed mid-step: the last long step (WSClean and the primary-beam products),
#: so the survivor has the least left to do alone.
KILL_STEP = "image"
BACKFILL = """mutation($params: LaunchBackfillParams!) { launchPartitionBackfill(backfillParams: $params) {
  __typename ... on LaunchBackfillSuccess { backfillId } ... on PythonError { message } } }"""
BACKFILL_STATUS = """query($id: String!) { partitionBackfillOrError(backfillId: $id) {
  ... on PartitionBackfill { status partitionStatusCounts { runStatus count } } } }"""


@pytest.fixture
def deployment(tmp_path, postgres_databases, monkeypatch):
    try:
        require_broker()
    except NoBroker as exc:
        pytest.skip(str(exc))
    instance_url, products_url = postgres_databases(), postgres_databases()
    data = tmp_path / "data"
    catalog = tmp_path / "calibrators.csv"
    calibrator_catalog(["3C286"]).write_csv(catalog)
    tiles = calibrator_tiles(data / "incoming")
    with start_deployment(tmp_path / "dagster_home", data, instance_url, products_url, catalog) as deployed:
        monkeypatch.setenv("DAGSTER_PG_URL", instance_url)  # the test's own view of the instance
        with DagsterInstance.from_config(str(deployed.dagster.home)) as instance:
            yield deployed.dagster, instance, deployed.workers, data, deployed.staging, tiles, ProductsDB(products_url)


def celery_dispatches(instance, run_id: str) -> list[tuple[str, str]]:
    """(step key, worker hostname) of each step a Celery worker took, in order."""
    dispatches = []
    for record in instance.all_logs(run_id, of_type=DagsterEventType.ENGINE_EVENT):
        event = record.dagster_event
        worker = event.engine_event_data.metadata.get("Celery worker")
        if worker is not None:
            dispatches.append((event.step_key, worker.value))
    return dispatches


@pytest.mark.timeout(1800)  # several minutes on a loaded 2-core machine
def test_backfill_over_two_workers_survives_a_killed_worker(deployment):
    dagster, instance, workers, data, shm, tiles, db = deployment
    launched = dagster.graphql(BACKFILL, {"params": {
        "partitionNames": sorted(tiles), "assetSelection": [{"path": [a]} for a in TILE_ASSETS],
    }})["launchPartitionBackfill"]
    assert launched["__typename"] == "LaunchBackfillSuccess", launched
    backfill = RunsFilter(tags={"dagster/backfill": launched["backfillId"]})

    def kill_step_started():
        for run in instance.get_runs(backfill):
            for step, host in celery_dispatches(instance, run.run_id):
                if step == KILL_STEP:
                    return run.run_id, host
        return None

    killed_run, victim_host = dagster.wait_for(kill_step_started, 900, f"a worker starting {KILL_STEP}",
                                               interval=0.5, alive=dagster.services)
    time.sleep(3)  # well inside the step (tens of seconds here)
    victim = next(name for name in workers if f"-{name}@" in victim_host)
    workers[victim].kill()  # SIGKILL to the worker and its CASA children: a lost machine
    workers[victim].process.wait()

    def backfill_done():
        info = dagster.graphql(BACKFILL_STATUS, {"id": launched["backfillId"]})["partitionBackfillOrError"]
        return info if info["status"] in ("COMPLETED", "FAILED", "CANCELED", "COMPLETED_SUCCESS",
                                          "COMPLETED_FAILED") else None

    survivor = next(name for name in workers if name != victim)
    info = dagster.wait_for(backfill_done, 900, "the backfill to finish",
                            alive=[s for s in dagster.services if s is not workers[victim]])
    assert info["status"] in ("COMPLETED", "COMPLETED_SUCCESS"), (info, dagster.log_tail())

    runs = instance.get_runs(backfill)
    assert len(runs) == len(tiles) and all(r.is_success for r in runs), [(r.run_id, r.status) for r in runs]
    for run in runs:
        types = [r.dagster_event.event_type for r in instance.all_logs(run.run_id) if r.is_dagster_event]
        assert DagsterEventType.RUN_ENQUEUED in types  # through the queued run coordinator
        started = {r.dagster_event.step_key for r in instance.all_logs(run.run_id, of_type=DagsterEventType.STEP_START)}
        succeeded = [r.dagster_event.step_key for r in instance.all_logs(run.run_id, of_type=DagsterEventType.STEP_SUCCESS)]
        assert sorted(succeeded) == sorted(started) and set(TILE_ASSETS) <= started  # every step once
        checks = {r.dagster_event.event_specific_data.check_name: r.dagster_event.event_specific_data.passed
                  for r in instance.all_logs(run.run_id, of_type=DagsterEventType.ASSET_CHECK_EVALUATION)}
        assert checks == {name: True for name in TILE_CHECKS}, checks
    for asset in TILE_ASSETS:
        assert set(tiles) <= instance.get_materialized_partitions(AssetKey(asset)), asset

    # Every step ran in a worker process (the pid in its events; the thread
    # pool runs steps in the worker's own process) and both workers finished
    # steps. The killed step started on the victim and finished on the
    # survivor, once.
    worker_of_pid = {service.pid: name for name, service in workers.items()}
    finished_on = {}
    for run in runs:
        for record in instance.all_logs(run.run_id, of_type=DagsterEventType.STEP_SUCCESS):
            step, pid = record.dagster_event.step_key, record.dagster_event.pid
            assert pid in worker_of_pid, f"{step} ran in pid {pid}, not in a worker"
            finished_on.setdefault(step, set()).add(worker_of_pid[pid])
    assert set().union(*finished_on.values()) == set(workers), finished_on
    killed_step_hosts = [host for step, host in celery_dispatches(instance, killed_run) if step == KILL_STEP]
    assert [next(n for n in workers if f"-{n}@" in h) for h in killed_step_hosts] == [victim, survivor], \
        killed_step_hosts
    assert not workers[victim].running() and workers[survivor].running()

    # Staging stayed on each worker's own tmpfs (the MS skeleton cache lives
    # there); the run workers only orchestrated.
    converted_by = finished_on["measurement_set"]
    for name in workers:
        assert (shm / name / ".ms-templates").is_dir() == (name in converted_by), name
    assert not (shm / "orchestrator").exists()

    # Every product and database row, and no half product in the product tree.
    flux_3c286 = calibrator_catalog(["3C286"]).flux_jy[0]
    with db.session() as s:
        for window, tile_id in tiles.items():
            tile = s.get(Tile, tile_id)
            assert (tile.status, tile.partition_key, tile.calibrator) == ("converted", window, "3C286")
            ms = s.scalars(select(MeasurementSet).where(MeasurementSet.tile_id == tile_id)).one()
            day = window[:10]
            assert ms.path == str(data / "ms" / "calibrators" / day / f"{tile_id}.ms")
            assert (Path(ms.path) / "table.dat").exists()
            tables = s.scalars(select(CalibrationTable).where(CalibrationTable.source_tile_id == tile_id)).all()
            caltypes = [t.caltype for t in tables]
            assert {"B", "G"} <= set(caltypes) and len(caltypes) == len(set(caltypes)), caltypes
            assert all(Path(t.path).exists() for t in tables)
            applied = s.scalars(select(CalibrationApplication).where(CalibrationApplication.ms_path == ms.path)).all()
            assert {a.caltable.source_tile_id for a in applied} == {tile_id}  # its own solutions only
            images = {i.kind: i.path for i in s.scalars(select(Image).where(Image.tile_id == tile_id))}
            assert {"image", "pbcor", "pb", "residual"} <= set(images)
            assert all(Path(p).exists() for p in images.values())
            measured = s.scalars(select(ForcedPhotometry).where(ForcedPhotometry.tile_id == tile_id,
                                                                ForcedPhotometry.band == "full")).one()
            bands = s.scalars(select(ForcedPhotometry.band).where(ForcedPhotometry.tile_id == tile_id)).all()
            assert sorted(bands) == ["full", "sb0", "sb1", "sb2", "sb3"]  # four subband files: four sub-bands
            assert measured.source_id == "3C286" and abs(measured.flux_jy / flux_3c286 - 1) < 0.1, measured.flux_jy
    litter = [p for p in data.rglob("*") if p.name.startswith((STAGING_PREFIX, PARTIAL_PREFIX, OLD_PREFIX))
              and p.relative_to(data).parts[0] != "staging"]
    assert litter == []
    for window, tile_id in tiles.items():
        assert [p.name for p in (data / "ms" / "calibrators" / window[:10]).iterdir()] == [f"{tile_id}.ms"]
