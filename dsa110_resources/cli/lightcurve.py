"""``dsa110 lightcurve SOURCE``: print (and optionally plot) one source's light curve.

Light curves are read from Parquet (a file, or a directory of daily files as
the photometry export writes them) until the products database holds
photometry tables; by default ``<data-root>/photometry``.
"""

from __future__ import annotations

from pathlib import Path

import click

from dsa110_resources.cli._common import data_root_option

lightcurves_option = click.option(
    "--lightcurves",
    "lightcurves_path",
    type=click.Path(exists=False, path_type=Path),
    default=None,
    envvar="DSA110_LIGHTCURVES",
    help="Parquet file or directory of light-curve tables [default: <data-root>/photometry].",
)


def load_table(data_root: Path, lightcurves_path: Path | None):
    from dsa110_resources.photometry.lightcurves import read_lightcurves

    path = lightcurves_path or data_root / "photometry"
    if not path.exists():
        raise click.ClickException(f"no light curves at {path} (give --lightcurves)")
    return read_lightcurves(path)


@click.command("lightcurve")
@click.argument("source")
@data_root_option
@lightcurves_option
@click.option("--band", default=None, help="Only this band (default: all bands).")
@click.option("--normalise", is_flag=True, help="Normalise first (daily chain over the whole table).")
@click.option("--plot", "plot_path", type=click.Path(dir_okay=False, path_type=Path), help="Write a PNG here.")
def command(source, data_root, lightcurves_path, band, normalise, plot_path) -> None:
    """Print the light curve of SOURCE (a source_id) and optionally plot it."""
    from dsa110_resources.photometry.daily import analyse_light_curves, normalised_table
    from dsa110_resources.photometry.lightcurves import source_light_curve
    from dsa110_resources.photometry.plots import plot_light_curve

    table = load_table(data_root, lightcurves_path)
    if normalise and "norm_flux_jy" not in table.columns:
        products = analyse_light_curves(table, band)
        table = normalised_table(products.matrix, products.normalisation)
    rows = source_light_curve(table, source)
    if band is not None:
        rows = rows[rows["band"] == band]
    if rows.empty:
        raise click.ClickException(f"source {source!r} has no measurements in the light-curve table")
    has_norm = "norm_flux_jy" in rows.columns
    header = f"{'epoch_mjd':>12} {'band':>6} {'flux_mJy':>10} {'err_mJy':>8}"
    click.echo(f"source {source}: {len(rows)} measurements")
    click.echo(header + (f" {'norm_mJy':>10} {'nerr_mJy':>8}" if has_norm else ""))
    for _, r in rows.iterrows():
        line = f"{r.epoch_mjd:12.4f} {str(r.band):>6} {1e3 * r.flux_jy:10.3f} {1e3 * r.flux_err_jy:8.3f}"
        if has_norm:
            line += f" {1e3 * r.norm_flux_jy:10.3f} {1e3 * r.norm_flux_err_jy:8.3f}"
        click.echo(line)
    if plot_path:
        plot_light_curve(rows, plot_path, title=f"{source}")
        click.echo(f"plot written to {plot_path}")
