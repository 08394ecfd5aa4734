"""Calibrators from the catalogs at every declination, the carried-bandpass fallback, the QA gates.

No CASA here: transit planning over a week, registry and alert logic, gate
judgements and retirement on a real SQLite products DB. The CASA halves
(solves at +16 deg and +66 deg, a corrupted bandpass retired, gains on a sky
missing 5% of its flux with a carried bandpass) are in
tests/integration/test_calibration.py.
"""

from __future__ import annotations

import datetime as dt

import astropy.units as u
import numpy as np
import pytest
from astropy.coordinates import HADec
from astropy.time import Time

from dsa110_resources import constants as C
from dsa110_resources.calibration import gates, registry
from dsa110_resources.calibration.transits import transit_schedule
from dsa110_resources.catalogs import SkyCatalog
from dsa110_resources.catalogs.sources import CalibratorSources
from dsa110_resources.db.session import ProductsDB

#: Pointing declinations seen in real data (facts file): the two the built-in list misses, and +54.57.
DECLINATIONS = (16.27, 54.57, 65.72)
WEEK_START = Time("2025-10-13T00:00:00", scale="utc")

#: A calibrator list in the NRAO VLA format (the two J2000 entries at +65/+66 deg
#: are made up for the test; 3C138's block is as the VLA list gives it).
VLA_LIST = """\
0521+166   J2000  A 05h21m09.886021s  16d38'22.051220"  Aug01  3C138
-----------------------------------------------------
BAND        A B C D    FLUX(Jy)    UVMIN(kL)  UVMAX(kL)
=====================================================
 20cm    L  P P P P      8.47
  6cm    C  P P P P      3.86

1702+661   J2000  A 17h02m10.000000s  66d07'30.000000"  Aug01
-----------------------------------------------------
BAND        A B C D    FLUX(Jy)    UVMIN(kL)  UVMAX(kL)
=====================================================
 20cm    L  P P P P      4.60
  6cm    C  P P P P      2.30

2231+653   J2000  A 22h31m40.000000s  65d20'10.000000"  Aug01
-----------------------------------------------------
BAND        A B C D    FLUX(Jy)    UVMIN(kL)  UVMAX(kL)
=====================================================
 20cm    L  P P S S      1.90
"""


@pytest.fixture
def sources(tmp_path):
    path = tmp_path / "vla_calibrators.txt"
    path.write_text(VLA_LIST)
    # An NVSS-like catalog: one compact 2.5 Jy source at +54.9 deg (a catalog calibrator),
    # one resolved 3 Jy source (not one), faint ones (not either).
    sky = SkyCatalog(np.array(["NVSS J1000+5455", "NVSS J1200+5440", "NVSS J1300+5430"], object),
                     np.array([150.0, 180.0, 195.0]), np.array([54.92, 54.67, 54.5]),
                     np.array([2.5, 3.0, 0.2]), np.array([-0.8, -0.7, -0.7]),
                     major_arcsec=np.array([5.0, 60.0, 0.0]))
    catalog = sky.write_csv(tmp_path / "sky.csv")
    return CalibratorSources(calibrator_list=path, sky_catalog=catalog)


def test_one_source_of_calibrators_merges_list_standards_and_catalog(sources):
    cals = sources.calibrators()
    # 3C138 named by the list keeps its Perley-Butler model (the built-in entry), under both names.
    assert cals["0521+166"] is cals["3C138"] and cals["3C138"].standard == "3C138"
    assert cals["1702+661"].flux.to_value(u.Jy) == pytest.approx(4.6) and cals["1702+661"].standard is None
    assert "NVSS J1000+5455" in cals  # compact and bright
    assert "NVSS J1200+5440" not in cals and "NVSS J1300+5430" not in cals  # resolved; faint
    only_builtin = CalibratorSources().calibrators()
    assert "1702+661" not in only_builtin


def test_a_week_at_three_declinations_has_a_usable_transit_every_day(sources):
    """Every day of a week, at +16, +55 and +66 deg, some calibrator transits inside the beam.
    Checked independently: at each planned transit the source's apparent hour angle is ~0."""
    from dsa110_resources.conversion.phasing import meridian_centre

    cals = sources.calibrators()
    end = WEEK_START + 7 * u.day
    site = C.site_location()
    for dec in DECLINATIONS:
        plan = transit_schedule(dec * u.deg, WEEK_START, end, cals)
        days = {t.transit_time.utc.isot[:10] for t in plan}
        assert len(days) == 7, f"+{dec} deg: transits only on {sorted(days)}"
        for transit in plan:
            assert transit.beam_response >= 0.5
            coord = cals[transit.calibrator].coord
            ha = coord.transform_to(HADec(obstime=transit.transit_time, location=site)).ha.wrap_at(180 * u.deg)
            assert abs(ha.to_value(u.arcsec)) < 15 * 3.0  # within 3 s of time of the meridian
            centre = meridian_centre(transit.transit_time, dec * u.deg)
            assert centre.separation(coord).deg < 1.4  # and within the half-power radius
    # The built-in list alone leaves +66 deg without a single calibrator all week.
    assert transit_schedule(65.72 * u.deg, WEEK_START, end) == []


T0 = dt.datetime(2025, 10, 13, 12, 0, tzinfo=dt.UTC)


@pytest.fixture
def db(tmp_path):
    database = ProductsDB.sqlite(tmp_path / "products.sqlite")
    yield database
    database.dispose()


def test_days_without_a_transit_carry_the_bandpass_up_to_the_limit_and_alert(db, tmp_path, monkeypatch):
    from dsa110_resources.ops.alerts import Thresholds, findings
    from dsa110_resources.ops.health import collect
    from dsa110_resources.stores import StorageTiers

    b = registry.register_table(db, tmp_path / "day0.bcal", "B", T0)
    later = T0 + dt.timedelta(hours=30)  # the next day's transit was lost
    with pytest.raises(registry.NoValidCalibration):
        registry.lookup_table(db, "B", later)
    carried = registry.bandpass_for_gains(db, later)
    assert carried.id == b and carried.carried_forward and carried.age_hours == pytest.approx(30)
    # Sky-model gains solved on it bring it into the selection, with a warning naming it.
    registry.register_table(db, tmp_path / "day1.gcal", "G", later, parameters={"bandpass_table_id": b})
    selection = registry.select_tables(db, later)
    assert [t.id for t in selection.tables][0] == b and selection.by_type("B").carried_forward
    assert any("carried forward" in w and "30.0 h" in w for w in selection.warnings)
    # The alert says so while it lasts.
    tiers = StorageTiers(data_root=tmp_path / "data", fast_root=None)
    health = collect(db, tiers, tmp_path / "incoming", now=later)
    assert health.calibration_problem is None
    [alert] = [f for f in findings(health, Thresholds(min_free_fraction=0.0)) if f.key == "bandpass_age"]
    assert "30.0 h" in alert.summary and "limit 72 h" in alert.summary
    # Past the limit (set here to 24 h) nothing is carried: refused, and the calibration alert is critical.
    monkeypatch.setenv("DSA110_BANDPASS_MAX_AGE_HOURS", "24")
    with pytest.raises(registry.NoValidCalibration, match="carry-forward limit of 24 h"):
        registry.bandpass_for_gains(db, later)
    with pytest.raises(registry.NoValidCalibration, match="bandpass"):
        registry.select_tables(db, later)
    health = collect(db, tiers, tmp_path / "incoming", now=later)
    assert health.bandpass_carried is None and "bandpass (B)" in health.calibration_problem


GOOD_B = {"caltype": "B Jones", "n_antennas": 24, "flagged_fraction": 0.01, "median_snr": 30.0,
          "phase_scatter_deg": 2.0, "outliers": {}}


def test_gates_judge_each_figure():
    assert gates.judge(GOOD_B) == []
    assert gates.judge(None) == ["no QA figures recorded"]
    assert any("flagged" in p for p in gates.judge(dict(GOOD_B, flagged_fraction=0.5)))
    assert any("SNR" in p for p in gates.judge(dict(GOOD_B, median_snr=3.0)))
    assert any("phase scatter" in p for p in gates.judge(dict(GOOD_B, phase_scatter_deg=25.0)))
    one = {"7": ["phase scatter 30 deg vs median 2 deg"]}
    assert gates.judge(dict(GOOD_B, outliers=one)) == []  # one antenna: flagged by qa, not a bad table
    many = {str(a): ["amplitude 0.2 vs array median 1.0"] for a in range(4)}
    assert any("4 of 24 antennas are outliers" in p for p in gates.judge(dict(GOOD_B, outliers=many)))
    # G: SNR limit 10
    assert gates.judge(dict(GOOD_B, caltype="G Jones", median_snr=8.0))


def test_a_failing_table_is_retired_with_what_was_solved_on_it(db, tmp_path):
    bad = dict(GOOD_B, phase_scatter_deg=40.0)
    b = registry.register_table(db, tmp_path / "x.bcal", "B", T0, qa=bad)
    g = registry.register_table(db, tmp_path / "x.gcal", "G", T0, qa=dict(GOOD_B, caltype="G Jones", median_snr=200),
                                parameters={"bandpass_table_id": b})
    registry.record_application(db, tmp_path / "tile.ms", [b, g])
    failed = gates.enforce(db, {"B": b, "G": g})
    assert set(failed) == {b, g} and "phase scatter 40.0 deg" in failed[b][0]
    with pytest.raises(registry.NoValidCalibration):
        registry.select_tables(db, T0)
    assert gates.tiles_calibrated_with(db, failed) == [str(tmp_path / "tile.ms")]
    good = registry.register_table(db, tmp_path / "y.bcal", "B", T0, qa=GOOD_B)
    assert gates.enforce(db, [good]) == {} and registry.lookup_table(db, "B", T0).id == good
