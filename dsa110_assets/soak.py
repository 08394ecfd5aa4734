"""Soak: the tiny simulated array through the live path, with faults among good tiles.

``run_soak`` simulates ``n_tiles`` consecutive tiles of the tiny array
(6 antennas, subbands 0, 7 and 15) and delivers them into an incoming
directory step by step, one tile per step, as the correlator would, with a
seeded share of the tiles given a fault:

==============  ==========================================================  ==============
fault           what arrives                                                expected
==============  ==========================================================  ==============
in_flight       one file a third copied (changing now); whole a step later  converted
late            sb07 two steps after its tile was converted                 converted, sb07 late
out_of_order    the tile two steps late, after later tiles were launched     converted
duplicate       sb00 also in flat incoming/ under the same name             converted, one duplicate
nan             NaN/Inf visibilities in sb00                                converted, flagged
external        sb15's visibilities stored in another file on the host      quarantined
truncated       sb15 cut short, its writer long gone                        quarantined
misnamed        every file named 150 s before its data start                quarantined
killed          its run is SIGKILLed after staging the MS, then retried     converted
==============  ==========================================================  ==============

plus one file named for 2030 (outside the partitions) in flat incoming/.
The array points at 3C286's declination and tile ``transit_index`` (always
good) is its transit: the sky catalog of the run (the simulated sky,
calibrators included) is configured, so that tile's run solves the bandpass
and every other good tile gets sky-model gains with it; tiles converted
before the transit end "awaiting calibration" and ``calibration_sensor``
releases them. Each step the incoming-files sensor, then the calibration
sensor, ticks (the real sensor functions, their cursors kept) and every run
they ask for executes the real ``tile_job`` (or the part of it the request
selects) in this process against a persistent Dagster instance; the killed tile's run
executes in a child process stopped with SIGKILL at the ``convert:staged``
pause point, is marked failed (as run monitoring does) and run again (as
``run_retries`` does). ``check`` then reads the products DB, the Dagster
instance and the disk and lists every broken promise: a good tile without its
MS or its image (``image`` and ``pbcor`` rows and files), a tile still
awaiting calibration, a bad file not quarantined with a reason naming it, an incoming byte
neither an MS input, nor recorded late/duplicate, nor in quarantine, a
hidden or unrecorded entry in the product tree, a failed sensor tick.

``tests/integration/test_soak.py`` runs 12 tiles; ``bench/soak.py`` a day.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
import warnings
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

REPO_ROOT = Path(__file__).resolve().parents[1]
FAULTS = ("in_flight", "late", "out_of_order", "duplicate", "nan", "external", "truncated", "misnamed",
          "killed")
BAD = frozenset({"external", "truncated", "misnamed"})
SUBBANDS = (0, 7, 15)
FUTURE_NAME = "2030-01-01T00:00:00_sb00.hdf5"
KILL_POINT = "convert:staged"


@dataclass(frozen=True)
class SoakSettings:
    root: Path
    n_tiles: int = 12
    seed: int = 1
    #: The calibrator transit: the first after ``after``, observed as tile ``transit_index``.
    calibrator: str = "3C286"
    after: str = "2025-10-13T00:00:05"
    transit_index: int = 3
    #: Synthetic sources per tile field (the tiny preset's 5); None: NVSS density, which
    #: tiles more than the gain validity (1 h) from the transit need for sky-model gains.
    field_sources: int | None = 5
    #: Share of tiles given a fault; every kind appears once when there are enough tiles.
    fault_fraction: float = 0.6

    @property
    def data_root(self) -> Path:
        return self.root / "data"

    @property
    def incoming(self) -> Path:
        return self.data_root / "incoming"

    @property
    def dagster_home(self) -> Path:
        return self.root / "dagster_home"

    @property
    def simulated(self) -> Path:
        return self.root / "simulated"

    @property
    def sky_catalog(self) -> Path:
        """The simulated sky (field sources and the calibrator), written by ``write_tiles``."""
        return self.simulated / "sky_catalog.csv"

    def pointing(self):
        """(first tile's start, declination): the transit is tile ``transit_index``."""
        from astropy.time import Time

        from dsa110_resources import constants as C
        from dsa110_resources.simulation import calibrator_transit_start

        transit, declination = calibrator_transit_start(self.calibrator, Time(self.after, scale="utc"))
        return transit - min(self.transit_index, self.n_tiles - 1) * C.TILE_DURATION, declination


@dataclass
class Delivered:
    """One file put in incoming: where, its final bytes' hash, and what it was for."""

    path: Path
    sha256: str
    tile_start: str  # the simulated tile it came from ("" for the 2030 file)
    fault: str


@dataclass
class SoakReport:
    faults: dict[str, str]  # tile start -> fault ("good" for none)
    tile_ids: dict[str, str] = field(default_factory=dict)  # tile start -> tile id in the DB
    runs: Counter = field(default_factory=Counter)  # run outcomes
    ticks: int = 0
    tick_errors: list[str] = field(default_factory=list)
    files: Counter = field(default_factory=Counter)  # where each delivered file ended up
    problems: list[str] = field(default_factory=list)
    seconds: dict[str, float] = field(default_factory=dict)
    retries: Counter = field(default_factory=Counter)  # tile id -> steps retried in its runs
    delivered: list[Delivered] = field(default_factory=list)

    def summary(self) -> list[str]:
        kinds = Counter(self.faults.values())
        return [
            f"tiles: {len(self.faults)} ({', '.join(f'{n} {k}' for k, n in sorted(kinds.items()))})",
            f"sensor ticks: {self.ticks}, failed: {len(self.tick_errors)}",
            f"runs: {', '.join(f'{n} {k}' for k, n in sorted(self.runs.items()))}",
            f"files delivered: {sum(self.files.values())} "
            f"({', '.join(f'{n} {k}' for k, n in sorted(self.files.items()))})",
            "seconds: " + ", ".join(f"{k} {v:.1f}" for k, v in self.seconds.items()),
            f"problems: {len(self.problems)}",
            *[f"  {p}" for p in self.problems],
        ]


def _sha(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def _settle(path: Path, age_s: float = 3600.0) -> None:
    """Make the file look written long ago (its writer gone)."""
    old = time.time() - age_s
    os.utime(path, (old, old))


def plan_faults(settings: SoakSettings, starts: list[str]) -> dict[str, str]:
    """Seeded: which tile gets which fault (each kind once if there is room)."""
    rng = np.random.default_rng([settings.seed, 14])
    n = len(starts)
    # Tile 0 and the calibrator transit stay good.
    candidates = [i for i in range(1, n) if i != min(settings.transit_index, n - 1)]
    n_faulty = min(len(candidates), max(round(settings.fault_fraction * n), min(len(FAULTS), len(candidates))))
    kinds = list(rng.permutation(FAULTS))[:n_faulty]
    kinds += list(rng.choice(FAULTS, n_faulty - len(kinds)))
    faulty = sorted(rng.choice(candidates, n_faulty, replace=False))
    faults = {start: "good" for start in starts}
    for index, kind in zip(faulty, kinds):
        faults[starts[index]] = str(kind)
    return faults


def definitions(settings: SoakSettings):
    """The production assets and checks with resources rooted at the soak's directory."""
    from dagster import Definitions

    from dsa110_assets.definitions import defs as production
    from dsa110_assets.jobs import tile_job
    from dsa110_assets.resources import resources_for
    from dsa110_resources.catalogs.resource import SkyCatalogResource
    from dsa110_resources.conversion.resource import IngestResource
    from dsa110_resources.db.resource import ProductsDBResource
    from dsa110_resources.db.session import sqlite_url
    from dsa110_resources.stores import layout
    from dsa110_resources.stores.resource import StorageResource

    resources = resources_for("ci")
    resources.update(
        storage=StorageResource(data_root=str(settings.data_root), fast_root=str(settings.root / "fast"),
                                no_space_retries=0),
        products_db=ProductsDBResource(url=sqlite_url(settings.data_root / layout.products_db_file())),
        # Three subbands a tile: two make a tile worth converting (after the straggler wait).
        ingest=IngestResource(incoming_dir=str(settings.incoming), min_subbands=2,
                              incomplete_wait_seconds=60, settle_seconds=10, unready_retries=1),
        sky_catalog=SkyCatalogResource(path=str(settings.sky_catalog)),
    )
    return Definitions(assets=production.assets, asset_checks=production.asset_checks, jobs=[tile_job],
                       resources=resources)


def _instance(settings: SoakSettings):
    from dagster import DagsterInstance

    settings.dagster_home.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(REPO_ROOT / "dagster.yaml", settings.dagster_home / "dagster.yaml")
    return DagsterInstance.from_config(str(settings.dagster_home))


def run_in_child() -> None:
    """Entry point of the child process that runs (and is killed in) one tile's run."""
    root, partition, tags = sys.argv[1], sys.argv[2], json.loads(sys.argv[3])
    settings = SoakSettings(root=Path(root))
    job = definitions(settings).resolve_job_def("tile_job")
    job.execute_in_process(partition_key=partition, instance=_instance(settings), tags=tags,
                           raise_on_error=False)


class _Site:
    """The incoming directory and what was put in it."""

    def __init__(self, settings: SoakSettings, simulated: dict[str, dict[int, Path]]):
        self.settings, self.simulated = settings, simulated
        self.delivered: list[Delivered] = []
        self.secret = settings.root / "host-secret.bin"
        self.secret.write_bytes(b"not for the MS " * 20000)

    def day_dir(self, start: str) -> Path:
        return self.settings.incoming / start[:10]

    def put(self, source: Path, dest: Path, start: str, fault: str, *, settled: bool = True) -> Path:
        from dsa110_resources.simulation.feed import deliver_file

        dest.parent.mkdir(parents=True, exist_ok=True)
        if source.name == dest.name:
            deliver_file(source, dest.parent)
        else:
            tmp = dest.parent / f".{dest.name}.part"
            shutil.copyfile(source, tmp)
            os.replace(tmp, dest)
        if settled:
            _settle(dest)
        self.record(dest, start, fault)
        return dest

    def record(self, path: Path, start: str, fault: str) -> None:
        self.delivered = [d for d in self.delivered if d.path != path]
        self.delivered.append(Delivered(path, _sha(path), start, fault))

    def deliver(self, start: str, fault: str, step: int, schedule: dict[int, list]) -> None:
        """Queue the tile's arrivals on ``schedule`` (step -> actions)."""
        from dsa110_resources.simulation import faults as bad_files

        files, day = self.simulated[start], self.day_dir(start)
        at = schedule.setdefault(step, []).append
        later = lambda n, action: schedule.setdefault(step + n, []).append(action)  # noqa: E731
        if fault == "out_of_order":
            later(2, lambda: [self.put(p, day / p.name, start, fault) for p in files.values()])
        elif fault == "late":
            at(lambda: [self.put(files[sb], day / files[sb].name, start, fault) for sb in (0, 15)])
            later(2, lambda: self.put(files[7], day / files[7].name, start, "late-file"))
        elif fault == "in_flight":
            whole = files[15].read_bytes()

            def first_third():
                for sb in (0, 7):
                    self.put(files[sb], day / files[sb].name, start, fault)
                partial = day / files[15].name
                partial.write_bytes(whole[: len(whole) // 3])  # a copy under way: changed just now

            def rest():
                partial = day / files[15].name
                partial.write_bytes(whole)
                _settle(partial)
                self.record(partial, start, fault)

            at(first_third)
            later(1, rest)
        elif fault == "misnamed":
            # Named earlier than the data: it may share a window with the tile before.
            shifted = (dt.datetime.fromisoformat(start) - dt.timedelta(seconds=150)).strftime("%Y-%m-%dT%H:%M:%S")

            def misnamed():
                day.mkdir(parents=True, exist_ok=True)
                for source in files.values():
                    dest = bad_files.misnamed_copy(source, day, shifted)
                    _settle(dest)
                    self.record(dest, start, fault)
            at(misnamed)
        else:
            def arrive():
                for sb, source in files.items():
                    dest = day / source.name
                    if fault == "external" and sb == 15:
                        bad_files.external_dataset_copy(source, dest, self.secret)
                        _settle(dest)
                        self.record(dest, start, fault)
                        continue
                    self.put(source, dest, start, fault, settled=False)
                    if fault == "nan" and sb == 0:
                        bad_files.set_visibilities(dest, bad_files.nonfinite_cells(6, seed=step))
                    if fault == "truncated" and sb == 15:
                        bad_files.truncate(dest)
                    _settle(dest)
                    self.record(dest, start, fault)
                if fault == "duplicate":  # the same subband again, in flat incoming/
                    copy = self.put(files[0], self.settings.incoming / files[0].name, start, "duplicate-file")
                    _settle(copy, 3000)  # arrived after the sharded one: that one is kept
            at(arrive)


def _execute(job, request, instance, report: SoakReport, log) -> None:
    from dagster import DagsterEventType

    from dsa110_sensors.calibration import TRIGGER_TAG
    from dsa110_sensors.incoming import TILE_TAG

    # As the daemon launches it: same partition, asset selection (a released tile's
    # calibrate-and-image part of the job), tags and run key.
    result = job.execute_in_process(partition_key=request.partition_key, instance=instance,
                                    asset_selection=request.asset_selection,
                                    tags={**request.tags, "dagster/run_key": request.run_key}, raise_on_error=False)
    report.runs["succeeded" if result.success else "failed"] += 1
    if request.tags.get(TRIGGER_TAG):  # (of those) asked for by calibration_sensor
        report.runs[request.tags[TRIGGER_TAG]] += 1
    tile = request.tags[TILE_TAG]
    report.retries[tile] += sum(e.event_type == DagsterEventType.STEP_UP_FOR_RETRY for e in result.all_events)
    log(f"[soak] {request.run_key}: run {result.run_id[:8]} {'ok' if result.success else 'failed'}")


def _killed_run(settings: SoakSettings, job, request, instance, report: SoakReport, log) -> None:
    """The tile's run in a child process, SIGKILLed after staging its MS; marked failed, run again."""
    from dagster import DagsterRunStatus, RunsFilter

    from dsa110_sensors.incoming import TILE_TAG

    marker = settings.root / "paused"
    marker.unlink(missing_ok=True)
    env = dict(os.environ, DSA110_PAUSE_AT=KILL_POINT, DSA110_PAUSE_FILE=str(marker))
    child = subprocess.Popen(
        [sys.executable, "-c", "from dsa110_assets.soak import run_in_child; run_in_child()",
         str(settings.root), request.partition_key,
         json.dumps({**request.tags, "dagster/run_key": request.run_key})],
        env=env, cwd=REPO_ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 600
    while not marker.exists():
        if child.poll() is not None:
            raise RuntimeError(f"the run's child process ended before {KILL_POINT}: {child.stderr.read()[-2000:]}")
        if time.time() > deadline:
            child.kill()
            raise RuntimeError(f"the run's child process never reached {KILL_POINT}")
        time.sleep(0.1)
    child.send_signal(signal.SIGKILL)
    child.wait(60)
    report.runs["killed"] += 1
    (run,) = instance.get_runs(filters=RunsFilter(tags={TILE_TAG: request.run_key}))
    if run.status == DagsterRunStatus.STARTED:  # what run monitoring finds: the worker is gone
        instance.report_run_failed(run, "run worker killed with SIGKILL (soak)")
    log(f"[soak] tile {request.run_key}: run {run.run_id[:8]} killed at {KILL_POINT}; running it again")
    _execute(job, request, instance, report, log)


def run_soak(settings: SoakSettings, log=print) -> SoakReport:
    """Simulate, deliver with faults, tick the sensor and run the tile job; then ``check``."""
    from astropy.time import Time
    from dagster import build_sensor_context

    from dsa110_resources.simulation import SimulationConfig
    from dsa110_resources.simulation.tile import write_tiles
    from dsa110_sensors.calibration import calibration_sensor
    from dsa110_sensors.incoming import incoming_tiles_sensor

    t0 = time.perf_counter()
    settings.root.mkdir(parents=True, exist_ok=True)
    start, declination = settings.pointing()
    config = SimulationConfig.tiny(seed=settings.seed, subbands=SUBBANDS, declination=declination,
                                   calibrators=(settings.calibrator,), gains=True,
                                   n_sources=settings.field_sources)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        truths = write_tiles(settings.simulated, start, settings.n_tiles, config)
    simulated = {min(p.name[:19] for p in t.files.values()): {sb: Path(p) for sb, p in t.files.items()}
                 for t in truths}
    starts = sorted(simulated)
    report = SoakReport(faults=plan_faults(settings, starts))
    report.seconds["simulate"] = time.perf_counter() - t0

    t1 = time.perf_counter()
    site = _Site(settings, simulated)
    schedule: dict[int, list] = {}
    for step, start in enumerate(starts):
        site.deliver(start, report.faults[start], step, schedule)
    future = simulated[starts[0]][0]
    schedule[0].append(lambda: site.put(future, settings.incoming / FUTURE_NAME, "", "outside"))
    killed = {start for start, fault in report.faults.items() if fault == "killed"}

    defs = definitions(settings)
    job = defs.resolve_job_def("tile_job")
    instance = _instance(settings)
    sensors = [
        (incoming_tiles_sensor, {key: defs.resources[key] for key in ("ingest", "products_db", "storage")}),
        (calibration_sensor, {"products_db": defs.resources["products_db"]}),
    ]
    cursors, launched = {}, set()
    last_step = max(schedule)
    step, idle = 0, 0
    while step <= last_step or idle < 2:
        for action in schedule.get(step, []):
            action()
        requested = False
        for sensor, resources in sensors:
            try:
                with build_sensor_context(instance=instance, cursor=cursors.get(sensor.name),
                                          resources=resources) as context:
                    result = sensor(context)
                cursors[sensor.name] = result.cursor
                for event in result.asset_events or []:  # as the daemon records them
                    instance.report_runless_asset_event(event)
                requests = [r for r in getattr(result, "run_requests", None) or [] if r.run_key not in launched]
            except Exception as exc:  # noqa: BLE001 - a failed tick is what the soak is looking for
                report.tick_errors.append(f"step {step}, {sensor.name}: {exc!r}")
                requests = []
            report.ticks += 1
            for request in requests:
                launched.add(request.run_key)
                if request.run_key in killed:
                    _killed_run(settings, job, request, instance, report, log)
                else:
                    _execute(job, request, instance, report, log)
            requested |= bool(requests)
        idle = idle + 1 if step > last_step and not requested else 0
        step += 1
    report.seconds["pipeline"] = time.perf_counter() - t1
    t2 = time.perf_counter()
    report.delivered = site.delivered
    check(settings, report, instance)
    report.seconds["check"] = time.perf_counter() - t2
    return report


def check(settings: SoakSettings, report: SoakReport, instance) -> None:
    """Every promise, from the products DB, the Dagster instance and the disk, into ``report.problems``."""
    from dagster import AssetKey, DagsterRunStatus, RunsFilter
    from sqlalchemy import select

    from dsa110_resources.conversion.naming import window_key
    from dsa110_resources.db import Image, MeasurementSet, ProductsDB, SubbandFile, Tile
    from dsa110_resources.db.session import sqlite_url
    from dsa110_resources.qa.ms_integrity import integrity_problems
    from dsa110_resources.stores import layout
    from dsa110_sensors.incoming import TILE_TAG

    problems, delivered = report.problems, report.delivered
    problems += [f"sensor tick failed: {e}" for e in report.tick_errors]
    db = ProductsDB(sqlite_url(settings.data_root / layout.products_db_file()))
    with db.session() as s:
        tiles = {t.tile_id: t for t in s.scalars(select(Tile))}
        files = {f.path: f for f in s.scalars(select(SubbandFile))}
        mss = {m.tile_id: m for m in s.scalars(select(MeasurementSet))}
        images: dict[str, dict[str, Image]] = {}
        for image in s.scalars(select(Image).where(Image.is_valid)):
            images.setdefault(image.tile_id, {})[image.kind] = image
    db.dispose()
    quarantine = settings.data_root / "quarantine"
    quarantined: Counter = Counter()  # (name without a .N suffix, sha256): copies kept
    for path in quarantine.rglob("*"):
        if path.is_file() and path.name != "reason.txt":
            quarantined[(path.name.split(".hdf5")[0] + ".hdf5", _sha(path))] += 1
            if path.name.startswith("."):
                problems.append(f"partial file in quarantine: {path}")
    materialized = instance.get_materialized_partitions(AssetKey("measurement_set"))

    # Good tiles: their MS, whole and recorded; bad ones: quarantined with a reason naming the file.
    for start, fault in report.faults.items():
        when = dt.datetime.fromisoformat(start).replace(tzinfo=dt.UTC)
        tile = min(tiles.values(), default=None,
                   key=lambda t: abs((t.group_time.replace(tzinfo=dt.UTC) - when).total_seconds()))
        if tile is None or abs((tile.group_time.replace(tzinfo=dt.UTC) - when).total_seconds()) > 155:
            problems.append(f"tile {start} ({fault}): not in the products DB")
            continue
        report.tile_ids[start] = tile.tile_id
        if report.retries[tile.tile_id]:  # every file was whole or long settled when its run began
            problems.append(f"tile {tile.tile_id} ({fault}): {report.retries[tile.tile_id]} step retries")
        window = window_key(tile.group_time.replace(tzinfo=dt.UTC))
        if fault in BAD:
            if tile.status != "quarantined":
                problems.append(f"tile {tile.tile_id} ({fault}): status {tile.status}, not quarantined")
            reason_file = quarantine / start[:10] / tile.tile_id / "reason.txt"
            bad_names = {d.path.name for d in delivered if d.tile_start == start}
            reason = reason_file.read_text() if reason_file.exists() else ""
            if not reason or not any(name in reason.split("reason: ", 1)[-1].splitlines()[0] for name in bad_names):
                problems.append(f"tile {tile.tile_id} ({fault}): no reason naming the bad file in {reason_file}")
            if tile.tile_id in mss:  # (its window may hold a good neighbour's MS)
                problems.append(f"tile {tile.tile_id} ({fault}): quarantined but has an MS")
            continue
        ms = mss.get(tile.tile_id)
        if ms is None or tile.status != "converted":
            problems.append(f"tile {tile.tile_id} ({fault}): status {tile.status}, MS {ms and ms.path}")
            continue
        if integrity := integrity_problems(Path(ms.path)):
            problems.append(f"tile {tile.tile_id} ({fault}): MS {ms.path}: {', '.join(integrity)}")
        want = 2 if fault == "late" else 3
        if tile.n_subbands != want:
            problems.append(f"tile {tile.tile_id} ({fault}): {tile.n_subbands} subbands, expected {want}")
        if window not in materialized:
            problems.append(f"tile {tile.tile_id} ({fault}): window {window} not materialized in Dagster")
        # ... and its image: calibrated (the transit's bandpass, sky-model gains) and imaged.
        if (tile.reason or "").startswith("awaiting calibration"):
            problems.append(f"tile {tile.tile_id} ({fault}): {tile.reason}")
        for kind in ("image", "pbcor"):
            image = images.get(tile.tile_id, {}).get(kind)
            if image is None:
                problems.append(f"tile {tile.tile_id} ({fault}): no {kind} image recorded")
            elif not Path(image.path).is_file():
                problems.append(f"tile {tile.tile_id} ({fault}): {kind} image {image.path} missing on disk")
        if fault == "killed":
            runs = instance.get_runs(filters=RunsFilter(tags={TILE_TAG: tile.tile_id, "dagster/run_key": tile.tile_id}))
            statuses = sorted(r.status.value for r in runs)
            if statuses != sorted([DagsterRunStatus.FAILURE.value, DagsterRunStatus.SUCCESS.value]):
                problems.append(f"tile {tile.tile_id} (killed): runs {statuses}, expected one failed, one succeeded")
        if fault == "nan":
            records = instance.fetch_materializations(
                _partition_filter(AssetKey("measurement_set"), window), limit=1).records
            metadata = records[0].asset_materialization.metadata if records else {}
            if not records or metadata["nonfinite_visibilities"].value <= 0:
                problems.append(f"tile {tile.tile_id} (nan): NaN/Inf not counted in the MS metadata")

    future = next(iter(quarantine.glob(f"*/{FUTURE_NAME[:19]}/reason.txt")), None)
    if future is None or FUTURE_NAME not in future.read_text():
        problems.append(f"{FUTURE_NAME}: not quarantined with a reason naming it")

    # Every delivered byte: an MS input, recorded late/duplicate (still in incoming), or in quarantine.
    for item in delivered:
        row = files.get(str(item.path))
        here = item.path.exists() and _sha(item.path) == item.sha256
        if here and row is not None and row.status == "accepted" and row.tile_id in mss:
            report.files["MS input"] += 1
        elif here and row is not None and row.status in ("late", "duplicate"):
            report.files[f"recorded {row.status}"] += 1
        elif quarantined[(item.path.name, item.sha256)] and not item.path.exists():
            quarantined[(item.path.name, item.sha256)] -= 1  # each kept copy accounts for one file
            report.files["quarantined"] += 1
        else:
            where = "in incoming" if item.path.exists() else "gone from incoming"
            problems.append(f"{item.path.name} ({item.fault}): {where}, DB status "
                            f"{row.status if row else 'none'}, not in quarantine")
            report.files["unaccounted"] += 1

    # The product tree holds whole, recorded MSs only.
    ms_root = settings.data_root / "ms"
    recorded = {m.path for m in mss.values()}
    for path in ms_root.glob("*/*/*") if ms_root.exists() else []:
        if path.name.startswith(".") or str(path) not in recorded:
            problems.append(f"in the product tree but not a recorded MS: {path}")
    for path in recorded - {str(p) for p in ms_root.glob("*/*/*")}:
        problems.append(f"recorded MS missing on disk: {path}")
    for root in (settings.root / "fast", settings.data_root / "staging"):
        for path in root.glob(".staging-*") if root.exists() else []:
            problems.append(f"staging litter left: {path}")


def _partition_filter(asset_key, partition: str):
    from dagster import AssetRecordsFilter

    return AssetRecordsFilter(asset_key=asset_key, asset_partitions=[partition])
