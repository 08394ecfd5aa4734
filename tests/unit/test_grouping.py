"""Grouping subband files into tiles: names only, no file contents."""

from __future__ import annotations

import datetime as dt
import os
import time

import astropy.units as u
import pytest

from dsa110_resources.conversion.grouping import (
    TileState,
    find_subband_files,
    group_tiles,
    select_tile,
    subband_paths,
)
from dsa110_resources.conversion.naming import format_timestamp, parse_subband_name, parse_tile_id

T0 = dt.datetime(2025, 10, 13, 13, 25, 7, tzinfo=dt.UTC)


def names(start: dt.datetime, subbands=range(16), jitter=lambda sb: sb % 4) -> list[str]:
    return [f"{format_timestamp(start + dt.timedelta(seconds=jitter(sb)))}_sb{sb:02d}.hdf5" for sb in subbands]


def touch(directory, file_names, mtime=None):
    paths = []
    for name in file_names:
        path = directory / name
        path.write_bytes(b"")
        if mtime is not None:
            os.utime(path, (mtime, mtime))
        paths.append(path)
    return paths


def test_parse_names():
    assert parse_subband_name("2025-10-13T13:25:07_sb03.hdf5") == (T0, 3)
    for bad in ("2025-10-13T13:25:07_sb16.hdf5", "2025-13-13T13:25:07_sb03.hdf5",
                "2025-10-13T13:25:07_sb3.hdf5", "2025-10-13T13:25:07_sb03.h5", "x_sb03.hdf5"):
        assert parse_subband_name(bad) is None
    assert parse_tile_id("2025-10-13T13:25:07") == T0
    with pytest.raises(ValueError):
        parse_tile_id("2025-10-13 13:25")


def test_jittered_files_make_one_tile_named_by_earliest():
    refs = subband_paths(names(T0 + dt.timedelta(seconds=2)) + names(T0, [5], jitter=lambda sb: 0)[:0])
    groups = group_tiles(refs)
    assert len(groups) == 1
    assert groups[0].tile_id == "2025-10-13T13:25:09"
    assert groups[0].n_subbands == 16 and groups[0].missing_subbands == []


def test_consecutive_tiles_and_tolerance():
    second = T0 + dt.timedelta(seconds=309)
    refs = subband_paths(names(T0) + names(second))
    groups = group_tiles(refs)
    assert [g.tile_id for g in groups] == [format_timestamp(T0), format_timestamp(second)]
    # A tolerance shorter than the jitter splits a tile: the tolerance is honoured.
    assert len(group_tiles(refs, tolerance=1 * u.s)) > 2


def test_duplicates_are_kept_apart():
    refs = subband_paths(names(T0) + [f"{format_timestamp(T0 + dt.timedelta(seconds=20))}_sb04.hdf5"])
    (group,) = group_tiles(refs)
    assert group.n_subbands == 16
    assert [d.subband for d in group.duplicates] == [4]
    assert group.files[4].timestamp == T0  # the earliest is accepted


def test_stray_earlier_duplicate_neither_wins_nor_moves_the_tile():
    stray = f"{format_timestamp(T0 - dt.timedelta(seconds=20))}_sb04.hdf5"  # previous 5-min window
    (group,) = group_tiles(subband_paths([stray] + names(T0)))
    assert group.tile_id == format_timestamp(T0)
    assert group.files[4].timestamp == T0  # the file that agrees with the other 15
    assert [d.path.name for d in group.duplicates] == [stray]


def test_same_timestamp_duplicates_go_to_the_first_arrival(tmp_path):
    shard = tmp_path / "2025-10-13"
    shard.mkdir()
    now = time.time()
    sharded = touch(shard, names(T0), mtime=now - 50)
    flat = touch(tmp_path, names(T0, [7]), mtime=now - 100)  # the same name, arrived first
    for order in (sharded + flat, flat + sharded):
        (group,) = group_tiles(subband_paths(order))
        assert group.files[7].path == flat[0]
        assert [d.path for d in group.duplicates] == [shard / flat[0].name]


def test_known_tile_anchors_a_straggler_with_an_earlier_timestamp():
    late = subband_paths([f"{format_timestamp(T0 - dt.timedelta(seconds=5))}_sb07.hdf5"])
    (group,) = group_tiles(late, known_tiles=[format_timestamp(T0)])
    assert group.tile_id == format_timestamp(T0)


def test_states(tmp_path):
    now = time.time()
    old = now - 3600
    complete = touch(tmp_path, names(T0), mtime=old)
    semi = touch(tmp_path, names(T0 + dt.timedelta(minutes=10), range(13)), mtime=old)
    waiting = touch(tmp_path, names(T0 + dt.timedelta(minutes=20), range(14)), mtime=now)
    few = touch(tmp_path, names(T0 + dt.timedelta(minutes=30), range(5)), mtime=old)
    groups = group_tiles(subband_paths(complete + semi + waiting + few))
    when = dt.datetime.fromtimestamp(now, dt.UTC)
    states = [g.state(when, wait=10 * u.min) for g in groups]
    assert states == [TileState.COMPLETE, TileState.SEMI_COMPLETE, TileState.WAITING, TileState.TOO_FEW]
    assert groups[1].missing_subbands == [13, 14, 15]


def test_find_flat_and_date_sharded(tmp_path):
    touch(tmp_path, names(T0, range(8)))
    shard = tmp_path / "2025-10-13"
    shard.mkdir()
    touch(shard, names(T0, range(8, 16)))
    touch(tmp_path, [".partial-123-2025-10-13T13:25:07_sb00.hdf5", "notes.txt", "garbage.hdf5"])
    files, unparsed = find_subband_files(tmp_path)
    assert len(files) == 16
    assert [p.name for p in unparsed] == ["garbage.hdf5"]
    (group,) = group_tiles(files)
    assert group.n_subbands == 16
    assert select_tile([group], "2025-10-13T13:25:30") is group
    with pytest.raises(LookupError):
        select_tile([group], "2025-10-13T14:25:30")


def test_grouping_100k_names_scales_near_linearly():
    """A year of files must not group quadratically. Timed as a ratio of two
    sizes (best of two runs each) so a loaded machine does not fail it;
    bench/partitions.py measures the seconds."""
    def best_time(n_tiles: int) -> float:
        starts = [T0 + dt.timedelta(seconds=309 * i) for i in range(n_tiles)]
        refs = subband_paths(n for s in starts for n in names(s))
        best = float("inf")
        for _ in range(2):
            t = time.perf_counter()
            groups = group_tiles(refs)
            best = min(best, time.perf_counter() - t)
        assert len(groups) == n_tiles and all(g.n_subbands == 16 for g in groups)
        return best

    small, large = best_time(625), best_time(6250)  # 10k and 100k names
    assert large / small < 40, (small, large)  # n log n is ~12x; quadratic would be ~100x
