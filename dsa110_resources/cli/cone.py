"""``dsa110 cone RA DEC``: sources with photometry near a position, and an export of their measurements.

Reads the products database. ``--export FILE`` (.csv or .parquet) writes
every per-tile measurement of the sources found (raw and normalised flux,
beam response, the tile's correction, the image it came from);
``--cutouts DIR`` also cuts a FITS stamp around the source from each image
still on disk and adds its path (``cutout_path``).
"""

from __future__ import annotations

from pathlib import Path

import click

from dsa110_resources.cli._common import data_root_option, db_url_option
from dsa110_resources.cli.lightcurve import open_products_db


@click.command("cone")
@click.argument("ra", type=float)
@click.argument("dec", type=float)
@click.option("--radius", type=float, default=30.0, show_default=True, help="Search radius (arcsec).")
@data_root_option
@db_url_option
@click.option("--export", "export_path", type=click.Path(dir_okay=False, path_type=Path),
              help="Write the sources' per-tile measurements here (.csv or .parquet).")
@click.option("--cutouts", "cutout_dir", type=click.Path(file_okay=False, path_type=Path),
              help="Write a FITS cut-out per measurement whose image exists, here.")
@click.option("--cutout-size", type=float, default=12.0, show_default=True, help="Cut-out side (arcmin).")
def command(ra, dec, radius, data_root, db_url, export_path, cutout_dir, cutout_size) -> None:
    """List the sources within RADIUS of RA DEC (degrees, ICRS) and export their measurements."""
    import astropy.units as u

    from dsa110_resources.photometry.cutouts import write_cutout
    from dsa110_resources.photometry.store import cone_search, source_measurements

    if export_path is not None and export_path.suffix not in (".csv", ".parquet"):
        raise click.BadParameter(f"{export_path}: export to a .csv or .parquet file", param_hint="--export")
    db = open_products_db(data_root, db_url)
    try:
        found = cone_search(db, ra, dec, radius / 3600.0)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--radius") from exc
    click.echo(f"{len(found)} sources within {radius:g} arcsec of ({ra:.5f}, {dec:+.5f})")
    for r in found.itertuples():
        click.echo(f"{r.source_id:>16} {r.ra_deg:10.5f} {r.dec_deg:+9.5f} {r.separation_arcsec:7.1f}\""
                   f" {r.n_measurements:6d} measurements MJD {r.first_mjd:.2f}-{r.last_mjd:.2f}")
    if found.empty or (export_path is None and cutout_dir is None):
        return
    rows = source_measurements(db, found["source_id"])
    if cutout_dir is not None:
        paths = []
        for r in rows.itertuples():
            image = Path(r.image_path)
            out = None
            if image.is_file():
                name = f"{r.source_id}_{r.tile_id}_{r.band}.fits".replace(":", "").replace("/", "_")
                out = write_cutout(image, r.ra_deg, r.dec_deg, cutout_dir / name, cutout_size * u.arcmin)
            paths.append(str(out) if out else None)
        rows["cutout_path"] = paths
        click.echo(f"{sum(p is not None for p in paths)} cut-outs written to {cutout_dir}"
                   f" ({sum(p is None for p in paths)} images no longer on disk or off the image)")
    if export_path is not None:
        export_path.parent.mkdir(parents=True, exist_ok=True)
        if export_path.suffix == ".csv":
            rows.to_csv(export_path, index=False)
        else:
            rows.to_parquet(export_path, index=False)
        click.echo(f"{len(rows)} measurements of {rows['source_id'].nunique()} sources written to {export_path}")
