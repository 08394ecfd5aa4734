"""``dsa110 lightcurve SOURCE``: print (and optionally plot) one source's light curve.

From the products database by default: the per-transit (daily) normalised
light curve the daily chain stored, and with ``--tiles`` every per-tile
measurement behind it (tile, beam response, raw and normalised flux, the
tile's correction). ``--lightcurves PATH`` reads a Parquet export instead (a
file, or a directory of files read as one table).
"""

from __future__ import annotations

from pathlib import Path

import click

from dsa110_resources.cli._common import data_root_option, db_url_option

lightcurves_option = click.option(
    "--lightcurves",
    "lightcurves_path",
    type=click.Path(exists=False, path_type=Path),
    default=None,
    envvar="DSA110_LIGHTCURVES",
    help="Read this Parquet file or directory of light-curve tables instead of the products database.",
)


def load_table(lightcurves_path: Path):
    from dsa110_resources.photometry.lightcurves import read_lightcurves

    if not lightcurves_path.exists():
        raise click.ClickException(f"no light curves at {lightcurves_path}")
    return read_lightcurves(lightcurves_path)


def open_products_db(data_root: Path, db_url: str | None):
    from dsa110_resources.cli._ops import open_db, tiers

    return open_db(tiers(data_root, None, None), db_url)


def with_tile_ids(table):
    """A table without tile ids (one measurement per source per epoch) makes each epoch its own tile."""
    if "tile_id" not in table.columns:
        table = table.assign(tile_id=table["epoch_mjd"].map(lambda m: f"epoch-{m:.6f}"))
    return table


def _echo_rows(rows, columns) -> None:
    labels = {c: c[:-3] + "_mJy" if c.endswith("_jy") else c for c in columns}
    widths = {c: max(10, len(labels[c])) for c in columns}
    click.echo(" ".join(f"{labels[c]:>{widths[c]}}" for c in columns))
    for _, r in rows.iterrows():
        cells = []
        for c in columns:
            v = r[c]
            if c.endswith("_jy"):
                cells.append(f"{1e3 * v:{widths[c]}.3f}" if v == v and v is not None else f"{'-':>{widths[c]}}")
            elif isinstance(v, float):
                cells.append(f"{v:{widths[c]}.4f}" if v == v else f"{'-':>{widths[c]}}")
            else:
                cells.append(f"{str(v):>{widths[c]}}")
        click.echo(" ".join(cells))


@click.command("lightcurve")
@click.argument("source")
@data_root_option
@db_url_option
@lightcurves_option
@click.option("--band", default=None, help="Only this band (default: all bands).")
@click.option("--tiles", "show_tiles", is_flag=True, help="Also print every per-tile measurement (database).")
@click.option("--normalise", is_flag=True, help="With --lightcurves: normalise first (the daily chain on the table).")
@click.option("--plot", "plot_path", type=click.Path(dir_okay=False, path_type=Path), help="Write a PNG here.")
def command(source, data_root, db_url, lightcurves_path, band, show_tiles, normalise, plot_path) -> None:
    """Print the light curve of SOURCE (a source_id); fluxes in mJy."""
    from dsa110_resources.photometry.plots import plot_light_curve

    if lightcurves_path is not None:
        _from_parquet(source, lightcurves_path, band, normalise, plot_path)
        return
    from dsa110_resources.photometry.store import source_measurements, source_transits

    db = open_products_db(data_root, db_url)
    transits = source_transits(db, source, band)
    tiles = source_measurements(db, [source], band)
    if transits.empty and tiles.empty:
        raise click.ClickException(f"source {source!r} has no measurements in the products database")
    click.echo(f"source {source}: {len(transits)} transits, {len(tiles)} tile measurements")
    if len(transits):
        click.echo("per transit (normalised):")
        _echo_rows(transits, ["day", "band", "epoch_mjd", "flux_jy", "flux_err_jy", "n_tiles"])
    elif not show_tiles:
        click.echo("no transit light curve stored yet (the daily chain has not run): per-tile rows follow")
        show_tiles = True
    if show_tiles and len(tiles):
        click.echo("per tile:")
        _echo_rows(tiles, ["tile_id", "band", "epoch_mjd", "pb_gain", "flux_jy", "flux_err_jy", "correction",
                           "norm_flux_jy", "norm_flux_err_jy"])
    if plot_path:
        rows = transits if len(transits) else tiles
        plot_light_curve(rows, plot_path, title=source, tiles=tiles if len(transits) else None)
        click.echo(f"plot written to {plot_path}")


def _from_parquet(source, lightcurves_path, band, normalise, plot_path) -> None:
    from dsa110_resources.photometry.daily import analyse_drift_scan
    from dsa110_resources.photometry.lightcurves import source_light_curve
    from dsa110_resources.photometry.plots import plot_light_curve

    table = load_table(lightcurves_path)
    if normalise and "norm_flux_jy" not in table.columns:
        table = analyse_drift_scan(with_tile_ids(table)).normalisation.table
    rows = source_light_curve(table, source)
    if band is not None:
        rows = rows[rows["band"] == band]
    if rows.empty:
        raise click.ClickException(f"source {source!r} has no measurements in the light-curve table")
    click.echo(f"source {source}: {len(rows)} measurements")
    columns = ["epoch_mjd", "band", "flux_jy", "flux_err_jy"]
    if "norm_flux_jy" in rows.columns:
        columns += ["norm_flux_jy", "norm_flux_err_jy"]
    _echo_rows(rows, columns)
    if plot_path:
        plot_light_curve(rows, plot_path, title=f"{source}")
        click.echo(f"plot written to {plot_path}")
