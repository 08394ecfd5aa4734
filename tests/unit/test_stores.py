"""Storage tiers: confined paths, atomic publish, staging clean-up."""

from __future__ import annotations

import dataclasses
import logging
import os
import subprocess
import sys
import time

import pytest

from dsa110_resources.stores import PathEscapeError, StorageTiers, clean_stale, confined, layout, publish
from dsa110_resources.stores.owner import Owner
from dsa110_resources.stores.tiers import FOREIGN_STALE_SECONDS, STAGING_PREFIX


@pytest.fixture
def tiers(tmp_path):
    return StorageTiers(data_root=tmp_path / "root", fast_root=tmp_path / "shm")


@pytest.mark.parametrize("bad", ["../outside", "/etc/passwd", "ms/../../x", "a/../../../b"])
def test_paths_cannot_escape_the_root(tiers, bad):
    with pytest.raises(PathEscapeError, match="outside the storage root"):
        tiers.product_path(bad)


def test_symlink_escape_is_refused(tiers, tmp_path):
    tiers.data_root.mkdir(parents=True)
    (tiers.data_root / "link").symlink_to(tmp_path)
    with pytest.raises(PathEscapeError):
        confined(tiers.data_root, "link", "secret")


def test_layout_paths_stay_inside(tiers):
    path = tiers.product_path(layout.ms_path("2025-10-13T13:25:07", "calibrators"))
    assert path == tiers.data_root / "ms/calibrators/2025-10-13/2025-10-13T13:25:07.ms"
    with pytest.raises(ValueError):
        layout.ms_path("2025-10-13T13:25:07", "nonsense")
    with pytest.raises(ValueError):
        layout.ms_path("../../etc", "science")


def _make_product(directory, content):
    directory.mkdir(parents=True)
    (directory / "table.dat").write_text(content)
    (directory / "sub").mkdir()
    (directory / "sub" / "x").write_text(content)


def test_publish_directory_then_replace(tiers):
    with tiers.staging("tile") as stage:
        _make_product(stage / "a.ms", "first")
        final = tiers.publish(stage / "a.ms", "ms/science/2025-10-13/a.ms")
    assert (final / "table.dat").read_text() == "first"
    with tiers.staging("tile") as stage:
        _make_product(stage / "a.ms", "second")
        tiers.publish(stage / "a.ms", "ms/science/2025-10-13/a.ms")
    assert (final / "table.dat").read_text() == "second"
    assert (final / "sub" / "x").read_text() == "second"
    assert sorted(p.name for p in final.parent.iterdir()) == ["a.ms"]  # no litter


def test_publish_across_filesystems_copies_then_renames(tmp_path):
    if not os.path.isdir("/dev/shm") or os.stat("/dev/shm").st_dev == os.stat(tmp_path).st_dev:
        pytest.skip("needs /dev/shm on a different filesystem from the test directory")
    tiers = StorageTiers(data_root=tmp_path / "root", fast_root="/dev/shm/dsa110-test")
    with tiers.staging("x") as stage:
        assert str(stage).startswith("/dev/shm/")
        _make_product(stage / "b.ms", "moved")
        final = tiers.publish(stage / "b.ms", "ms/b.ms")
        assert not (stage / "b.ms").exists()
    assert (final / "sub" / "x").read_text() == "moved"
    assert sorted(p.name for p in final.parent.iterdir()) == ["b.ms"]


def test_staging_falls_back_to_ssd_when_tmpfs_is_short(tmp_path):
    tiers = StorageTiers(data_root=tmp_path / "root", fast_root=tmp_path / "shm", fast_margin=0.0)
    huge = 1 << 60
    assert tiers.staging_root_for(huge) == tiers.stage_root
    assert tiers.staging_root_for(0) == tiers.fast_root
    full = StorageTiers(data_root=tmp_path / "root", fast_root=tmp_path / "shm", fast_margin=1.0)
    assert full.staging_root_for(0) == full.stage_root  # the margin is honoured
    no_fast = StorageTiers(data_root=tiers.data_root)
    assert no_fast.staging_root_for(0) == tiers.data_root / "staging"


def test_staging_is_removed_even_on_error(tiers):
    with pytest.raises(RuntimeError):
        with tiers.staging("t") as stage:
            (stage / "f").write_text("x")
            raise RuntimeError
    assert not stage.exists()


def test_killed_writer_litter_is_swept(tiers):
    """A writer killed mid-stage leaves litter; the next staging cleans it."""
    root = tiers.staging_root_for(0)
    code = (
        "import os, sys; from dsa110_resources.stores import StorageTiers;"
        f"t = StorageTiers(data_root={str(tiers.data_root)!r}, fast_root={str(tiers.fast_root)!r});"
        "cm = t.staging('victim'); p = cm.__enter__(); (p / 'half.ms').mkdir();"
        "os._exit(9)"
    )
    subprocess.run([sys.executable, "-c", code], check=False)
    litter = [p for p in root.iterdir() if p.name.startswith(STAGING_PREFIX)]
    assert len(litter) == 1 and "victim" in litter[0].name
    with tiers.staging("next"):
        remaining = [p for p in root.iterdir() if "victim" in p.name]
    assert remaining == []


def test_clean_stale_keeps_live_writers(tmp_path):
    live = tmp_path / f"{STAGING_PREFIX}{os.getpid()}-abc-live"
    live.mkdir()
    assert clean_stale(tmp_path) == []
    assert live.exists()


def _staged_by(directory, owner: Owner, label: str):
    path = directory / f"{STAGING_PREFIX}{owner.token()}-0badc0de-{label}"
    path.mkdir()
    (path / "half.ms").mkdir()
    return path


def test_other_hosts_in_flight_staging_is_kept(tmp_path):
    """On a shared stage root, another host's PIDs say nothing about its writers."""
    here = Owner.current()
    dead_pid = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                              capture_output=True, text=True, check=True).stdout.strip()
    in_flight = _staged_by(tmp_path, dataclasses.replace(here, host="dsa-calib-2", pid=int(dead_pid)), "a")
    assert clean_stale(tmp_path) == []
    assert in_flight.exists()


def test_other_hosts_staging_goes_only_past_the_age_limit_logged(tmp_path, caplog):
    old = _staged_by(tmp_path, dataclasses.replace(Owner.current(), host="dsa-calib-2"), "old")
    legacy = tmp_path / f"{STAGING_PREFIX}999999-abcd-legacy"  # a name without an owner
    legacy.mkdir()
    long_ago = time.time() - FOREIGN_STALE_SECONDS - 3600
    for path in (old, old / "half.ms", legacy):
        os.utime(path, (long_ago, long_ago))
    with caplog.at_level(logging.WARNING):
        assert sorted(clean_stale(tmp_path)) == sorted([old, legacy])
    assert "dsa-calib-2" in caplog.text and "legacy" in caplog.text


def test_this_hosts_dead_writers_are_judged_by_boot_pid_and_start(tmp_path):
    here = Owner.current()
    live = _staged_by(tmp_path, here, "live")
    reused_pid = _staged_by(tmp_path, dataclasses.replace(here, start=str(int(here.start) + 1)), "reused")
    earlier_boot = _staged_by(tmp_path, dataclasses.replace(here, boot="000000000000"), "boot")
    assert sorted(clean_stale(tmp_path)) == sorted([reused_pid, earlier_boot])
    assert live.exists()


def test_publish_refuses_missing_stage(tmp_path):
    with pytest.raises(FileNotFoundError):
        publish(tmp_path / "nothing", tmp_path / "final")
