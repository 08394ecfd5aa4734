"""The production layout as separate processes: code server, daemon, webserver and Celery workers.

Used by the deployment test (tests/e2e/test_celery_deployment.py) and the
worker-scaling benchmark (bench/workers.py), so both start exactly what
deploy/README.md tells an operator to start: the instance from
deploy/dagster.postgres.yaml, the code location served by ``dagster api grpc``,
webserver and daemon pointed at it by deploy/workspace.yaml, and N Celery
workers, each with its own tmpfs staging directory and the data tiers shared.
"""

from __future__ import annotations

import datetime as dt
import os
import shutil
import sys
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import astropy.units as u
from astropy.time import Time
from dagster._core.errors import DagsterUserCodeUnreachableError
from dagster._grpc.client import DagsterGrpcClient

from dagster_dev import REPO, Dagster, Service, free_port
from dsa110_resources.conversion.naming import window_key
from dsa110_resources.simulation import SimulationConfig, calibrator_transit_start, write_tile

BROKER_URL = os.environ.get("DSA110_TEST_BROKER_URL", "amqp://guest:guest@127.0.0.1:5672//")


class NoBroker(RuntimeError):
    pass


def require_broker(url: str = BROKER_URL) -> None:
    """Raises NoBroker when nothing answers at ``url``."""
    from kombu import Connection

    try:
        with Connection(url, connect_timeout=5) as connection:
            connection.ensure_connection(max_retries=1)
    except Exception as exc:  # kombu raises the transport's own errors
        raise NoBroker(f"no RabbitMQ broker answers at {url}: {exc}") from exc


def calibrator_tiles(incoming: Path, n: int = 2, first_seed: int = 11, **config) -> dict[str, str]:
    """``n`` 3C286 transit tiles on consecutive days: each solves its own
    calibration, so their runs are independent. ``config`` overrides the
    simulation (default: 16 antennas, 4 subbands, no field sources).
    Returns window -> tile id."""
    settings = dict(n_active_antennas=16, subbands=(0, 5, 10, 15), n_sources=0)
    settings.update(config)
    tiles = {}
    after = Time("2025-10-13T12:00:00", scale="utc")
    for seed in range(first_seed, first_seed + n):
        start, declination = calibrator_transit_start("3C286", after)
        sim = SimulationConfig.tiny(seed=seed, declination=declination, calibrators=("3C286",), **settings)
        day = start.to_datetime(timezone=dt.UTC)
        truth = write_tile(incoming / day.strftime("%Y-%m-%d"), start, sim)
        tiles[window_key(day)] = min(p.name[:19] for p in truth.files.values())
        after = start + 1 * u.hour  # the next transit: the following sidereal day
    return tiles


@dataclass
class Deployment:
    dagster: Dagster
    workers: dict[str, Service]
    staging: Path  # per-worker tmpfs staging: <staging>/<worker name>


def _serving(grpc: DagsterGrpcClient) -> bool:
    try:
        grpc.ping("ready")  # the server loads the code location before it listens
        return True
    except DagsterUserCodeUnreachableError:
        return False


@contextmanager
def deployment(home: Path, data: Path, instance_url: str, products_url: str, catalog: Path,
               workers: int = 2, extra_env: dict[str, str] | None = None,
               pin_workers: bool = False) -> Iterator[Deployment]:
    """Start the layout, wait until the webserver serves the location, and stop
    every process (and remove the tmpfs staging) on exit. ``pin_workers``: worker
    i runs on core i only (``taskset``), as if each worker were its own machine."""
    staging = Path("/dev/shm") / f"dsa110-deploy-{uuid.uuid4().hex[:8]}"
    grpc_port, tag = free_port(), uuid.uuid4().hex[:6]
    env = {
        "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")]),
        "DAGSTER_PG_URL": instance_url,
        "DSA110_ENV": "production",
        "DSA110_DATA_ROOT": str(data),
        "DSA110_DB_URL": products_url,
        "DSA110_FAST_ROOT": str(staging / "orchestrator"),
        "DSA110_SKY_CATALOG": str(catalog),
        "DSA110_MIN_SUBBANDS": "1",  # simulated tiles hold a few subbands
        "DSA110_INCOMPLETE_WAIT": "0",
        "DSA110_EXECUTOR": "celery",
        "DSA110_CELERY_BROKER": BROKER_URL,
        "DSA110_CODE_SERVER_HOST": "127.0.0.1",
        "DSA110_CODE_SERVER_PORT": str(grpc_port),
        **(extra_env or {}),
    }
    dagster = Dagster(home)
    shutil.copyfile(REPO / "deploy" / "dagster.postgres.yaml", dagster.home / "dagster.yaml")
    bin_dir = Path(sys.executable).parent
    workspace = str(REPO / "deploy" / "workspace.yaml")
    started: dict[str, Service] = {}
    try:
        code_server = dagster.start("code-server", [
            str(bin_dir / "dagster"), "api", "grpc", "-m", "dsa110_assets.definitions",
            "--location-name", "dsa110", "-h", "127.0.0.1", "-p", str(grpc_port)], env)
        for i in range(1, workers + 1):
            name = f"w{i}"
            pin = ["taskset", "-c", str((i - 1) % os.cpu_count())] if pin_workers else []
            started[name] = dagster.start(f"worker-{name}", [
                *pin, sys.executable, "-m", "celery", "-A", "dsa110_assets.celery_worker", "worker",
                "--pool", "threads", "--concurrency", "1", "-n", f"dsa110-{tag}-{name}@%h",
                "--loglevel", "INFO"], {**env, "DSA110_FAST_ROOT": str(staging / name)})
        # As compose's depends_on/service_healthy: the webserver and daemon
        # load the location once at start.
        grpc = DagsterGrpcClient(port=grpc_port, host="127.0.0.1")
        dagster.wait_for(lambda: _serving(grpc), 300, "the code server serving", interval=1, alive=[code_server])
        dagster.start("daemon", [str(bin_dir / "dagster-daemon"), "run", "-w", workspace], env)
        dagster.start("webserver", [str(bin_dir / "dagster-webserver"), "-w", workspace,
                                    "-h", "127.0.0.1", "-p", str(dagster.port)], env)
        dagster.wait_ready(timeout=300)  # workers may still be starting: steps wait in the queue
        yield Deployment(dagster, started, staging)
    finally:
        dagster.stop()
        shutil.rmtree(staging, ignore_errors=True)
