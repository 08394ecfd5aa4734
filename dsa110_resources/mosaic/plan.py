"""Which tiles make a mosaic, which are missing or left out, and why.

The Dagster layer feeds tile records from the products DB (or the CLI from
files on disk); the plan decides, with a reason for every tile in the range
that is not used, so the mosaic's metadata can say exactly what went in:

* ``excluded``: a tile exists but is not used: QA failed (its reason), image
  or beam file missing, or pointed at another declination than the mosaic's.
* ``missing``: gaps in the ~309 s tile cadence where no tile exists at all
  (telescope down, files never arrived), reported as time intervals with the
  number of tiles that would fit.

``ready`` tells a sensor when to build: once the range has ended and the tile
cadence is complete to its end, or after a deadline with whatever is there.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import astropy.units as u
import numpy as np
from astropy.time import Time

from dsa110_resources import constants as C

#: Tiles within this of the mosaic's declination share its strip.
DEC_TOLERANCE = 0.5 * u.deg


@dataclass(frozen=True)
class TileRecord:
    """One tile as the products DB knows it. ``qa_passed=None``: not judged (counts as pass)."""

    tile_id: str
    time: Time  # tile start (the tile id's timestamp)
    image_path: Path | None
    pb_path: Path | None = None
    noise_jy: float | None = None
    qa_passed: bool | None = None
    qa_reason: str | None = None
    declination: u.Quantity | None = None


@dataclass
class MosaicPlan:
    start: Time
    end: Time
    declination: u.Quantity | None
    included: list[TileRecord] = field(default_factory=list)
    excluded: list[tuple[TileRecord, str]] = field(default_factory=list)
    missing: list[tuple[Time, Time, int]] = field(default_factory=list)  # gap start, end, tiles that fit

    @property
    def n_missing(self) -> int:
        return sum(n for _, _, n in self.missing)

    @property
    def expected(self) -> int:
        return len(self.included) + len(self.excluded) + self.n_missing

    def ready(self, now: Time, deadline: u.Quantity = 30 * u.min) -> bool:
        """Build now? After ``end`` with no tile missing at the end of the range, or after end + deadline."""
        now = Time(now)
        if now >= self.end + deadline:
            return True
        if now < self.end:
            return False
        return not any(gap_end >= self.end - 1 * u.s for _, gap_end, _ in self.missing)

    def summary(self) -> dict:
        """Plain dict for asset metadata and headers."""
        return {
            "start": self.start.utc.isot,
            "end": self.end.utc.isot,
            "declination_deg": None if self.declination is None else float(self.declination.to_value(u.deg)),
            "included": [r.tile_id for r in self.included],
            "excluded": {r.tile_id: reason for r, reason in self.excluded},
            "missing": [{"from": a.utc.isot, "to": b.utc.isot, "tiles": n} for a, b, n in self.missing],
            "n_expected": self.expected,
        }


def _cadence_gaps(times: list[Time], start: Time, end: Time, cadence: u.Quantity) -> list[tuple[Time, Time, int]]:
    """Intervals of [start, end) with room for whole tiles that are not there."""
    edges = [start - cadence] + sorted(times, key=lambda t: t.mjd) + [end]
    gaps = []
    for a, b in zip(edges[:-1], edges[1:], strict=True):
        n = int(np.floor(((b - a) / cadence).decompose().value + 0.5)) - 1
        if b is edges[-1]:  # the last tile may start up to one cadence before end
            n = int(np.floor(((b - a) / cadence).decompose().value - 0.5))
        if n > 0:
            gaps.append((max(a + cadence, start, key=lambda t: t.mjd), b, n))
    return gaps


def plan_mosaic(
    records: list[TileRecord],
    start: Time,
    end: Time,
    *,
    declination: u.Quantity | None = None,
    cadence: u.Quantity = C.TILE_DURATION,
    dec_tolerance: u.Quantity = DEC_TOLERANCE,
    check_files: bool = True,
) -> MosaicPlan:
    """Sort the tiles starting in [start, end) into included / excluded, and find the gaps.

    ``declination``: the mosaic's strip; by default the most common tile
    declination (rounded to 0.1 deg) in the range.
    """
    start, end = Time(start, scale="utc"), Time(end, scale="utc")
    in_range = [r for r in records if start <= Time(r.time) < end]
    if declination is None:
        decs = [round(float(r.declination.to_value(u.deg)), 1) for r in in_range if r.declination is not None]
        declination = Counter(decs).most_common(1)[0][0] * u.deg if decs else None
    plan = MosaicPlan(start, end, declination)
    for r in sorted(in_range, key=lambda r: Time(r.time).mjd):
        reason = None
        if r.qa_passed is False:
            reason = f"QA failed: {r.qa_reason or 'no reason recorded'}"
        elif r.image_path is None or (check_files and not Path(r.image_path).exists()):
            reason = f"image file missing: {r.image_path}"
        elif check_files and r.pb_path is not None and not Path(r.pb_path).exists():
            reason = f"primary-beam file missing: {r.pb_path}"
        elif declination is not None and r.declination is not None and \
                abs(r.declination - declination) > dec_tolerance:
            reason = f"pointed at Dec {r.declination.to_value(u.deg):.2f} deg, mosaic strip is {declination:.2f}"
        if reason:
            plan.excluded.append((r, reason))
        else:
            plan.included.append(r)
    plan.missing = _cadence_gaps([Time(r.time) for r in in_range], start, end, cadence)
    return plan


def hourly_plan(records: list[TileRecord], hour_start: Time, **kwargs) -> MosaicPlan:
    hour_start = Time(hour_start, scale="utc")
    return plan_mosaic(records, hour_start, hour_start + 1 * u.hour, **kwargs)


def nightly_plan(records: list[TileRecord], day: str | Time, **kwargs) -> MosaicPlan:
    start = Time(str(Time(day).utc.isot)[:10] + "T00:00:00", scale="utc")
    return plan_mosaic(records, start, start + 1 * u.day, **kwargs)
