"""Faulty and hostile input on the tiny simulated array: raw files are never
lost, bad input gets a clear error naming the file, nothing else stops."""

from __future__ import annotations

import shutil
import warnings
from pathlib import Path

import pytest
from astropy.time import Time
from click.testing import CliRunner

from dsa110_resources.cli import main
from dsa110_resources.simulation import SimulationConfig, write_tile

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
