"""The soak, CI-sized: 12 tiles of the tiny array through the live sensor, 9 of them faulty.

Every kind of fault in ``dsa110_assets.soak`` appears once (seeded), plus a
file dated 2030; ``check`` lists every broken promise (good tile without its
MS, bad file not quarantined with a reason naming it, a raw byte unaccounted
for, a hidden or unrecorded product, a failed sensor tick). ``bench/soak.py``
runs a whole day.
"""

import pytest

from dsa110_assets.soak import FAULTS, SoakReport, SoakSettings, _instance, check, run_soak

pytestmark = [pytest.mark.casa, pytest.mark.slow]  # 18 s quiet, ~100 s at a load of 12


def test_twelve_tiles_with_every_fault_lose_nothing_and_halt_nothing(tmp_path):
    settings = SoakSettings(root=tmp_path / "soak", n_tiles=12, seed=7)
    report = run_soak(settings, log=lambda m: None)
    summary = "\n".join(report.summary())
    print(summary)
    assert report.problems == [], summary
    assert set(report.faults.values()) == {"good", *FAULTS}
    assert report.runs["killed"] == 1 and report.runs["failed"] == 3  # the three quarantined tiles
    assert report.ticks > 12 and not report.tick_errors
    assert report.files["quarantined"] >= 3 + 3 + 1  # external, truncated tiles, misnamed files, 2030
    assert report.files["recorded late"] == 1 and report.files["recorded duplicate"] == 1

    # The check itself can fail: lose an MS input and leave a hidden partial in the product tree.
    lost = next(d.path for d in report.delivered if d.fault == "good")
    lost.unlink()
    partial = next((settings.data_root / "ms").glob("*/*")) / ".partial-x-tile.ms"
    partial.mkdir()
    again = SoakReport(faults=report.faults, runs=report.runs, delivered=report.delivered)
    check(settings, again, _instance(settings))
    assert any(lost.name in p and "gone from incoming" in p for p in again.problems), again.problems
    assert any(str(partial) in p for p in again.problems), again.problems
