"""Throughput with 1 and 2 Celery workers: does the deployment scale with workers?

Starts the production layout of deploy/ (tests/e2e/deployment.py: gRPC code
server, daemon, webserver, the PostgreSQL instance and products databases,
RabbitMQ, N Celery workers with their own tmpfs staging) once per worker
count, on fresh databases and a fresh copy of the same incoming data, and
backfills the same N tiles of the small simulated array (24 antennas, 16
subbands, 40 field sources; 3C286 transits on consecutive days, so every
tile solves its own calibration and the runs are independent) over GraphQL.

Prints, per worker count: wall seconds from launch to the last run's end,
tiles per hour, step-seconds each worker spent, and the scaling (throughput
with 2 workers / with 1). The baseline is the 1-worker run of the same
build on the same data in the same process. Needs the local PostgreSQL and
RabbitMQ (see ../.library env); read the load average printed with the
figures: on a 2-core machine, other work competes with the second worker.

``--pin``: worker i runs on core i only (taskset), as if each worker were a
one-core machine: on a 2-core machine the unpinned workers' CASA and WSClean
steps already use both cores, so a second worker mostly competes for them.

Usage: python bench/workers.py [--tiles 4] [--workers 1 2] [--pin]
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
import uuid
from collections import defaultdict
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO), str(REPO / "tests" / "e2e")]

from deployment import calibrator_tiles, deployment, require_broker  # noqa: E402

POSTGRES_ADMIN_URL = os.environ.get(
    "DSA110_TEST_POSTGRES_URL", "postgresql+psycopg2://postgres@127.0.0.1:5432/postgres"
)
TILE_ASSETS = ("subband_group", "measurement_set", "calibrated_ms", "image", "photometry")
SMALL = dict(n_active_antennas=24, subbands=tuple(range(16)), n_sources=40)
BACKFILL = """mutation($params: LaunchBackfillParams!) { launchPartitionBackfill(backfillParams: $params) {
  __typename ... on LaunchBackfillSuccess { backfillId } ... on PythonError { message } } }"""


class Databases:
    """Fresh PostgreSQL databases, dropped at exit."""

    def __init__(self):
        from sqlalchemy import create_engine, text

        self.text = text
        self.admin = create_engine(POSTGRES_ADMIN_URL, isolation_level="AUTOCOMMIT")
        self.names: list[str] = []

    def fresh(self) -> str:
        name = f"dsa110_bench_{uuid.uuid4().hex[:10]}"
        with self.admin.connect() as c:
            c.execute(self.text(f'CREATE DATABASE "{name}"'))
        self.names.append(name)
        return self.admin.url.set(database=name).render_as_string(hide_password=False)

    def drop(self) -> None:
        with self.admin.connect() as c:
            for name in self.names:
                c.execute(self.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        self.admin.dispose()


def measure(root: Path, incoming: Path, tiles: dict[str, str], catalog: Path, workers: int,
            dbs: Databases, pin: bool = False) -> dict:
    from dagster import DagsterEventType, DagsterInstance, RunsFilter

    data = root / "data"
    shutil.copytree(incoming, data / "incoming")
    instance_url, products_url = dbs.fresh(), dbs.fresh()
    os.environ["DAGSTER_PG_URL"] = instance_url  # this process's view of the instance
    with deployment(root / "dagster_home", data, instance_url, products_url, catalog, workers=workers,
                    pin_workers=pin) as dep:
        started = time.monotonic()
        launched = dep.dagster.graphql(BACKFILL, {"params": {
            "partitionNames": sorted(tiles), "assetSelection": [{"path": [a]} for a in TILE_ASSETS]}})
        launched = launched["launchPartitionBackfill"]
        if launched["__typename"] != "LaunchBackfillSuccess":
            raise RuntimeError(f"backfill not launched: {launched}")
        with DagsterInstance.from_config(str(dep.dagster.home)) as instance:
            backfill = RunsFilter(tags={"dagster/backfill": launched["backfillId"]})

            def finished():
                runs = instance.get_runs(backfill)
                return runs if len(runs) == len(tiles) and all(r.is_finished for r in runs) else None

            runs = dep.dagster.wait_for(finished, 3600, f"{len(tiles)} runs", interval=1, alive=dep.dagster.services)
            wall = time.monotonic() - started
            failed = [r.run_id for r in runs if not r.is_success]
            if failed:
                raise RuntimeError(f"runs failed: {failed}\n{dep.dagster.log_tail()}")
            worker_of_pid = {service.pid: name for name, service in dep.workers.items()}
            busy: dict[str, float] = defaultdict(float)
            for run in runs:
                starts = {r.dagster_event.step_key: r.timestamp
                          for r in instance.all_logs(run.run_id, of_type=DagsterEventType.STEP_START)}
                for r in instance.all_logs(run.run_id, of_type=DagsterEventType.STEP_SUCCESS):
                    busy[worker_of_pid.get(r.dagster_event.pid, "other")] += r.timestamp - starts[r.dagster_event.step_key]
    return {"workers": workers, "wall_s": wall, "tiles_per_hour": len(tiles) / wall * 3600,
            "busy": dict(busy), "load": os.getloadavg()[0]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tiles", type=int, default=4)
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--pin", action="store_true", help="one core per worker (taskset)")
    args = parser.parse_args()
    require_broker()

    from dsa110_resources.catalogs.calibrators import calibrator_catalog

    dbs = Databases()
    try:
        with tempfile.TemporaryDirectory(prefix="bench-workers-") as tmp:
            tmp = Path(tmp)
            catalog = tmp / "calibrators.csv"
            calibrator_catalog(["3C286"]).write_csv(catalog)
            tiles = calibrator_tiles(tmp / "incoming", n=args.tiles, **SMALL)
            rows = []
            for n in args.workers:
                row = measure(tmp / f"workers-{n}", tmp / "incoming", tiles, catalog, n, dbs, args.pin)
                rows.append(row)
                busy = ", ".join(f"{k} {v:.0f} s" for k, v in sorted(row["busy"].items()))
                print(f"{n} worker(s): {args.tiles} tiles in {row['wall_s']:.0f} s wall = "
                      f"{row['tiles_per_hour']:.1f} tiles/h; step time per worker: {busy}; "
                      f"load {row['load']:.1f}", flush=True)
    finally:
        dbs.drop()
    base = rows[0]
    for row in rows[1:]:
        print(f"scaling {row['workers']} vs {base['workers']} worker(s): "
              f"{row['tiles_per_hour'] / base['tiles_per_hour']:.2f}x throughput "
              f"(ideal {row['workers'] / base['workers']:.0f}x)")


if __name__ == "__main__":
    main()
