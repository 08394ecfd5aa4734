"""A full disk during conversion: a clear error, nothing half-made, an alert, a retry.

A small tmpfs mounted for the test is a real full filesystem (the test skips
where mounting is not permitted). It holds either the staging tier or the
product tier, nearly filled by a filler file. The tile job converts the tiny
simulated tile: the step meets ENOSPC, removes what it staged, publishes
nothing, touches no raw file, alerts through the configured sink (a webhook
receiver on loopback) naming the path and ENOSPC, and retries; the
"operator" frees the space when the alert arrives and the retry converts the
tile. With the space never freed, the run fails after its retries with the
same clear error, and a re-run once there is space converts the tile.
"""

from __future__ import annotations

import subprocess
import sys
import threading
import time
import warnings
from pathlib import Path

import pytest
from dagster import DagsterEventType, DagsterInstance, Definitions
from sqlalchemy import select

from dsa110_assets.definitions import defs as production_defs
from dsa110_assets.jobs import tile_job
from dsa110_resources.db import MeasurementSet, ProductsDB, Tile
from dsa110_resources.db.resource import ProductsDBResource
from dsa110_resources.db.session import sqlite_url
from dsa110_resources.conversion.resource import IngestResource
from dsa110_resources.simulation import SimulationConfig, write_tile
from dsa110_resources.stores.resource import StorageResource

sys.path.insert(0, str(Path(__file__).parents[1] / "unit"))  # the loopback alert receivers live there
from ops_servers import webhook_server  # noqa: E402
from test_tile_assets import START, WINDOW, convert_job, events

pytestmark = pytest.mark.casa
SIZE_MB = 48  # the tiny tile's MS is ~14 MB; the filler leaves ~2 MB


@pytest.fixture
def small_disk(tmp_path):
    """A 48 MB tmpfs, nearly full; yields (mount point, filler file)."""
    mount = tmp_path / "small-disk"
    mount.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={SIZE_MB}m", "tmpfs", str(mount)],
                          capture_output=True, text=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs to fill up ({done.stderr.strip() or 'not permitted'})")
    try:
        filler = mount / "filler"
        with open(filler, "wb") as f:
            f.write(b"\0" * ((SIZE_MB - 2) * 1024 * 1024))
        yield mount, filler
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def _site(tmp_path, full: Path, tier: str, retries: int):
    incoming = tmp_path / "incoming"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        write_tile(incoming / "2025-10-13", START, SimulationConfig.tiny(seed=3))
    data = full / "data" if tier == "products" else tmp_path / "data"
    storage = StorageResource(
        data_root=str(data), fast_root=None,
        stage_root=str(full / "stage" if tier == "staging" else tmp_path / "stage"),
        no_space_retries=retries, no_space_wait_seconds=1.0)
    resources = {
        "storage": storage,
        "products_db": ProductsDBResource(url=sqlite_url(tmp_path / "products.sqlite")),
        "ingest": IngestResource(incoming_dir=str(incoming), min_subbands=1, incomplete_wait_seconds=0,
                                 settle_seconds=0),
    }
    full_defs = Definitions(assets=production_defs.assets, asset_checks=production_defs.asset_checks,
                            jobs=[tile_job, convert_job], resources={**production_defs.resources, **resources})
    return full_defs, data, incoming


def _raw(incoming: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in incoming.rglob("*.hdf5")}


def _operator(posts, full: Path, filler: Path, data: Path, db_url: str, seen: dict):
    """On the first alert: note what is on disk and in the DB, then free the space."""
    deadline = time.time() + 120
    while not posts and time.time() < deadline:
        time.sleep(0.05)
    seen["on_disk"] = sorted(str(p.relative_to(full)) for p in full.rglob("*") if p.is_file())
    seen["ms_dir"] = (data / "ms").exists() and any((data / "ms").rglob("*.ms"))
    with ProductsDB(db_url).session() as s:
        seen["ms_rows"] = len(s.scalars(select(MeasurementSet)).all())
    filler.unlink()


@pytest.mark.parametrize("tier", ["staging", "products"])
def test_full_disk_fails_clearly_alerts_and_the_tile_converts_once_space_returns(
        tmp_path, small_disk, monkeypatch, tier):
    full, filler = small_disk
    definitions, data, incoming = _site(tmp_path, full, tier, retries=3)
    raw = _raw(incoming)
    db_url = sqlite_url(tmp_path / "products.sqlite")
    with webhook_server() as (url, posts):
        monkeypatch.setenv("DSA110_ALERT_SINKS", "webhook")
        monkeypatch.setenv("DSA110_ALERT_WEBHOOK_URL", url)
        seen: dict = {}
        operator = threading.Thread(target=_operator, args=(posts, full, filler, data, db_url, seen))
        operator.start()
        result = definitions.resolve_job_def("convert_job").execute_in_process(
            partition_key=WINDOW, instance=DagsterInstance.ephemeral(), raise_on_error=False)
        operator.join()
    # At the alert: the partial was removed (only the filler on the small disk), nothing published.
    assert seen["on_disk"] == ["filler"] and not seen["ms_dir"] and seen["ms_rows"] == 0
    (post,) = posts  # one alert for the episode, not one per retry
    alert = post["json"]["alert"]
    assert alert["key"].startswith("disk_full:") and alert["severity"] == "critical"
    error = alert["details"]["error"]
    assert "ENOSPC" in error and str(full) in error and ".ms" in error
    assert ("staging" if tier == "staging" else "publishing") in error
    # Retried in the run, then converted once the space was back.
    assert result.success
    assert [e.step_key for e in events(result, DagsterEventType.STEP_UP_FOR_RETRY)] == ["measurement_set"]
    with ProductsDB(db_url).session() as s:
        (ms,) = s.scalars(select(MeasurementSet)).all()
        assert s.get(Tile, ms.tile_id).status == "converted"
    assert Path(ms.path).is_dir() and Path(ms.path).is_relative_to(data)
    assert _raw(incoming) == raw and not (data / "quarantine").exists()
    litter = [p.name for p in full.rglob(".*")]
    assert litter == [], f"left on the small disk: {litter}"


def test_a_disk_still_full_after_the_retries_fails_the_run_and_a_rerun_converts(tmp_path, small_disk, monkeypatch):
    full, filler = small_disk
    definitions, data, incoming = _site(tmp_path, full, "staging", retries=1)
    raw = _raw(incoming)
    monkeypatch.setenv("DSA110_ALERT_SINKS", "log")
    job = definitions.resolve_job_def("convert_job")
    instance = DagsterInstance.ephemeral()
    failed = job.execute_in_process(partition_key=WINDOW, instance=instance, raise_on_error=False)
    assert not failed.success
    (failure,) = events(failed, DagsterEventType.STEP_FAILURE)
    message = failure.event_specific_data.error.message
    assert "ENOSPC" in message and str(full / "stage") in message and "raw files are untouched" in message
    assert _raw(incoming) == raw and not (data / "ms").exists() and not (data / "quarantine").exists()
    db = ProductsDB(sqlite_url(tmp_path / "products.sqlite"))
    with db.session() as s:
        assert s.scalars(select(Tile.status)).all() == ["semi_complete"]  # not quarantined: it waits
    filler.unlink()
    assert job.execute_in_process(partition_key=WINDOW, instance=instance, raise_on_error=False).success
    with db.session() as s:
        assert s.scalars(select(Tile.status)).all() == ["converted"]
        assert len(s.scalars(select(MeasurementSet)).all()) == 1
