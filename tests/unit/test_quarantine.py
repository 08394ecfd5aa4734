"""Quarantine keeps every copy of every raw file it is given, whatever the names."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pytest

from dsa110_resources.conversion.quarantine import quarantine_tile, quarantined_tiles
from dsa110_resources.stores import StorageTiers

TILE = "2025-10-13T13:25:07"
NAME = f"{TILE}_sb05.hdf5"


def _same_name_in_flat_and_sharded(incoming):
    """The correlator's flat directory and a date shard each hold a file of this name."""
    sharded = incoming / "2025-10-13"
    sharded.mkdir(parents=True)
    good, truncated = incoming / NAME, sharded / NAME
    good.write_bytes(b"good subband " * 100)
    truncated.write_bytes(b"trunc")
    return good, truncated


def test_same_named_files_are_both_kept_with_unique_names(tmp_path):
    tiers = StorageTiers(data_root=tmp_path / "data")
    good, truncated = _same_name_in_flat_and_sharded(tmp_path / "incoming")
    directory = quarantine_tile(tiers, TILE, [good, truncated], "sb05 is truncated")
    kept = sorted(p.read_bytes() for p in directory.iterdir() if p.name != "reason.txt")
    assert kept == sorted([b"good subband " * 100, b"trunc"])
    reason = (directory / "reason.txt").read_text()
    for source in (good, truncated):  # each source and where it went
        assert str(source) in reason
    assert "sb05.hdf5.1" in reason


def test_quarantining_a_tile_again_keeps_the_earlier_files_and_reasons(tmp_path):
    tiers = StorageTiers(data_root=tmp_path / "data")
    first = tmp_path / "a" / NAME
    first.parent.mkdir()
    first.write_bytes(b"first")
    quarantine_tile(tiers, TILE, [first], "first reason")
    second = tmp_path / "b" / NAME
    second.parent.mkdir()
    second.write_bytes(b"second")
    directory = quarantine_tile(tiers, TILE, [second], "second reason")
    assert sorted(p.read_bytes() for p in directory.iterdir() if p.name != "reason.txt") == [
        b"first", b"second"]
    reason = (directory / "reason.txt").read_text()
    assert "first reason" in reason and "second reason" in reason
    assert quarantined_tiles(tiers) == {TILE: "second reason"}  # the latest


def test_link_mode_never_replaces_a_quarantined_file(tmp_path):
    tiers = StorageTiers(data_root=tmp_path / "data")
    good, truncated = _same_name_in_flat_and_sharded(tmp_path / "incoming")
    directory = quarantine_tile(tiers, TILE, [good, truncated], "duplicate names", mode="link")
    assert good.exists() and truncated.exists()  # someone else's directory: left alone
    assert len([p for p in directory.iterdir() if p.name != "reason.txt"]) == 2


def test_moving_across_filesystems_copies_under_a_free_name(tmp_path):
    if not Path("/dev/shm").is_dir() or os.stat("/dev/shm").st_dev == os.stat(tmp_path).st_dev:
        pytest.skip("needs /dev/shm on another filesystem than the test's")
    tiers = StorageTiers(data_root=tmp_path / "data")
    taken = tmp_path / "taken" / NAME
    taken.parent.mkdir()
    taken.write_bytes(b"already here")
    quarantine_tile(tiers, TILE, [taken], "first")
    with tempfile.TemporaryDirectory(dir="/dev/shm") as other:
        source = Path(other) / NAME
        source.write_bytes(b"from another filesystem")
        directory = quarantine_tile(tiers, TILE, [source], "second")
        assert not source.exists()
    assert (directory / NAME).read_bytes() == b"already here"
    assert (directory / f"{NAME}.1").read_bytes() == b"from another filesystem"
    assert not [p for p in directory.iterdir() if p.name.startswith(".")]  # no litter
