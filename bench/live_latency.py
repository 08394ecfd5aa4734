"""Live data first: a live tile's latency, last file to image, with a 1-day backfill queued.

Starts ``dagster dev`` with the repository's dagster.yaml (queued runs, two
at a time, backfill runs limited to one slot) and the incoming-files sensor
on, then:
1. baseline: a live small-array tile (a 3C286 transit, so it solves its own
   calibration and reaches ``image``) lands in incoming/ with nothing else to
   do; latency = its image materialization - the time its last file landed;
2. a 1-day ``dsa110 backfill`` (288 windows from another day's 3C286 transit,
   the first ``--backfill-tiles`` holding small-array tiles, the rest empty)
   is launched; once its runs are queued and one is running, a second live
   tile of the same kind lands and its latency is measured the same way.
Prints both latencies, their ratio, the live runs' queue waits and how much
of the backfill was done / still queued when the live tile's image was made.

``--fifo`` is the contrast without the policy: no tag limit on backfill runs
and the backfill at the live tiles' priority, so the queue is first in,
first out (only step 2 is run).

Usage: python bench/live_latency.py [--backfill-tiles 4] [--fifo]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO), str(REPO / "tests" / "e2e")]

from dagster_dev import LOCATION, REPOSITORY, DagsterDev  # noqa: E402

SENSOR = {"repositoryLocationName": LOCATION, "repositoryName": REPOSITORY, "sensorName": "incoming_tiles_sensor"}
SET_CURSOR = """mutation($s: SensorSelector!, $c: String) { setSensorCursor(sensorSelector: $s, cursor: $c) {
  __typename } }"""
START_SENSOR = """mutation($s: SensorSelector!) { startSensor(sensorSelector: $s) { __typename } }"""
IMAGE = """query($p: String!) { assetNodeOrError(assetKey: {path: ["image"]}) { ... on AssetNode {
  assetMaterializations(partitions: [$p]) { timestamp } } } }"""
RUNS = """query($f: RunsFilter) { runsOrError(filter: $f) { ... on Runs { results {
  runId status creationTime startTime endTime tags { key value } } } } }"""


def small_config(seed: int, declination):
    from dsa110_resources.simulation import SimulationConfig

    return SimulationConfig.tiny(seed=seed, n_active_antennas=24, subbands=tuple(range(16)), n_sources=0,
                                 declination=declination, calibrators=("3C286",))


def transit(day: str):
    from astropy.time import Time

    from dsa110_resources.simulation import calibrator_transit_start

    return calibrator_transit_start("3C286", Time(f"{day}T00:00:00", scale="utc"))


def live_tile(dev: DagsterDev, data: Path, day: str, seed: int) -> dict:
    """Write one live tile; wait for its image; latency from its last file to the image."""
    from dsa110_resources.conversion.naming import window_key
    from dsa110_resources.simulation import write_tile

    start, dec = transit(day)
    truth = write_tile(data / "incoming" / day, start, small_config(seed, dec))
    landed = max(p.stat().st_mtime for p in truth.files.values())
    window = window_key(start.to_datetime(timezone=dt.UTC))
    tile_id = min(p.name[:19] for p in truth.files.values())

    def imaged():
        node = dev.graphql(IMAGE, {"p": window})["assetNodeOrError"]
        stamps = [float(m["timestamp"]) / 1000 for m in node["assetMaterializations"]]
        if stamps:
            return max(stamps)
        runs = dev.graphql(RUNS, {"f": {"tags": [{"key": "dsa110/tile", "value": tile_id}]}})
        failed = [r for r in runs["runsOrError"]["results"] if r["status"] in ("FAILURE", "CANCELED")]
        if failed:
            raise RuntimeError(f"live tile {tile_id} run {failed[0]['status']}\n{dev.log_tail()}")
        return None

    image_at = dev.wait_for(imaged, 1800, f"the image of live tile {tile_id}", interval=1.0)
    [run] = dev.graphql(RUNS, {"f": {"tags": [{"key": "dsa110/tile", "value": tile_id}]}})["runsOrError"]["results"]
    return {"latency_s": image_at - landed, "queue_s": run["startTime"] - run["creationTime"],
            "run_s": (run["endTime"] or time.time()) - run["startTime"], "tile": tile_id}


def backfill_runs(dev: DagsterDev) -> dict[str, int]:
    runs = dev.graphql(RUNS, {"f": {"tags": [{"key": "dsa110/launched_by", "value": "dsa110 backfill"}]}})
    counts: dict[str, int] = {}
    for r in runs["runsOrError"]["results"]:
        counts[r["status"]] = counts.get(r["status"], 0) + 1
    return counts


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backfill-tiles", type=int, default=4, help="small tiles at the start of the backfill day")
    parser.add_argument("--backfill-day", default="2025-10-10")
    parser.add_argument("--fifo", action="store_true", help="no backfill tag limit, backfill at live priority")
    args = parser.parse_args()

    from dsa110_assets.jobs import LIVE_PRIORITY
    from dsa110_resources import constants as C
    from dsa110_resources.catalogs.calibrators import calibrator_catalog
    from dsa110_resources.cli.backfill import launch_backfill, window_keys
    from dsa110_resources.simulation import write_tile

    with tempfile.TemporaryDirectory(prefix="bench-live-") as tmp:
        data = Path(tmp) / "data"
        catalog = Path(tmp) / "calibrators.csv"
        calibrator_catalog(["3C286"]).write_csv(catalog)
        start, dec = transit(args.backfill_day)
        for i in range(args.backfill_tiles):  # the backfill's tiles: a transit, then science tiles
            when = start + i * C.TILE_DURATION
            write_tile(data / "incoming" / args.backfill_day, when, small_config(20 + i, dec))
        env = {"DSA110_ENV": "ci", "DSA110_DATA_ROOT": str(data), "DSA110_SKY_CATALOG": str(catalog),
               "DSA110_PARTITION_START": f"{args.backfill_day}T00:00", "DSA110_SENSOR_INTERVAL": "5",
               "DSA110_INCOMPLETE_WAIT": "0", "DSA110_SETTLE": "1"}
        home = Path(tmp) / "dagster_home"
        instance_yaml = REPO / "dagster.yaml"
        if args.fifo:  # the same instance without the tag limit
            import yaml

            settings = yaml.safe_load(instance_yaml.read_text())
            settings["concurrency"]["runs"].pop("tag_concurrency_limits", None)
            instance_yaml = Path(tmp) / "fifo-dagster.yaml"
            instance_yaml.write_text(yaml.safe_dump(settings))
        dev = DagsterDev(home, env, instance_yaml=instance_yaml)
        try:
            dev.wait_ready()
            # The sensor lists date directories from a day before its mark: the backfill day stays unseen.
            mark = {"high_water_mark": "2025-10-12T23:59:59", "launched": []}
            dev.graphql(SET_CURSOR, {"s": SENSOR, "c": json.dumps(mark)})
            dev.graphql(START_SENSOR, {"s": SENSOR})
            url = f"http://127.0.0.1:{dev.port}"

            baseline = None if args.fifo else live_tile(dev, data, "2025-10-13", seed=1)
            if baseline:
                print(f"baseline: live tile {baseline['tile']} imaged {baseline['latency_s']:.1f} s after its "
                      f"last file (queued {baseline['queue_s']:.1f} s, run {baseline['run_s']:.1f} s)", flush=True)

            from dsa110_resources.conversion.naming import window_key

            first = dt.datetime.strptime(window_key(start.to_datetime(timezone=dt.UTC)),
                                         "%Y-%m-%dT%H:%M").replace(tzinfo=dt.UTC)
            keys = window_keys(first, first + dt.timedelta(days=1))
            launch_backfill(url, keys, [], "bench: 1-day backfill", priority=LIVE_PRIORITY if args.fifo else None)
            dev.wait_for(lambda: (c := backfill_runs(dev)).get("STARTED", 0) >= 1 and c.get("QUEUED", 0) >= 5,
                         900, "the backfill's runs queued and one running")
            print(f"backfill of {len(keys)} windows launched; runs now {backfill_runs(dev)}", flush=True)
            loaded = live_tile(dev, data, "2025-10-14", seed=2)
            counts = backfill_runs(dev)
            print(f"with the backfill queued: live tile {loaded['tile']} imaged {loaded['latency_s']:.1f} s after "
                  f"its last file (queued {loaded['queue_s']:.1f} s, run {loaded['run_s']:.1f} s); "
                  f"backfill runs then {counts}", flush=True)
            if baseline:
                print(f"latency ratio (backfill queued / idle): {loaded['latency_s'] / baseline['latency_s']:.2f}")
        finally:
            dev.stop()


if __name__ == "__main__":
    main()
