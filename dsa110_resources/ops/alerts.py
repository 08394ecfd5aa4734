"""Alert conditions over a ``Health`` snapshot, and their de-duplication.

``findings`` says which conditions hold now. ``AlertBook`` remembers which
ones were already announced (a JSON file beside the products DB, so the
status command reads the same state the sensor keeps): a condition fires
once when it starts and once more when it clears, never on every tick.
Thresholds come from the environment (``DSA110_ALERT_*``, see README).
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
from dataclasses import asdict, dataclass
from pathlib import Path

from .health import Health
from .sinks import Alert, deliver

log = logging.getLogger(__name__)

FIRING, CLEARED = "firing", "cleared"


@dataclass(frozen=True)
class Thresholds:
    freshness_minutes: float = 60.0  # no new image this long while files arrive
    min_free_fraction: float = 0.10  # of each tier's filesystem
    max_quarantined_per_hour: int = 3

    @classmethod
    def from_env(cls) -> Thresholds:
        def number(name: str, default, kind=float):
            text = os.environ.get(name)
            try:
                return kind(text) if text else default
            except ValueError:
                raise ValueError(f"{name} must be a number, got {text!r}") from None

        return cls(number("DSA110_ALERT_FRESHNESS_MINUTES", cls.freshness_minutes),
                   number("DSA110_ALERT_MIN_FREE_FRACTION", cls.min_free_fraction),
                   number("DSA110_ALERT_MAX_QUARANTINE_PER_HOUR", cls.max_quarantined_per_hour, int))


@dataclass(frozen=True)
class Finding:
    """A condition that holds now."""

    key: str
    severity: str  # warning | critical
    summary: str


def findings(health: Health, limits: Thresholds) -> list[Finding]:
    """Every alert condition that holds in ``health``."""
    found = []
    if health.database_problem:
        found.append(Finding("database", "critical", health.database_problem))
    window = dt.timedelta(minutes=limits.freshness_minutes)
    arriving = health.incoming_newest is not None and health.now - health.incoming_newest <= window
    # Files must have been there a whole window: a just-started feed is not late yet.
    waited = health.incoming_oldest is not None and health.now - health.incoming_oldest >= window
    last_image = health.last_image["created_at"] if health.last_image else None
    if arriving and waited and (last_image is None or health.now - last_image > window):
        since = "ever" if last_image is None else f"since {last_image:%Y-%m-%d %H:%M} UTC"
        found.append(Finding("freshness", "critical",
                             f"no new image for {limits.freshness_minutes:g} min while files arrive "
                             f"(none {since}; {health.tiles_converted_not_imaged} tiles converted, not imaged)"))
    filesystems: dict[int, list] = {}  # one alert per filesystem, naming the tiers on it
    for disk in health.disks:
        filesystems.setdefault(disk.device, []).append(disk)
    for disks in filesystems.values():
        disk = disks[0]
        if disk.free_fraction < limits.min_free_fraction:
            severity = "critical" if disk.free_fraction < limits.min_free_fraction / 2 else "warning"
            tiers = "+".join(d.tier for d in disks)
            found.append(Finding(f"disk:{tiers}", severity,
                                 f"{tiers} ({', '.join(d.path for d in disks)}): {disk.free_fraction:.1%} free "
                                 f"({disk.free_bytes / 1e9:.1f} GB; limit {limits.min_free_fraction:.0%})"))
    if health.calibration_problem:
        found.append(Finding("calibration", "critical", health.calibration_problem.replace("\n", " ")))
    if health.bandpass_carried:
        found.append(Finding("bandpass_age", "warning", health.bandpass_carried))
    if health.quarantined_last_hour > limits.max_quarantined_per_hour:
        found.append(Finding("quarantine_rate", "warning",
                             f"{health.quarantined_last_hour} tiles quarantined in the last hour "
                             f"(limit {limits.max_quarantined_per_hour})"))
    if health.measures_problem:
        found.append(Finding("measures", "warning", health.measures_problem))
    return found


#: A notification a sink failed to take is retried on later ticks, this many times in all.
MAX_ATTEMPTS = 12


class AlertBook:
    """The conditions announced and not yet cleared, and notifications still to deliver, in a JSON file."""

    def __init__(self, path: Path):
        self.path = Path(path)

    def _load(self) -> dict:
        try:
            document = json.loads(self.path.read_text())
            document["active"]
        except FileNotFoundError:
            return {"active": {}, "pending": []}
        except (ValueError, KeyError, TypeError) as exc:
            raise ValueError(f"alert state {self.path} is unreadable ({exc}); remove it to start afresh") from None
        document.setdefault("pending", [])
        return document

    def active(self) -> dict[str, dict]:
        """``{key: {"since", "severity", "summary"}}``; empty when none (or no file yet)."""
        return self._load()["active"]

    def pending(self) -> list[dict]:
        """``[{"alert": {...}, "sinks": [names], "attempts": n}]``: deliveries that failed."""
        return self._load()["pending"]

    def _save(self, document: dict) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_name(f".{self.path.name}.{os.getpid()}")
        tmp.write_text(json.dumps(document, indent=1, sort_keys=True))
        os.replace(tmp, self.path)  # a reader never sees half a file

    def update(self, found: list[Finding], now: dt.datetime) -> list[Alert]:
        """Record ``found``; return the alerts to send (new conditions, cleared ones)."""
        document = self._load()
        before, active, alerts = document["active"], {}, []
        for f in found:
            if f.key in before:
                active[f.key] = dict(before[f.key], summary=f.summary)  # latest figures, no resend
                continue
            active[f.key] = {"since": now.isoformat(timespec="seconds"), "severity": f.severity,
                             "summary": f.summary}
            alerts.append(Alert(f.key, FIRING, f.severity, f.summary, active[f.key]["since"]))
        for key, entry in before.items():
            if key not in active:
                alerts.append(Alert(key, CLEARED, entry["severity"], f"cleared: {entry['summary']}",
                                    entry["since"], {"cleared": now.isoformat(timespec="seconds")}))
        if active != before:
            self._save(dict(document, active=active))
        return alerts

    def set_pending(self, pending: list[dict]) -> None:
        document = self._load()
        if document["pending"] != pending:
            self._save(dict(document, pending=pending))


def _failed(outcome: dict[str, str]) -> list[str]:
    return [name for name, result in outcome.items() if result != "ok"]


def evaluate(health: Health, book: AlertBook, sinks, limits: Thresholds | None = None) -> list[Alert]:
    """One alert tick: find the conditions, announce what changed, return it.

    A sink that fails (relay down) gets the alert again on later ticks, up to
    ``MAX_ATTEMPTS`` in all; the other sinks are not sent it twice.
    """
    alerts = book.update(findings(health, limits or Thresholds.from_env()), health.now)
    pending = []
    for entry in book.pending():
        targets = [s for s in sinks if s.name in entry["sinks"]]
        failed = _failed(deliver(Alert(**entry["alert"]), targets))
        if failed and entry["attempts"] + 1 < MAX_ATTEMPTS:
            pending.append(dict(entry, sinks=failed, attempts=entry["attempts"] + 1))
        elif failed:
            log.error("giving up on alert %s to %s after %d attempts", entry["alert"]["key"], failed, MAX_ATTEMPTS)
    for alert in alerts:
        if failed := _failed(deliver(alert, sinks)):
            pending.append({"alert": asdict(alert), "sinks": failed, "attempts": 1})
    book.set_pending(pending)
    return alerts
