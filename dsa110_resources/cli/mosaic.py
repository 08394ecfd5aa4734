"""``dsa110 mosaic --start --end``: a linear mosaic of any time range, outside Dagster.

Tile images are found by the imaging module's naming
(``<data-root>/images/YYYY-MM-DD/<tile>.image.fits`` with ``.pb.fits``
beside them, stores.layout.image_path) or in one ``--images`` directory.
Ranges up to ``--max-single`` hours make one grid; longer ones are split into
fixed one-hour RA blocks (as the nightly product) plus an overview PNG.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import click

from ._common import data_root_option


def _find_images(directory_list, start, end):
    from astropy.time import Time

    from dsa110_resources.mosaic import TileRecord
    from dsa110_resources.mosaic.inputs import sibling

    newest: dict[str, tuple[int, Path]] = {}
    for directory in directory_list:
        for path in sorted(Path(directory).glob("*.image.fits")):
            if path.name.startswith("."):
                continue  # a partial being published
            # <tile>.image.fits, or <tile>.v<N>.image.fits after a reprocess (stores.layout.image_path)
            tile_id, _, rest = path.name[: -len(".image.fits")].partition(".")
            version = int(rest[1:]) if rest[:1] == "v" and rest[1:].isdigit() else 1 if not rest else None
            if version is not None and version > newest.get(tile_id, (0, None))[0]:
                newest[tile_id] = (version, path)
    records = []
    for tile_id, (_, path) in sorted(newest.items()):
        try:
            t = Time(tile_id, format="isot", scale="utc")
        except ValueError:
            continue
        if start <= t < end:
            records.append(TileRecord(tile_id, t, path, sibling(path, "pb")))
    return records


@click.command("mosaic")
@click.option("--start", required=True, help="Range start, UTC ISO (e.g. 2025-10-13T13:00).")
@click.option("--end", required=True, help="Range end, UTC ISO (exclusive).")
@data_root_option
@click.option("--images", type=click.Path(exists=True, file_okay=False, path_type=Path), default=None,
              help="Directory holding <tile>.image.fits/.pb.fits [default: <data-root>/images/YYYY-MM-DD].")
@click.option("--output", type=click.Path(file_okay=False, path_type=Path), required=True,
              help="Directory for <label>.{mosaic,weight,noise}.fits (and overview.png).")
@click.option("--cell", type=float, default=None, help="Pixel size in arcsec [default: the tiles' cell].")
@click.option("--blank-level", type=float, default=None, help="Combined-beam level below which blanked [0.2].")
@click.option("--order", type=click.Choice(["1", "3"]), default="3", help="Image resampling spline order.")
@click.option("--catalog", type=click.Path(exists=True, dir_okay=False, path_type=Path), default=None,
              help="Sky catalog (FITS/CSV) for the overlap and astrometry QA.")
@click.option("--max-single", type=float, default=2.0, show_default=True,
              help="Longest range (hours) made as one grid; longer ranges are split into RA blocks.")
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON.")
@click.option("-v", "--verbose", is_flag=True)
def command(start, end, data_root, images, output, cell, blank_level, order, catalog, max_single, as_json,
            verbose):
    """Build a linear mosaic of the tiles imaged between START and END."""
    import astropy.units as u
    import numpy as np
    from astropy.time import Time

    from dsa110_resources import constants as C
    from dsa110_resources.mosaic import (
        MosaicInput, MosaicOptions, blocks_for_range, build_mosaic, grid_for_range, plan_mosaic, write_products,
    )
    from dsa110_resources.mosaic.overview import StripOverview
    from dsa110_resources.mosaic.qa import mosaic_qa

    logging.basicConfig(level=logging.INFO if verbose else logging.WARNING, format="%(levelname)s %(message)s")
    try:
        t0, t1 = Time(start, scale="utc"), Time(end, scale="utc")
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from exc
    if t1 <= t0:
        raise click.BadParameter("--end must be after --start")
    if images is not None:
        directories = [images]
    else:
        days = sorted({(t0 + k * u.day).utc.isot[:10] for k in range(int(np.ceil((t1 - t0).to_value(u.day))) + 1)})
        directories = [data_root / "images" / d for d in days if (data_root / "images" / d).is_dir()]
    records = _find_images(directories, t0, t1)
    plan = plan_mosaic(records, t0, t1)
    inputs, excluded = [], {r.tile_id: why for r, why in plan.excluded}
    for record in plan.included:
        try:
            inputs.append(MosaicInput.from_fits(record.image_path, record.pb_path))
        except (ValueError, FileNotFoundError, KeyError) as exc:
            excluded[record.tile_id] = f"unreadable: {exc}"
    if not inputs:
        raise click.ClickException(f"no usable tile images between {t0.isot} and {t1.isot} in "
                                   f"{[str(d) for d in directories] or data_root / 'images'}")
    declination = float(np.median([i.pointing.dec.deg for i in inputs])) * u.deg
    cell_q = cell * u.arcsec if cell else min(i.cell for i in inputs)
    options = MosaicOptions(blank_level=blank_level or C.PRIMARY_BEAM_LIMIT, order=int(order))
    hours = (t1 - t0).to_value(u.hour)
    if hours <= max_single:
        grids = [grid_for_range(t0, t1, declination, cell_q, level=options.blank_level)]
    else:
        grids = blocks_for_range(t0, t1, declination, cell_q, level=options.blank_level,
                                 label_prefix=t0.utc.isot[:10] + "_")
    sky_catalog = None
    if catalog is not None:
        from dsa110_resources.catalogs.sky import read_catalog

        sky_catalog = read_catalog(catalog)
    from dsa110_resources.mosaic.grid import beam_radius

    radius = beam_radius(options.blank_level)
    overview = StripOverview(declination - radius, declination + radius) if len(grids) > 1 else None
    summary = {"start": t0.isot, "end": t1.isot, "plan": plan.summary(), "excluded": excluded, "blocks": []}
    for grid in grids:
        try:
            products = build_mosaic(inputs, grid, options)
        except ValueError as exc:  # a block no tile reaches
            summary["blocks"].append({"label": grid.label, "skipped": str(exc)})
            continue
        paths = write_products(products, output)
        qa = mosaic_qa(products, inputs if sky_catalog is not None else None, sky_catalog)
        if overview is not None:
            overview.add(products)
        summary["blocks"].append({
            "label": grid.label, "shape": list(grid.shape), "tiles": products.tile_ids,
            "coverage": products.coverage, "seconds": products.seconds,
            "beam_arcsec": [products.beam.major.to_value(u.arcsec), products.beam.minor.to_value(u.arcsec),
                            products.beam.pa.to_value(u.deg)],
            "products": {k: str(v) for k, v in paths.items()}, "qa": qa.as_dict(),
        })
        del products
    if overview is not None:
        summary["overview"] = str(overview.save_png(output / "overview.png", title=f"{t0.isot} - {t1.isot}"))
    if as_json:
        click.echo(json.dumps(summary, indent=2, default=float))
        return
    click.echo(f"{len(inputs)} tiles used, {len(excluded)} excluded, {plan.n_missing} missing "
               f"between {t0.isot} and {t1.isot}")
    for tile_id, why in excluded.items():
        click.echo(f"  excluded {tile_id}: {why}")
    for a, b, n in plan.missing:
        click.echo(f"  missing  {n} tile(s) {a.isot} - {b.isot}")
    for block in summary["blocks"]:
        if "skipped" in block:
            click.echo(f"{block['label']}: {block['skipped']}")
            continue
        qa = block["qa"]
        click.echo(f"{block['label']}: {len(block['tiles'])} tiles, {block['shape'][0]}x{block['shape'][1]} px, "
                   f"coverage {block['coverage']:.3f}, noise ratio {qa['noise_ratio']:.3f}, "
                   f"{block['seconds']:.1f} s -> {block['products']['mosaic']}")
    if "overview" in summary:
        click.echo(f"overview {summary['overview']}")
