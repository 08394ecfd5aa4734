"""The soak, CI-sized: 12 tiles of the tiny array through the live sensors, 9 of them faulty.

Every kind of fault in ``dsa110_assets.soak`` appears once (seeded), plus a
file dated 2030; tile 3 is a 3C286 transit, so the tiles before it wait for
calibration until ``calibration_sensor`` releases them. ``check`` lists
every broken promise (good tile without its MS or its image, bad file not
quarantined with a reason naming it, a raw byte unaccounted for, a hidden or
unrecorded product, a failed sensor tick). ``bench/soak.py`` runs a whole day.
"""

from pathlib import Path

import pytest
from sqlalchemy import delete, select

from dsa110_resources.db import Image, ProductsDB
from dsa110_resources.db.session import sqlite_url
from dsa110_resources.stores import layout
from dsa110_assets.soak import FAULTS, SoakReport, SoakSettings, _instance, check, run_soak

pytestmark = [pytest.mark.casa, pytest.mark.slow]  # 83-93 s at a load of 2-2.5 on 2 cores (every good tile imaged)


def test_twelve_tiles_with_every_fault_lose_nothing_and_halt_nothing(tmp_path):
    settings = SoakSettings(root=tmp_path / "soak", n_tiles=12, seed=7)
    report = run_soak(settings, log=lambda m: None)
    summary = "\n".join(report.summary())
    print(summary)
    assert report.problems == [], summary
    assert set(report.faults.values()) == {"good", *FAULTS}
    assert report.runs["killed"] == 1 and report.runs["failed"] == 3  # the three quarantined tiles
    assert report.ticks > 2 * 12 and not report.tick_errors  # both sensors, every step
    # tiles before the transit waited and were released: calibrate-and-image runs
    assert report.runs["calibration released"] >= 1
    assert report.files["quarantined"] >= 3 + 3 + 1  # external, truncated tiles, misnamed files, 2030
    assert report.files["recorded late"] == 1 and report.files["recorded duplicate"] == 1

    # The check itself can fail: lose an MS input and leave a hidden partial in the product tree,
    # and a good tile's image: its file gone from disk, and another's record.
    lost = next(d.path for d in report.delivered if d.fault == "good")
    lost.unlink()
    partial = next((settings.data_root / "ms").glob("*/*")) / ".partial-x-tile.ms"
    partial.mkdir()
    good = [report.tile_ids[start] for start, fault in report.faults.items() if fault == "good"]
    images = _images(settings)
    Path(images[good[0]]["pbcor"]).unlink()
    _forget_image(settings, good[1], "image")
    again = SoakReport(faults=report.faults, runs=report.runs, delivered=report.delivered)
    check(settings, again, _instance(settings))
    assert any(lost.name in p and "gone from incoming" in p for p in again.problems), again.problems
    assert any(str(partial) in p for p in again.problems), again.problems
    assert any(good[0] in p and "pbcor image" in p and "missing on disk" in p for p in again.problems), again.problems
    assert any(good[1] in p and "no image image recorded" in p for p in again.problems), again.problems


def _images(settings) -> dict[str, dict[str, str]]:
    db = ProductsDB(sqlite_url(settings.data_root / layout.products_db_file()))
    with db.session() as s:
        rows = s.execute(select(Image.tile_id, Image.kind, Image.path)).all()
    db.dispose()
    out: dict[str, dict[str, str]] = {}
    for tile_id, kind, path in rows:
        out.setdefault(tile_id, {})[kind] = path
    return out


def _forget_image(settings, tile_id: str, kind: str) -> None:
    db = ProductsDB(sqlite_url(settings.data_root / layout.products_db_file()))
    with db.session() as s:
        s.execute(delete(Image).where(Image.tile_id == tile_id, Image.kind == kind))
    db.dispose()
