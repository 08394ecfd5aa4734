"""``dsa110 apply``: apply the registry's valid tables to a Measurement Set."""

from __future__ import annotations

from pathlib import Path

import click

from ._common import data_root_option, db_url_option


@click.command("apply")
@click.argument("ms", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--table", "tables", multiple=True, type=click.Path(exists=True, file_okay=False, path_type=Path),
              help="Apply these (registered) tables instead of looking them up; repeatable.")
@click.option("--time", "when", help="Look tables up for this UTC time instead of the MS mid-time.")
@click.option("--require", default="B,G", show_default=True, help="Table types that must be found.")
@click.option("--bandpass-hours", type=float, default=None,
              help="Aging threshold base: bandpass validity half-width [default: constants].")
@click.option("--gain-hours", type=float, default=None, help="Gain validity half-width for aging [default: constants].")
@click.option("--dry-run", is_flag=True, help="Show which tables would be applied, then stop.")
@data_root_option
@db_url_option
def command(ms, tables, when, require, bandpass_hours, gain_hours, dry_run, data_root, db_url) -> None:
    """Pick valid bandpass/gain tables for MS from the registry, apply them and record it.

    Refuses (exit 1) with a message naming each missing table type when no
    registered table covers the tile's time.
    """
    import astropy.units as u
    from astropy.time import Time

    from dsa110_resources.calibration import NoValidCalibration, ValidityPolicy, apply_calibration, select_tables
    from dsa110_resources.tileinfo import TileInfo
    from dsa110_resources.casa import CasaTaskError
    from dsa110_resources.db import ProductsDB
    from dsa110_resources.stores import StorageTiers, layout

    tiers = StorageTiers(data_root=data_root)
    db = ProductsDB(db_url) if db_url else ProductsDB.sqlite(tiers.product_path(layout.products_db_file()))
    policy_args = {}
    if bandpass_hours is not None:
        policy_args["bandpass"] = bandpass_hours * u.hour
    if gain_hours is not None:
        policy_args["gain"] = gain_hours * u.hour
    try:
        if tables:
            chosen, warnings = list(tables), []
        else:
            time = Time(when, scale="utc") if when else TileInfo.read(ms).mid_time
            selection = select_tables(db, time, required=[t.strip() for t in require.split(",") if t.strip()],
                                      policy=ValidityPolicy(**policy_args))
            chosen, warnings = selection.tables, selection.warnings
        for message in warnings:
            click.echo(f"warning: {message}", err=True)
        for table in chosen:
            click.echo(f"  {getattr(table, 'caltype', '?')}: {getattr(table, 'path', table)}")
        if dry_run:
            return
        with tiers.staging("apply") as work:
            result = apply_calibration(ms, chosen, workdir=work, db=db)
    except (NoValidCalibration, LookupError, CasaTaskError) as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(f"applied {len(result.tables)} tables to {ms} in {result.seconds:.1f} s (recorded)")
