"""The calibration registry: validity windows, nearest-valid lookup, aging, refusal."""

from __future__ import annotations

import datetime as dt

import astropy.units as u
import pytest
from astropy.time import Time

from dsa110_resources.calibration import registry
from sqlalchemy import select

from dsa110_resources.db import Image, MeasurementSet, Tile
from dsa110_resources.db.session import ProductsDB

T0 = dt.datetime(2025, 10, 13, 12, 0, tzinfo=dt.UTC)


@pytest.fixture
def db(tmp_path):
    database = ProductsDB.sqlite(tmp_path / "products.sqlite")
    yield database
    database.dispose()


def _add(db, name, caltype, when, **kw):
    return registry.register_table(db, f"/data/caltables/{name}", caltype, when, **kw)


def test_windows_come_from_the_policy(db):
    b = _add(db, "a.bcal", "B", T0)
    g = _add(db, "a.gcal", "G", T0, policy=registry.ValidityPolicy(gain=30 * u.min))
    sel_b = registry.lookup_table(db, "B", T0)
    assert sel_b.id == b
    assert sel_b.valid_to - sel_b.valid_from == dt.timedelta(hours=24)
    sel_g = registry.lookup_table(db, "G", T0)
    assert sel_g.id == g and sel_g.valid_to - sel_g.valid_from == dt.timedelta(hours=1)


def test_reregistering_a_path_replaces_its_row(db):
    first = _add(db, "a.bcal", "B", T0, refant="103")
    second = _add(db, "a.bcal", "B", T0 + dt.timedelta(minutes=5), refant="104")
    assert first == second
    assert registry.lookup_table(db, "B", T0).solved_for == T0 + dt.timedelta(minutes=5)


def test_lookup_picks_nearest_valid_in_either_direction(db):
    early = _add(db, "early.gcal", "G", T0)
    late = _add(db, "late.gcal", "G", T0 + dt.timedelta(minutes=50))
    assert registry.lookup_table(db, "G", T0 + dt.timedelta(minutes=20)).id == early
    assert registry.lookup_table(db, "G", T0 + dt.timedelta(minutes=30)).id == late
    before = registry.lookup_table(db, "G", T0 - dt.timedelta(minutes=10))  # solved *after* the time
    assert before.id == early and before.offset < dt.timedelta(0)
    assert registry.lookup_table(db, "G", Time("2025-10-13T12:55:00")).id == late  # astropy Time works


def test_aging_warns_but_applies(db, caplog):
    _add(db, "a.bcal", "B", T0)
    _add(db, "a.gcal", "G", T0)
    selection = registry.select_tables(db, T0 + dt.timedelta(minutes=45))
    assert [t.caltype for t in selection.tables] == ["B", "G"]
    gain = selection.by_type("G")
    assert gain.aging and not selection.by_type("B").aging
    assert any("aging" in w for w in selection.warnings)
    assert "aging" in caplog.text


def test_stale_refuses_naming_what_is_missing(db):
    _add(db, "a.bcal", "B", T0)
    _add(db, "a.gcal", "G", T0)
    with pytest.raises(registry.NoValidCalibration) as info:
        registry.select_tables(db, T0 + dt.timedelta(hours=3))
    text = str(info.value)
    assert "complex gain (G)" in text and "stale" in text and "a.gcal" in text
    assert "bandpass (B)" not in text  # still valid
    assert info.value.missing.keys() == {"G"}
    with pytest.raises(registry.NoValidCalibration, match="bandpass.*stale"):
        registry.select_tables(db, T0 + dt.timedelta(days=3))


def test_empty_registry_says_none_registered(db):
    with pytest.raises(registry.NoValidCalibration, match="none registered"):
        registry.select_tables(db, T0)


def test_gains_bring_their_own_bandpass_and_delay(db):
    k = _add(db, "cal.kcal", "K", T0)
    b_cal = _add(db, "cal.bcal", "B", T0, parameters={"delay_table_id": k})
    _add(db, "newer.bcal", "B", T0 + dt.timedelta(hours=2))  # nearer to the science time
    g = _add(db, "sci.gcal", "G", T0 + dt.timedelta(hours=2),
             parameters={"bandpass_table_id": b_cal, "delay_table_id": k})
    selection = registry.select_tables(db, T0 + dt.timedelta(hours=2, minutes=5))
    assert [(t.caltype, t.id) for t in selection.tables] == [("K", k), ("B", b_cal), ("G", g)]
    assert not selection.warnings


def test_rejected_tables_are_not_selected(db):
    good = _add(db, "good.bcal", "B", T0)
    bad = _add(db, "bad.bcal", "B", T0 + dt.timedelta(minutes=5))
    registry.reject_table(db, bad, "phase scatter too high")
    assert registry.lookup_table(db, "B", T0 + dt.timedelta(minutes=5)).id == good


def test_a_retired_table_leaves_lookups_and_names_what_it_calibrated(db):
    early = _add(db, "early.bcal", "B", T0 - dt.timedelta(hours=3))
    bad = _add(db, "bad.bcal", "B", T0)
    registry.record_application(db, "/data/ms/a.ms", [bad])
    registry.record_application(db, "/data/ms/b.ms", [bad])
    registry.record_application(db, "/data/ms/c.ms", [early])
    with pytest.raises(ValueError, match="reason"):
        registry.retire_table(db, bad, "  ")
    with db.session() as s:  # the tiles behind a.ms and c.ms, each with an image
        for tile, ms in (("2025-10-13T12:00:07", "/data/ms/a.ms"), ("2025-10-13T09:00:07", "/data/ms/c.ms")):
            s.add(Tile(tile_id=tile, group_time=T0))
            s.flush()
            s.add_all([MeasurementSet(tile_id=tile, path=ms, kind="science"),
                       Image(tile_id=tile, path=f"/data/images/{tile}.image.fits", kind="image")])
    retired = registry.retire_table(db, bad, "RFI storm during the solve")
    with db.session() as s:  # what it calibrated is no longer a valid science product; the rest is
        assert dict(s.execute(select(Image.tile_id, Image.is_valid)).all()) == {
            "2025-10-13T12:00:07": False, "2025-10-13T09:00:07": True}
    assert (retired.id, retired.reason, retired.applied_to) == (bad, "RFI storm during the solve",
                                                                ("/data/ms/a.ms", "/data/ms/b.ms"))
    assert registry.lookup_table(db, "B", T0).id == early  # the next valid one takes over
    assert registry.calibrated_with_unusable_tables(db) == {"/data/ms/a.ms": [bad], "/data/ms/b.ms": [bad]}
    # Retiring again keeps the first reason; re-solving the same file makes it valid and says so.
    assert registry.retire_table(db, bad, "again").reason == "RFI storm during the solve"
    assert _add(db, "bad.bcal", "B", T0) == bad
    row = registry.lookup_table(db, "B", T0)
    assert row.id == bad
    with pytest.raises(KeyError, match="no calibration table with id 999"):
        registry.retire_table(db, 999, "gone")


def test_applications_are_recorded_and_replaced(db):
    b = _add(db, "a.bcal", "B", T0)
    g = _add(db, "a.gcal", "G", T0)
    registry.record_application(db, "/data/ms/x.ms", [g, b])
    assert [r.caltype for r in registry.applied_tables(db, "/data/ms/x.ms")] == ["B", "G"]
    registry.record_application(db, "/data/ms/x.ms", [b])
    assert [r.id for r in registry.applied_tables(db, "/data/ms/x.ms")] == [b]


def test_naive_datetimes_are_utc():
    naive = dt.datetime(2025, 1, 1, 0, 0)
    assert registry.as_datetime(naive).tzinfo is dt.UTC
    assert registry.as_datetime(Time("2025-01-01T00:00:00")) == naive.replace(tzinfo=dt.UTC)
