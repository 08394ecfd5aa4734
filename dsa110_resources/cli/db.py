"""``dsa110 db backup|restore``: the products database, SQLite or PostgreSQL."""

from __future__ import annotations

from pathlib import Path

import click

from ._common import data_root_option, db_url_option


def _url(data_root: Path, db_url: str | None) -> str:
    from dsa110_resources.stores import layout

    # Not session.sqlite_url: that creates the directory, and a backup must not.
    return db_url or f"sqlite:///{(Path(data_root) / layout.products_db_file()).resolve()}"


@click.group("db")
def command() -> None:
    """Products-database backup and restore (SQLite online backup; pg_dump/pg_restore)."""


@command.command("backup")
@click.argument("destination", type=click.Path(path_type=Path))
@data_root_option
@db_url_option
def backup_command(destination: Path, data_root: Path, db_url: str | None) -> None:
    """Back the database up to DESTINATION (a new file, or a directory for a dated name)."""
    from dsa110_resources.ops.backup import BackupError, backup

    try:
        click.echo(f"backed up to {backup(_url(data_root, db_url), destination)}")
    except BackupError as exc:
        raise click.ClickException(str(exc)) from None


@command.command("restore")
@click.argument("source", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@data_root_option
@db_url_option
def restore_command(source: Path, yes: bool, data_root: Path, db_url: str | None) -> None:
    """Replace the database with the backup SOURCE (the current one is saved first).

    Stop the Dagster daemon and run workers first: runs in flight would write
    into the restored database.
    """
    from dsa110_resources.db.session import safe_url
    from dsa110_resources.ops.backup import BackupError, restore

    url = _url(data_root, db_url)
    if not yes:
        click.confirm(f"Replace {safe_url(url)} with {source}?", abort=True)
    try:
        saved = restore(url, source)
    except BackupError as exc:
        raise click.ClickException(str(exc)) from None
    was = f"the database as it was is saved in {saved}" if saved else "there was no database before"
    click.echo(f"restored from {source}; {was}")
