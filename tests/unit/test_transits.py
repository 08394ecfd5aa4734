"""Which tiles hold a calibrator transit, ranked by beam-weighted flux (no CASA)."""

from __future__ import annotations

import astropy.units as u
import pytest
from astropy.time import Time

from dsa110_resources import constants as C
from dsa110_resources.calibration.transits import TilePointing, best_transit, find_transits, rank_calibrator_tiles
from dsa110_resources.catalogs import DEFAULT_CALIBRATORS, read_calibrator_csv
from dsa110_resources.simulation import calibrator_transit_start


def _tile(start: Time, dec: u.Quantity, tile_id: str = "t") -> TilePointing:
    return TilePointing.from_declination(tile_id, start, start + C.TILE_DURATION, dec)


@pytest.fixture(scope="module")
def transit_3c147():
    return calibrator_transit_start("3C147", Time("2025-10-13T00:00:00"))


def test_tile_centred_on_a_transit_is_found(transit_3c147):
    start, dec = transit_3c147
    found = find_transits(_tile(start, dec))
    assert [t.calibrator for t in found] == ["3C147"]
    transit = found[0]
    mid = start + C.TILE_DURATION / 2
    assert abs((transit.transit_time - mid).to_value(u.s)) < 2.0
    assert 0.95 < transit.beam_response < 1.0  # drift-averaged, slightly below the peak
    assert transit.weighted_flux.to_value(u.Jy) == pytest.approx(22.17 * transit.beam_response, rel=1e-6)


def test_neighbouring_tiles_do_not_hold_the_transit(transit_3c147):
    start, dec = transit_3c147
    assert find_transits(_tile(start - C.TILE_DURATION, dec)) == []
    assert find_transits(_tile(start + C.TILE_DURATION, dec)) == []


def test_pointing_far_from_the_calibrator_finds_nothing(transit_3c147):
    start, dec = transit_3c147
    assert find_transits(_tile(start, dec + 5 * u.deg)) == []
    # 1 deg off: still found, with less beam
    off = find_transits(_tile(start, dec + 1 * u.deg))
    assert off and off[0].beam_response < find_transits(_tile(start, dec))[0].beam_response


def test_ranking_by_beam_weighted_flux(transit_3c147, tmp_path):
    start, dec = transit_3c147
    # A fainter calibrator at the pointing beats a brighter one 2 deg away (beam ~0.2).
    cal = DEFAULT_CALIBRATORS["3C147"]
    csv = tmp_path / "cals.csv"
    csv.write_text(
        "name,ra_deg,dec_deg,flux_jy,spectral_index\n"
        f"FAINT,{cal.coord.ra.deg},{cal.coord.dec.deg},5.0,-0.7\n"
        f"BRIGHT,{cal.coord.ra.deg + 0.05},{cal.coord.dec.deg + 2.0},20.0,-0.7\n"
        "VAR,10.0,10.0,,-0.1\n"
    )
    table = read_calibrator_csv(csv)
    found = find_transits(_tile(start, dec), table, min_response=0.05)
    assert [t.calibrator for t in found] == ["FAINT", "BRIGHT"]
    assert found[0].weighted_flux > found[1].weighted_flux
    assert best_transit(_tile(start, dec), table, min_response=0.05).calibrator == "FAINT"
    tiles = [_tile(start + k * C.TILE_DURATION, dec, f"t{k}") for k in (-1, 0, 1)]
    ranked = rank_calibrator_tiles(tiles, table, min_response=0.05)
    assert {t.tile_id for t in ranked} == {"t0"}


def test_variable_calibrator_without_flux_is_skipped():
    start, dec = calibrator_transit_start("3C454.3", Time("2025-10-13T00:00:00"))
    assert find_transits(_tile(start, dec)) == []


VLA_LIST = """\
IAU NAME  EPOCH  POS.REF  RA                DEC               ALT. NAME
0834+555  J2000  A 08h34m54.904000s  55d34'21.07090"  Aug01  4C55.16
0831+557  B1950  A 08h31m04.379000s  55d44'41.41000"
-----------------------------------------------------
BAND        A B C D    FLUX(Jy)    UVMIN(kL)  UVMAX(kL)
=====================================================
 20cm    L  P P P P      8.80
  6cm    C  P P P P      4.40

2253+161  J2000  A 22h53m57.747939s  16d08'53.560890"  Aug01  3C454.3
-----------------------------------------------------
BAND        A B C D    FLUX(Jy)    UVMIN(kL)  UVMAX(kL)
=====================================================
  6cm    C  P P P P     10.00
"""


def test_vla_calibrator_list_format(tmp_path):
    import math

    from dsa110_resources.catalogs.vla_calibrators import read_calibrator_list

    path = tmp_path / "callist.txt"
    path.write_text(VLA_LIST)
    table = read_calibrator_list(path)
    cal = table["0834+555"]
    assert table["4C55.16"] is cal
    assert cal.flux.to_value(u.Jy) == 8.8
    assert cal.coord.ra.deg == pytest.approx(128.7288, abs=1e-3)
    assert cal.coord.dec.deg == pytest.approx(55.5725, abs=1e-3)
    assert cal.spectral_index == pytest.approx(math.log(0.5) / math.log(4.86 / 1.4))
    assert table["2253+161"].flux is None  # no L-band flux: none invented
    start, dec = calibrator_transit_start("0834+555", Time("2025-10-13T00:00:00"))
    assert [t.calibrator for t in find_transits(_tile(start, dec), table)] == ["0834+555"]
