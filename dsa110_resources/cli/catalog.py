"""``dsa110 catalog build|versions``: the master source catalog in the products database.

    dsa110 catalog build --nvss nvss.fits --vlass vlass.csv --first first.tsv --radius 15
    dsa110 catalog build --nvss nvss.csv --columns nvss:flux=S1.4 --units nvss:flux=mJy

Each build is a new version (older ones stay); the inputs are the user's files
(CSV, TSV or FITS), recorded with their SHA-256 and row counts.
"""

from __future__ import annotations

from pathlib import Path

import click

from ._common import data_root_option, db_url_option

_file = click.Path(exists=True, dir_okay=False, path_type=Path)


def _open(data_root: Path, db_url: str | None):
    from dsa110_resources.db import ProductsDB
    from dsa110_resources.stores import layout

    return ProductsDB(db_url) if db_url else ProductsDB.sqlite(Path(data_root) / layout.products_db_file())


def _mapping(items: tuple[str, ...], option: str) -> dict[str, dict[str, str]]:
    """``survey:field=value`` items -> {survey: {field: value}}."""
    out: dict[str, dict[str, str]] = {}
    for item in items:
        try:
            survey, rest = item.split(":", 1)
            key, value = rest.split("=", 1)
        except ValueError:
            raise click.BadParameter(f"{item!r}: expected survey:field=value", param_hint=option) from None
        out.setdefault(survey.strip().lower(), {})[key.strip()] = value.strip()
    return out


@click.group("catalog")
def command() -> None:
    """The master source catalog (NVSS + optional VLASS and FIRST), versioned in the products DB."""


@command.command("build")
@click.option("--nvss", type=_file, required=True, help="NVSS catalog (CSV, TSV or FITS).")
@click.option("--vlass", type=_file, default=None, help="VLASS component catalog (optional).")
@click.option("--first", type=_file, default=None, help="FIRST catalog (optional).")
@click.option("--radius", type=float, default=15.0, show_default=True, help="Cross-match radius (arcsec).")
@click.option("--reference-min-flux", type=float, default=20.0, show_default=True,
              help="Faintest reference-quality source (mJy).")
@click.option("--columns", multiple=True, metavar="SURVEY:FIELD=COLUMN",
              help="Column mapping, e.g. nvss:flux=S1.4 (repeat).")
@click.option("--units", multiple=True, metavar="SURVEY:FIELD=UNIT",
              help="Units of text-table columns, e.g. first:flux=Jy (repeat).")
@click.option("--note", default=None, help="A note stored with the version.")
@data_root_option
@db_url_option
def build_command(nvss, vlass, first, radius, reference_min_flux, columns, units, note, data_root, db_url):
    """Build a new version of the master catalog from the given files."""
    import astropy.units as u

    from dsa110_resources.catalogs.master import (
        SURVEYS,
        CatalogInput,
        MasterOptions,
        build_master_catalog,
        store_master_catalog,
    )

    cols, unit_map = _mapping(columns, "--columns"), _mapping(units, "--units")
    for survey in set(cols) | set(unit_map):
        if survey not in SURVEYS:
            raise click.BadParameter(f"unknown survey {survey!r} (one of {sorted(SURVEYS)})")
    try:
        inputs = {name: CatalogInput(name, path, cols.get(name, {}), unit_map.get(name, {}))
                  for name, path in (("nvss", nvss), ("vlass", vlass), ("first", first)) if path is not None}
        options = MasterOptions(match_radius=radius * u.arcsec, reference_min_flux=reference_min_flux * u.mJy)
        built = build_master_catalog(inputs["nvss"], vlass=inputs.get("vlass"), first=inputs.get("first"),
                                     options=options)
    except (ValueError, FileNotFoundError) as exc:
        raise click.ClickException(str(exc)) from exc
    db = _open(data_root, db_url)
    version = store_master_catalog(db, built, note=note)
    t = built.sources
    click.echo(f"master catalog version {version}: {len(t)} sources, {int(t['reference'].sum())} reference-quality"
               f" ({int(t['compact'].sum())} compact, {int(t['resolved'].sum())} resolved,"
               f" {int(t['isolated'].sum())} isolated, {int(t['confused'].sum())} confused,"
               f" {int(t['alpha'].notna().sum())} with alpha)")
    for name, prov in built.inputs.items():
        click.echo(f"  {name}: {prov['path']} sha256 {prov['sha256'][:16]}... rows {prov['rows_read']} read,"
                   f" {prov['rows_kept']} kept")


@command.command("versions")
@data_root_option
@db_url_option
def versions_command(data_root, db_url):
    """List the catalog versions with their inputs and counts."""
    from sqlalchemy import select

    from dsa110_resources.db import MasterCatalogVersion

    with _open(data_root, db_url).session() as s:
        rows = s.scalars(select(MasterCatalogVersion).order_by(MasterCatalogVersion.id)).all()
    if not rows:
        click.echo("no master catalog built yet")
    for v in rows:
        inputs = ", ".join(f"{k}={p['rows_kept']} rows ({p['sha256'][:12]})" for k, p in v.inputs.items())
        click.echo(f"version {v.id} built {v.built_at:%Y-%m-%d %H:%M} UTC: {v.n_sources} sources,"
                   f" {v.n_reference} reference; {inputs}" + (f"; {v.note}" if v.note else ""))
