"""``dsa110 calibrate`` and ``dsa110 apply`` on a simulated calibrator tile."""

from __future__ import annotations

import shutil

import pytest
from astropy.time import Time
from click.testing import CliRunner

from dsa110_resources.cli import main

pytestmark = [pytest.mark.casa, pytest.mark.slow]


@pytest.fixture(scope="module")
def tile_ms(tmp_path_factory):
    import astropy.units as u

    from dsa110_resources.conversion.convert import convert_to_path
    from dsa110_resources.conversion.grouping import subband_paths
    from dsa110_resources.simulation import SimulationConfig, calibrator_transit_start, write_tile

    base = tmp_path_factory.mktemp("cli")
    start, dec = calibrator_transit_start("0834+555", Time("2025-10-13T00:00:00"))
    config = SimulationConfig(n_active_antennas=16, subbands=(3, 9), declination=dec, n_sources=5,
                              field_radius=3 * u.deg, calibrators=("0834+555",), gains=True, bandpass=True)
    truth = write_tile(base / "raw", start, config)
    return convert_to_path(subband_paths(truth.files.values()), base / f"{truth.tile_id}.ms", fast_root=None).ms_path


def test_help():
    runner = CliRunner()
    for name in ("calibrate", "apply"):
        result = runner.invoke(main, [name, "--help"])
        assert result.exit_code == 0 and "Usage" in result.output


def test_calibrate_then_apply(tile_ms, tmp_path):
    root = tmp_path / "data"
    ms = tmp_path / tile_ms.name
    shutil.copytree(tile_ms, ms)
    runner = CliRunner()
    done = runner.invoke(main, ["calibrate", str(ms), "--data-root", str(root)])
    assert done.exit_code == 0, done.output
    assert "calibrator: 0834+555" in done.output  # found from the tile's transit
    assert "B: " in done.output and "G: " in done.output
    done = runner.invoke(main, ["apply", str(ms), "--data-root", str(root)])
    assert done.exit_code == 0, done.output
    assert "applied 2 tables" in done.output
    stale = runner.invoke(main, ["apply", str(ms), "--data-root", str(root), "--time", "2025-10-16T00:00:00"])
    assert stale.exit_code != 0 and "no valid calibration" in stale.output and "bandpass (B)" in stale.output
