"""The thermal-noise expectation follows the radiometer equation for what is unflagged."""

import astropy.units as u
import numpy as np
import pytest
from casacore.tables import default_ms, table

from dsa110_resources import constants
from dsa110_resources.qa.thermal import thermal_noise


def tiny_ms(path, n_ant=4, n_time=3, n_chan=8, flag_first_time=False):
    default_ms(str(path))
    a1, a2 = np.triu_indices(n_ant)  # autos included: they must not count
    rows = n_time * len(a1)
    with table(str(path), readonly=False, ack=False) as main:
        main.addrows(rows)
        main.putcol("ANTENNA1", np.tile(a1, n_time))
        main.putcol("ANTENNA2", np.tile(a2, n_time))
        main.putcol("EXPOSURE", np.full(rows, 12.884902))
        flags = np.zeros((rows, n_chan, 2), bool)
        if flag_first_time:
            flags[: len(a1)] = True
        main.putcol("FLAG", flags)
    with table(f"{path}::SPECTRAL_WINDOW", readonly=False, ack=False) as spw:
        spw.addrows(1)
        spw.putcell("CHAN_WIDTH", 0, np.full(n_chan, 244140.625))
    return n_ant * (n_ant - 1) // 2, n_time, n_chan


def test_radiometer_equation(tmp_path):
    n_bl, n_time, n_chan = tiny_ms(tmp_path / "a.ms")
    expected = constants.SEFD.to_value(u.Jy) / np.sqrt(
        2 * 2 * n_bl * n_time * n_chan * 244140.625 * 12.884902  # n_pol=2, N(N-1) = 2 x baselines
    )
    assert thermal_noise(tmp_path / "a.ms").to_value(u.Jy) == pytest.approx(expected, rel=1e-9)


def test_flags_raise_the_expectation(tmp_path):
    tiny_ms(tmp_path / "a.ms")
    tiny_ms(tmp_path / "b.ms", flag_first_time=True)
    ratio = (thermal_noise(tmp_path / "b.ms") / thermal_noise(tmp_path / "a.ms")).to_value(u.one)
    assert ratio == pytest.approx(np.sqrt(3 / 2))
