"""``dsa110 caltables``: what the calibration registry holds, and retiring a table.

A retired table is never chosen again; its row stays with the reason. The
Measurement Sets it calibrated are listed; on a running pipeline
``calibration_sensor`` re-calibrates them with the next valid tables (or
leaves them "awaiting calibration") and the UI marks their windows stale.
"""

from __future__ import annotations

from pathlib import Path

import click

from ._common import data_root_option, db_url_option
from ._ops import open_db, tiers


@click.group("caltables")
def command() -> None:
    """List calibration tables; retire a bad one."""


@command.command("list")
@click.option("--status", type=click.Choice(["valid", "retired", "rejected", "all"]), default="all",
              show_default=True)
@data_root_option
@db_url_option
def list_tables(status: str, data_root: Path, db_url: str | None) -> None:
    """One line per table: id, type, status, solved for, validity, source tile, path."""
    from sqlalchemy import select

    from dsa110_resources.db import CalibrationTable

    db = open_db(tiers(data_root, None, None), db_url)
    with db.session() as s:
        query = select(CalibrationTable).order_by(CalibrationTable.solved_for, CalibrationTable.caltype)
        if status != "all":
            query = query.where(CalibrationTable.status == status)
        rows = s.scalars(query).all()
    for r in rows:
        reason = (r.qa or {}).get("retired", {}).get("reason", "")
        click.echo(f"{r.id:6d}  {r.caltype}  {r.status:8s}  {r.solved_for:%Y-%m-%dT%H:%M:%S}  "
                   f"{r.valid_from:%m-%dT%H:%M}..{r.valid_to:%m-%dT%H:%M}  {r.source_tile_id or '-':19s}  "
                   f"{r.path}" + (f"  ({reason})" if reason else ""))


@command.command("retire")
@click.argument("table_id", type=int)
@click.option("--reason", required=True, help="Why (kept with the table).")
@data_root_option
@db_url_option
def retire(table_id: int, reason: str, data_root: Path, db_url: str | None) -> None:
    """Take calibration table TABLE_ID out of use for good."""
    from dsa110_resources.calibration.registry import retire_table

    db = open_db(tiers(data_root, None, None), db_url)
    try:
        retired = retire_table(db, table_id, reason)
    except (KeyError, ValueError) as exc:
        raise click.ClickException(str(exc.args[0] if exc.args else exc)) from exc
    click.echo(f"retired {retired.caltype} table {retired.id} ({retired.path}): {retired.reason}")
    click.echo(f"it had calibrated {len(retired.applied_to)} measurement set(s); calibration_sensor"
               " re-calibrates them with the next valid tables:")
    for path in retired.applied_to:
        click.echo(f"  {path}")


@command.command("waiting")
@data_root_option
@db_url_option
def waiting(data_root: Path, db_url: str | None) -> None:
    """Tiles awaiting calibration, with what they lack."""
    from sqlalchemy import select

    from dsa110_assets.tile_windows import AWAITING_CALIBRATION
    from dsa110_resources.db import Tile

    db = open_db(tiers(data_root, None, None), db_url)
    with db.session() as s:
        rows = s.scalars(select(Tile).where(Tile.reason.like(f"{AWAITING_CALIBRATION}:%"))
                         .order_by(Tile.tile_id)).all()
    click.echo(f"{len(rows)} tile(s) awaiting calibration")
    for tile in rows:
        why = tile.reason.removeprefix(f"{AWAITING_CALIBRATION}:").strip().replace("\n", " ")
        click.echo(f"  {tile.tile_id}  window {tile.partition_key}  {why}")
