"""kill -9 in the middle of a reprocess and of a quarantine, then re-run.

A real child process converts (or quarantines) the tiny simulated tile and is
stopped with SIGKILL at a named pause point (``dsa110_resources.pause_points``):
between staging and publish, after a cross-filesystem copy, after the swap of
the new MS into place, after a raw file was linked into quarantine or copied
there. What must hold right after the kill: the organised tree and the
products DB show the old MS or a complete new one, never a partial; every raw
file is whole in incoming or in quarantine. Then the tile job is re-run and
must converge: one MS (or the tile quarantined once), no litter.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

import pytest
from dagster import DagsterInstance
from sqlalchemy import select

from dsa110_resources.db import MeasurementSet, ProductsDB, Tile
from dsa110_resources.db.session import sqlite_url
from dsa110_resources.qa.ms_integrity import integrity_problems
from dsa110_resources.simulation import SimulationConfig
from dsa110_resources.simulation.faults import truncate
from test_tile_assets import START, WINDOW, make_site, run

pytestmark = pytest.mark.casa

_CHILD = """
import sys
from pathlib import Path
from dsa110_resources.conversion import ConversionOptions, convert_tile, find_tiles
from dsa110_resources.db import ProductsDB
from dsa110_resources.stores import StorageTiers
data, fast, incoming, url, staging = sys.argv[1:6]
tiers = StorageTiers(data_root=data, fast_root=fast)
(group,) = find_tiles(Path(incoming))
convert_tile(group, tiers, db=ProductsDB(url), options=ConversionOptions(staging=staging))
"""


def _raw(directory: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in directory.rglob("*.hdf5")}


def _kill_at(point: str, data: Path, fast: Path, incoming: Path, staging: str, tmp_path: Path) -> None:
    """Run the child conversion until ``point``, then SIGKILL it."""
    marker = tmp_path / f"paused-{point.replace(':', '-')}"
    env = dict(os.environ, DSA110_PAUSE_AT=point, DSA110_PAUSE_FILE=str(marker))
    child = subprocess.Popen(
        [sys.executable, "-c", _CHILD, str(data), str(fast), str(incoming),
         sqlite_url(data / "state" / "products.sqlite"), staging],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    deadline = time.time() + 120
    while not marker.exists():
        if child.poll() is not None:
            pytest.fail(f"the child ended before {point}: {child.stdout.read()[-2000:]}")
        assert time.time() < deadline, f"the child never reached {point}"
        time.sleep(0.05)
    child.send_signal(signal.SIGKILL)
    assert child.wait(30) == -signal.SIGKILL


def _visible(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir() if not p.name.startswith("."))


@contextlib.contextmanager
def _other_filesystem(tmp_path: Path):
    """A directory on another filesystem than ``tmp_path`` (for cross-device moves)."""
    if not Path("/dev/shm").is_dir() or os.stat("/dev/shm").st_dev == os.stat(tmp_path).st_dev:
        pytest.skip("needs /dev/shm on another filesystem than the test's directory")
    with tempfile.TemporaryDirectory(dir="/dev/shm", prefix="dsa110-kill-") as other:
        yield Path(other)


@pytest.fixture
def site(tmp_path):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return make_site(tmp_path, START, SimulationConfig.tiny(seed=3))


@pytest.mark.parametrize("point,staging", [
    ("convert:staged", "auto"),     # the new MS complete in staging, nothing published
    ("publish:copied", "fast"),     # tmpfs -> product disk: a hidden partial copy beside the MS
    ("publish:swapped", "auto"),    # the new MS in place, the old one not yet deleted
])
def test_kill_during_reprocess_leaves_a_whole_ms_and_rerun_converges(site, tmp_path, point, staging):
    definitions, data, truth = site
    instance = DagsterInstance.ephemeral()
    incoming = data / "incoming"
    raw_before = _raw(incoming)
    assert run(definitions, WINDOW, instance).success  # the MS exists: what follows is a reprocess
    db = ProductsDB(sqlite_url(data / "state" / "products.sqlite"))
    with db.session() as s:
        (old,) = s.scalars(select(MeasurementSet)).all()
        old_path, old_rows, old_created = Path(old.path), old.n_rows, old.created_at
    old_inode = (old_path / "table.dat").stat().st_ino
    with _other_filesystem(tmp_path) as fast:
        definitions = _with(definitions, fast=fast)  # the child's tmpfs tier, as on one host
        _kill_at(point, data, fast, incoming / "2025-10-13", staging, tmp_path)
        # Right after the kill: a whole MS at the product path (old or new), the DB pointing at it.
        assert _visible(old_path.parent) == [old_path.name]
        assert integrity_problems(old_path) == []
        replaced = (old_path / "table.dat").stat().st_ino != old_inode
        assert replaced == (point == "publish:swapped")
        with db.session() as s:
            (row,) = s.scalars(select(MeasurementSet)).all()
            assert Path(row.path) == old_path and row.n_rows == old_rows
        assert _raw(incoming) == raw_before  # raw files untouched

        # Re-run the tile: one MS, recorded afresh, and the killed writer's litter gone.
        assert run(definitions, WINDOW, instance).success
        with db.session() as s:
            (row,) = s.scalars(select(MeasurementSet)).all()
            assert Path(row.path) == old_path and row.created_at > old_created
            assert s.get(Tile, row.tile_id).status == "converted"
        assert sorted(p.name for p in old_path.parent.iterdir()) == [old_path.name]
        assert integrity_problems(old_path) == []
        for root in (fast, data / "staging"):
            litter = [p.name for p in root.glob(".*") if p.name != ".ms-templates"] if root.exists() else []
            assert litter == [], f"left in {root}: {litter}"
    assert _raw(incoming) == raw_before


def _with(definitions, *, incoming: Path | None = None, fast: Path | None = None):
    """The site's definitions with another incoming directory or tmpfs tier."""
    from dagster import Definitions

    from dsa110_assets.definitions import defs as production_defs
    from dsa110_assets.jobs import tile_job
    from test_tile_assets import convert_job

    resources = dict(definitions.resources)
    if incoming is not None:
        resources["ingest"] = type(resources["ingest"])(**{**resources["ingest"].model_dump(),
                                                            "incoming_dir": str(incoming)})
    if fast is not None:
        resources["storage"] = type(resources["storage"])(**{**resources["storage"].model_dump(),
                                                              "fast_root": str(fast)})
    return Definitions(assets=production_defs.assets, asset_checks=production_defs.asset_checks,
                       jobs=[tile_job, convert_job], resources=resources)


def _truncate_one(truth) -> Path:
    bad = truncate(sorted(truth.files.values())[0])  # written half-way; its writer long gone
    os.utime(bad, (time.time() - 3600, time.time() - 3600))
    return bad


@pytest.mark.parametrize("point", ["quarantine:linked", "quarantine:copied"])
def test_kill_during_quarantine_loses_no_raw_file_and_rerun_converges(site, tmp_path, point):
    definitions, data, truth = site
    bad = _truncate_one(truth)
    quarantine = data / "quarantine" / "2025-10-13"
    with contextlib.ExitStack() as stack:
        if point == "quarantine:copied":  # incoming on another filesystem: a copy, not a link
            other = stack.enter_context(_other_filesystem(tmp_path))
            incoming = other / "2025-10-13"
            shutil.move(str(bad.parent), incoming)
            definitions = _with(definitions, incoming=other)
        else:
            incoming = bad.parent
        raw = _raw(incoming)
        _kill_at(point, data, Path(definitions.resources["storage"].fast_root), incoming, "auto", tmp_path)

        def whole_somewhere() -> dict[str, list[str]]:
            """Where each raw file's bytes are, whole (incoming or quarantine)."""
            places = {name: [] for name in raw}
            for where, directory in (("incoming", incoming), ("quarantine", quarantine)):
                for path in directory.rglob("*.hdf5*"):
                    if path.name.startswith("."):
                        continue
                    name = path.name.split(".hdf5")[0] + ".hdf5"
                    assert path.read_bytes() == raw[name], f"{path} is not a whole copy"
                    places[name].append(where)
            return places

        after_kill = whole_somewhere()
        assert all(after_kill.values()), f"a raw file is nowhere whole: {after_kill}"

        result = run(definitions, WINDOW, DagsterInstance.ephemeral(), job="tile_job")
        assert not result.success  # the tile is bad: quarantined, its run failed
        places = whole_somewhere()
        assert places == {name: ["quarantine"] for name in raw}  # once each, nothing left behind
        (directory,) = quarantine.iterdir()
        assert sorted(p.name for p in directory.iterdir()) == sorted([*raw, "reason.txt"])
        assert bad.name in (directory / "reason.txt").read_text()
        db = ProductsDB(sqlite_url(data / "state" / "products.sqlite"))
        with db.session() as s:
            assert [t.status for t in s.scalars(select(Tile))] == ["quarantined"]
            assert s.scalars(select(MeasurementSet)).all() == []
