"""The embedded default: a simulated telescope feeding the real pipeline.

``dsa110 demo`` writes about an hour of simulated sky (one calibrator transit)
into ``<data root>/incoming`` at a sped-up cadence and lets the pipeline pick
it up exactly as it would at the telescope:

* interactive: ``dagster dev`` (webserver + daemon) with the incoming-files
  sensor on; products land under the data root while you watch the UI;
* headless: the same sensor logic and tile job run in this process against a
  persistent Dagster instance, then a summary is printed (for CI and for
  newcomers without a browser). Runs show up in the UI if it is started later
  with the same ``DAGSTER_HOME``.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import astropy.units as u
from astropy.time import Time

REPO_ROOT = Path(__file__).resolve().parents[1]
DEMO_START = "2025-10-13T13:00:00"
DEMO_CALIBRATOR = "3C286"


@dataclass(frozen=True)
class DemoSettings:
    data_root: Path
    n_tiles: int = 12  # ~1 hour of sky
    preset: str = "small"
    speedup: float = 20.0
    port: int = 3000
    seed: int = 1

    @property
    def dagster_home(self) -> Path:
        return self.data_root / "dagster_home"

    @property
    def incoming(self) -> Path:
        return self.data_root / "incoming"


def simulation_config(preset: str, seed: int):
    """small: 24 antennas, all 16 subbands (seconds per tile); tiny; or full size."""
    from dsa110_resources.simulation import SimulationConfig

    if preset == "full":
        return SimulationConfig.full(seed=seed)
    if preset == "tiny":
        return SimulationConfig.tiny(seed=seed)
    if preset == "small":
        return SimulationConfig.tiny(
            seed=seed, n_active_antennas=24, subbands=tuple(range(16)), n_sources=40
        )
    raise ValueError(f"unknown demo preset {preset!r} (small, tiny, full)")


def environment(settings: DemoSettings) -> dict[str, str]:
    """Environment for Dagster processes: local resources rooted at the demo's data root."""
    env = dict(os.environ)
    env.update(
        DAGSTER_HOME=str(settings.dagster_home),
        DSA110_DATA_ROOT=str(settings.data_root),
        DSA110_SENSOR_DEFAULT="running",
        DSA110_SKY_CATALOG=str(settings.data_root / "truth" / "sky_catalog.csv"),
        DSA110_SENSOR_INTERVAL="10",
        # The tiny preset writes 2 subbands: let the completeness rule admit them.
        DSA110_MIN_SUBBANDS="1" if settings.preset == "tiny" else env.get("DSA110_MIN_SUBBANDS", "12"),
        DSA110_INCOMPLETE_WAIT=str(max(10.0, 600.0 / settings.speedup)),
        DSA110_SETTLE=str(max(2.0, 30.0 / settings.speedup)),
    )
    return env


def prepare_instance(settings: DemoSettings) -> None:
    settings.dagster_home.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(REPO_ROOT / "dagster.yaml", settings.dagster_home / "dagster.yaml")


def start_feed(settings: DemoSettings, log=print) -> threading.Thread:
    """Deliver the simulated tiles in a background thread (the 'telescope')."""
    from dsa110_resources.simulation import calibrator_transit_start
    from dsa110_resources.simulation.feed import run_feed

    start, declination = calibrator_transit_start(DEMO_CALIBRATOR, Time(DEMO_START, scale="utc"))
    config = simulation_config(settings.preset, settings.seed).replace(declination=declination)

    def feed() -> None:
        run_feed(
            settings.incoming, start, settings.n_tiles, config,
            speedup=settings.speedup, spread=min(10.0, 300.0 / settings.speedup) * u.s,
            truth_dir=settings.data_root / "truth", log=lambda m: log(f"[telescope] {m}"),
        )

    thread = threading.Thread(target=feed, name="simulated-telescope", daemon=True)
    thread.start()
    return thread


def run_headless(settings: DemoSettings, log=print) -> dict:
    """Feed, then run every ready tile through the tile job in this process."""
    for key, value in environment(settings).items():
        os.environ[key] = value
    prepare_instance(settings)
    from dagster import DagsterInstance, build_sensor_context

    from dsa110_assets.definitions import defs
    from dsa110_sensors.incoming import incoming_tiles_sensor

    feed = start_feed(settings, log)
    instance = DagsterInstance.get()
    job = defs.resolve_job_def("tile_job")
    sensor_resources = {key: defs.resources[key] for key in ("ingest", "products_db", "storage")}
    settle = defs.resources["ingest"].settle_seconds
    cursor, launched, outcomes, done_at = None, set(), {}, None
    while True:
        feed_done = not feed.is_alive()
        if feed_done and done_at is None:
            done_at = time.monotonic()
        with build_sensor_context(instance=instance, cursor=cursor, resources=sensor_resources) as context:
            result = incoming_tiles_sensor(context)
        cursor = result.cursor
        for request in result.run_requests or []:
            if request.run_key in launched:
                continue
            launched.add(request.run_key)
            log(f"[pipeline] tile {request.run_key} -> window {request.partition_key}")
            run = job.execute_in_process(
                partition_key=request.partition_key, instance=instance, tags=request.tags,
                raise_on_error=False,
            )
            outcomes[request.run_key] = "succeeded" if run.success else "failed"
            log(f"[pipeline] tile {request.run_key}: run {run.run_id[:8]} {outcomes[request.run_key]}")
        # The last files settle for ``settle`` seconds before their tile is ready.
        if feed_done and not result.run_requests and time.monotonic() - done_at > settle + 1:
            break
        if not result.run_requests:
            time.sleep(2.0)
    return outcomes


def run_interactive(settings: DemoSettings, log=print) -> None:
    """dagster dev (webserver + daemon, sensor on) while the telescope feeds it."""
    prepare_instance(settings)
    env = environment(settings)
    command = [sys.executable, "-m", "dagster", "dev", "-w", str(REPO_ROOT / "workspace.yaml"),
               "-p", str(settings.port), "-h", "127.0.0.1"]
    dagster = subprocess.Popen(command, env=env, cwd=REPO_ROOT, start_new_session=True)
    try:
        log(f"Dagster UI: http://127.0.0.1:{settings.port}  (sensor incoming_tiles_sensor is on)")
        log(f"Products under {settings.data_root} (ms/, images/, caltables/, state/products.sqlite)")
        for key, value in env.items():
            os.environ[key] = value
        feed = start_feed(settings, log)
        feed.join()
        log("[telescope] all tiles delivered; the pipeline keeps running. Ctrl-C to stop.")
        while dagster.poll() is None:
            time.sleep(5)
    except KeyboardInterrupt:
        log("stopping")
    finally:
        if dagster.poll() is None:
            os.killpg(dagster.pid, 15)
            dagster.wait(timeout=60)


def summary(data_root: Path) -> list[str]:
    """What the products database holds, as lines for the terminal."""
    from sqlalchemy import func, select

    from dsa110_resources.db import CalibrationTable, Image, MeasurementSet, ProductsDB, Tile
    from dsa110_resources.db.session import sqlite_url
    from dsa110_resources.stores import layout

    url = os.environ.get("DSA110_DB_URL") or sqlite_url(data_root / layout.products_db_file())
    db = ProductsDB(url)
    lines = []
    with db.session() as s:
        statuses = dict(s.execute(select(Tile.status, func.count()).group_by(Tile.status)).all())
        lines.append("tiles: " + (", ".join(f"{n} {k}" for k, n in sorted(statuses.items())) or "none"))
        for label, model in (("measurement sets", MeasurementSet), ("calibration tables", CalibrationTable),
                             ("images", Image)):
            lines.append(f"{label}: {s.scalar(select(func.count()).select_from(model))}")
        for ms in s.scalars(select(MeasurementSet).order_by(MeasurementSet.tile_id)).all()[:3]:
            lines.append(f"  {ms.path}")
    db.dispose()
    return lines

