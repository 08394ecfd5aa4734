"""``dsa110 status``: the pipeline's health at a glance (``--json`` for machines)."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import click

from ._common import data_root_option, db_url_option
from ._ops import fast_root_option, incoming_option, open_db, stage_root_option, tiers


def _ago(now: dt.datetime, when: dt.datetime | None) -> str:
    if when is None:
        return "never"
    minutes = (now - when).total_seconds() / 60
    return f"{when:%Y-%m-%d %H:%M} UTC, {minutes:.0f} min ago" if minutes < 180 else \
        f"{when:%Y-%m-%d %H:%M} UTC, {minutes / 60:.1f} h ago"


def _text(health, active: dict, holding: list) -> list[str]:
    now = health.now
    lines = [f"DSA-110 pipeline status at {now:%Y-%m-%d %H:%M:%S} UTC"]
    if health.database_problem:
        lines.append(f"database      {health.database_problem}")
    lines.append(f"backlog       {health.files_waiting} recent files not yet recorded, {health.tiles_waiting} "
                 f"tiles waiting, {health.tiles_converted_not_imaged} converted but not imaged")
    tile, image, cal = health.last_tile, health.last_image, health.last_calibration
    lines.append("last tile     " + (f"{tile['tile_id']} ({tile['status']})" if tile else "none"))
    lines.append("last image    " + (f"{image['tile_id']} ({_ago(now, image['created_at'])})" if image else "none"))
    lines.append("last cal      " + (f"{cal['caltype']} {cal['path']} solved {_ago(now, cal['solved_for'])}, "
                                     f"valid to {cal['valid_to']:%Y-%m-%d %H:%M}" if cal else "none"))
    lines.append("calibration   " + (health.calibration_problem.replace("\n", " ")
                                     if health.calibration_problem else "valid for now"))
    lines.append(f"quarantined   {health.quarantined_last_hour} tiles in the last hour")
    if health.measures_checked:
        lines.append("measures      " + (health.measures_problem or "current"))
    for disk in health.disks:
        lines.append(f"disk {disk.tier:9}{disk.free_bytes / 1e9:9.1f} GB free of {disk.total_bytes / 1e9:.1f} GB "
                     f"({disk.free_fraction:.0%})  {disk.path}")
    if not active and not holding:
        lines.append("alerts        none")
    for key, entry in active.items():
        lines.append(f"alert         {key} ({entry['severity']}) since {entry['since']}: {entry['summary']}")
    for finding in holding:
        if finding.key not in active:
            lines.append(f"alert (new)   {finding.key} ({finding.severity}): {finding.summary}")
    return lines


@click.command("status")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON document instead of text.")
@click.option("--measures/--no-measures", default=True, show_default=True,
              help="Also read the CASA measures tables' ages.")
@click.option("--check", is_flag=True, help="Exit 1 when any alert condition holds (for monitors).")
@data_root_option
@db_url_option
@fast_root_option
@stage_root_option
@incoming_option
def command(as_json: bool, measures: bool, check: bool, data_root: Path, db_url: str | None,
            fast_root: str | None, stage_root: str | None, incoming: Path | None) -> None:
    """Backlog, last tile/image/calibration, disk levels of each tier and the alerts.

    'alert' lines are conditions the alert sensor has announced (state/alerts.json);
    'alert (new)' lines hold now but are not announced yet. Thresholds: DSA110_ALERT_*.
    """
    from dsa110_resources.ops.alerts import AlertBook, Thresholds, findings
    from sqlalchemy.exc import SQLAlchemyError

    from dsa110_resources.ops.health import collect, database_problem
    from dsa110_resources.stores import layout

    where = tiers(data_root, fast_root, stage_root)
    try:
        db, db_error = open_db(where, db_url), None
    except SQLAlchemyError as exc:  # report it with the figures that need no database
        db, db_error = None, database_problem(exc)
    try:
        health = collect(db, where, incoming, measures=measures, db_error=db_error)
    finally:
        if db is not None:
            db.dispose()
    active = AlertBook(where.product_path(layout.alert_state_file())).active()
    holding = findings(health, Thresholds.from_env())
    if as_json:
        document = health.as_dict()
        document["alerts"] = {"active": active, "holding": [vars(f) for f in holding]}
        click.echo(json.dumps(document, indent=1))
    else:
        click.echo("\n".join(_text(health, active, holding)))
    if check and holding:
        raise SystemExit(1)
