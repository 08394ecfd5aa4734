"""Faulty and hostile input on the tiny simulated array: raw files are never
lost, bad input gets a clear error naming the file, nothing else stops."""

from __future__ import annotations

import shutil
import warnings
from pathlib import Path

import astropy.units as u
import numpy as np
import pytest
from astropy.time import Time
from casacore import tables as ct
from click.testing import CliRunner

from dsa110_resources.cli import main
from dsa110_resources.conversion import TileQuarantined, convert_tile, convert_to_path, find_tiles
from dsa110_resources.stores import StorageTiers
from writers import held_open_by_writer
from dsa110_resources.simulation import SimulationConfig, write_tile
from dsa110_resources.simulation.faults import set_visibilities

START = Time("2025-10-13T13:25:07", scale="utc")
TILE = "2025-10-13T13:25:07"


@pytest.fixture(scope="module")
def tiny_tile(tmp_path_factory) -> Path:
    """sb00 and sb15 of one tiny tile (6 antennas), written once for the module."""
    directory = tmp_path_factory.mktemp("tiny") / "2025-10-13"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        write_tile(directory, START, SimulationConfig.tiny(seed=5))
    return directory


@pytest.fixture
def incoming(tiny_tile, tmp_path) -> Path:
    directory = tmp_path / "incoming"
    shutil.copytree(tiny_tile, directory, ignore=shutil.ignore_patterns("truth*"))
    return directory


def _raw_bytes(directory: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(directory.glob("*.hdf5"))}


def _convert(incoming: Path, output: Path, *extra: str):
    args = ["convert", "--dir", str(incoming), "--tile", TILE, "--force", "-o", str(output),
            "--fast-root", str(output.parent / "fast"), *extra]
    return CliRunner().invoke(main, args)


def test_convert_output_never_replaces_what_is_not_a_measurement_set(incoming, tmp_path):
    before = _raw_bytes(incoming)
    for extra in ((), ("--overwrite",)):
        result = _convert(incoming, incoming, *extra)
        assert result.exit_code != 0
        assert "not a Measurement Set" in result.output and str(incoming) in result.output
        assert _raw_bytes(incoming) == before  # the raw files are all still there
    a_file = tmp_path / "notes.txt"
    a_file.write_text("keep me")
    assert _convert(incoming, a_file, "--overwrite").exit_code != 0
    assert a_file.read_text() == "keep me"


def test_convert_replaces_an_existing_ms_only_with_overwrite(incoming, tmp_path):
    out = tmp_path / "out" / "tile.ms"
    out.parent.mkdir()
    first = _convert(incoming, out)
    assert first.exit_code == 0, first.output
    inode = (out / "table.dat").stat().st_ino
    again = _convert(incoming, out)
    assert again.exit_code != 0 and "--overwrite" in again.output
    assert (out / "table.dat").stat().st_ino == inode
    replaced = _convert(incoming, out, "--overwrite")
    assert replaced.exit_code == 0, replaced.output
    assert (out / "table.dat").stat().st_ino != inode


def test_nonfinite_visibilities_are_flagged_zeroed_and_counted(incoming, tmp_path):
    clean = convert_to_path(find_tiles(incoming)[0], tmp_path / "clean.ms", fast_root=tmp_path / "fast")
    victim = next(incoming.glob("*_sb00.hdf5"))
    bad = {(5, 3, 0): complex(np.nan, 0), (7, 10, 1): complex(np.inf, 1), (9, 20, 0): complex(1, -np.inf),
           (11, 47, 1): complex(np.nan, np.nan)}
    set_visibilities(victim, bad)  # as a faulty correlator would
    result = convert_to_path(find_tiles(incoming)[0], tmp_path / "dirty.ms", fast_root=tmp_path / "fast")
    assert result.nonfinite_visibilities == len(bad)
    assert clean.nonfinite_visibilities == 0
    with ct.table(str(result.ms_path), ack=False) as ms, ct.table(str(clean.ms_path), ack=False) as ref:
        data, flags, ref_flags = ms.getcol("DATA"), ms.getcol("FLAG"), ref.getcol("FLAG")
    assert np.isfinite(data).all()
    newly = flags & ~ref_flags
    assert newly.sum() == len(bad) and not data[newly].any()  # zero and flagged


def test_a_file_whose_name_disagrees_with_its_data_is_rejected(incoming, tmp_path):
    src = next(incoming.glob("*_sb15.hdf5"))
    misnamed = incoming / f"2025-10-13T13:35:07_sb15.hdf5"  # data start ~13:25:07
    src.rename(misnamed)
    group = next(g for g in find_tiles(incoming) if g.tile_id == "2025-10-13T13:35:07")
    tiers = StorageTiers(data_root=tmp_path / "data", fast_root=tmp_path / "fast")
    with pytest.raises(TileQuarantined) as error:
        convert_tile(group, tiers)
    message = str(error.value)
    assert misnamed.name in message and "name time" in message and "13:25:0" in message
    assert not (tmp_path / "data" / "ms").exists()


def test_convert_tile_leaves_a_file_held_by_its_writer_for_later(incoming, tmp_path):
    from dsa110_resources.conversion import FileNotReady

    group = find_tiles(incoming)[0]
    victim = group.paths[0]
    tiers = StorageTiers(data_root=tmp_path / "data", fast_root=tmp_path / "fast")
    with held_open_by_writer(victim):
        with pytest.raises(FileNotReady, match="lock"):
            convert_tile(group, tiers, settle=30 * u.s)
        assert victim.exists() and not (tmp_path / "data" / "quarantine").exists()
        with pytest.raises(TileQuarantined, match=victim.name):  # no settle: judged now
            convert_tile(group, tiers)
