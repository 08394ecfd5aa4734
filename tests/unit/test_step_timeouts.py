"""A hung external tool fails its step at the configured limit, its whole process group killed."""

from __future__ import annotations

import os
import stat
import time

import astropy.units as u
import pytest

from dsa110_resources.calibration.flagging import FlagOptions, _run_aoflagger
from dsa110_resources.imaging import wsclean
from dsa110_resources.imaging.params import ImageGrid, ImagingParams

# A stand-in for the real tool that hangs, with a helper process of its own.
HANGING_TOOL = """#!/bin/sh
sleep 600 &
echo $! > "{pidfile}"
echo "started, now hanging"
wait
"""


@pytest.fixture
def hanging(tmp_path, monkeypatch):
    """Put hanging ``wsclean`` and ``aoflagger`` first on PATH; return the helper's pidfile."""
    bin_dir, pidfile = tmp_path / "bin", tmp_path / "helper.pid"
    bin_dir.mkdir()
    for name in ("wsclean", "aoflagger"):
        tool = bin_dir / name
        tool.write_text(HANGING_TOOL.format(pidfile=pidfile))
        tool.chmod(tool.stat().st_mode | stat.S_IXUSR)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setenv("DSA110_STEP_TIMEOUT", "1.5")
    return pidfile


@pytest.mark.timeout(60)
def test_hung_wsclean_fails_at_the_limit(hanging, tmp_path, process_gone):
    ms = tmp_path / "tile.ms"
    ms.mkdir()
    grid = ImageGrid(size=64, cell=10 * u.arcsec)
    started = time.monotonic()
    with pytest.raises(wsclean.WSCleanError, match=r"WSClean on .*tile\.ms.*time limit of 1.5 s") as info:
        wsclean.run(ms, tmp_path / "work", grid, ImagingParams(), "DATA")
    assert time.monotonic() - started < 20
    assert "started, now hanging" in str(info.value)
    assert process_gone(int(hanging.read_text())), "the hung tool's helper process outlived the kill"


@pytest.mark.timeout(60)
def test_hung_aoflagger_fails_at_the_limit(hanging, tmp_path, process_gone):
    ms = tmp_path / "tile.ms"
    ms.mkdir()
    with pytest.raises(RuntimeError, match=r"AOFlagger on .*tile\.ms.*time limit of 1.5 s"):
        _run_aoflagger(ms, tmp_path, FlagOptions())
    assert process_gone(int(hanging.read_text())), "the hung tool's helper process outlived the kill"


def test_limit_is_configured_and_scales_past_a_full_tile(tmp_path, monkeypatch):
    from dsa110_resources.child_steps import FULL_TILE_MS_BYTES, step_timeout

    monkeypatch.setenv("DSA110_STEP_TIMEOUT", "100")
    small, big = tmp_path / "small.ms", tmp_path / "big.ms"
    small.mkdir()
    big.mkdir()
    (small / "table.f0").write_bytes(b"x" * 1000)
    with open(small / "table.f1", "wb") as f:
        f.truncate(3 * FULL_TILE_MS_BYTES)  # a sparse, never-written column: no work, no time
    assert step_timeout(small) == 100.0
    # 3 full tiles' worth of data takes 3x the time (written for real, so
    # counted; scaled down here: the limit only needs the ratio).
    monkeypatch.setattr("dsa110_resources.child_steps.FULL_TILE_MS_BYTES", 1 << 20)
    (big / "table.f0").write_bytes(b"\1" * (3 << 20))
    assert step_timeout(big) == pytest.approx(300.0, rel=0.01)
    monkeypatch.setenv("DSA110_STEP_TIMEOUT", "an hour")
    with pytest.raises(ValueError, match="DSA110_STEP_TIMEOUT"):
        step_timeout()
