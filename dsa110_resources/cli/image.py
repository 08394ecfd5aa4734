"""``dsa110 image MS``: image one tile, write the FITS products, print the QA."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import click


@click.command("image")
@click.argument("ms", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--out", "out_prefix", type=click.Path(path_type=Path), default=None,
              help="Output prefix: products are <out>.<kind>.fits [default: the MS path without .ms].")
@click.option("--backend", type=click.Choice(["wsclean", "tclean"]), default=None,
              help="Imager [default: wsclean when installed, else tclean].")
@click.option("--size", type=int, default=None, help="Image side in pixels [default: from the primary beam].")
@click.option("--cell", type=float, default=None, help="Cell in arcsec [default: from the longest baseline].")
@click.option("--weighting", type=click.Choice(["briggs", "natural", "uniform"]), default=None)
@click.option("--robust", type=float, default=None, help="Briggs robust [default 0.5].")
@click.option("--niter", type=int, default=None, help="Maximum clean iterations.")
@click.option("--threshold-sigma", type=float, default=None, help="Stop cleaning at this many sigma [default 3].")
@click.option("--mask-sigma", type=float, default=None, help="WSClean auto-mask level in sigma [default 5].")
@click.option("--uv-min", type=float, default=None, help="Minimum uv distance in wavelengths (e.g. 1000).")
@click.option("--baseline-averaging", type=float, default=None,
              help="WSClean baseline-dependent averaging in wavelengths; 0: off "
                   "[default: the longest baseline's uv motion in one integration].")
@click.option("--subbands", "subband_images", type=int, default=None,
              help="WSClean sub-band images, deconvolved jointly (1: one band) [default 4].")
@click.option("--data-column", default=None, help="MS column [default: CORRECTED_DATA if it holds data, else DATA].")
@click.option("--pb-limit", type=float, default=None, help="Blank the corrected image below this beam level [0.2].")
@click.option("--tile-id", default=None, help="Tile id for the headers [default: from the MS name].")
@click.option("--caltable", "caltables", multiple=True, help="Calibration table applied (repeatable; recorded in headers).")
@click.option("--truth", type=click.Path(exists=True, dir_okay=False, path_type=Path), default=None,
              help="Simulator truth JSON: adds source recovery and the noise ratio to the QA.")
@click.option("--json", "as_json", is_flag=True, help="Print the QA as JSON.")
@click.option("-v", "--verbose", is_flag=True)
def command(ms, out_prefix, backend, size, cell, weighting, robust, niter, threshold_sigma, mask_sigma,
            uv_min, baseline_averaging, subband_images, data_column, pb_limit, tile_id, caltables, truth, as_json, verbose):
    """Image the Measurement Set MS (one tile) and print its QA figures."""
    import astropy.units as u

    from dsa110_resources.imaging import ImagingParams, ReferenceSources, make_image

    logging.basicConfig(level=logging.INFO if verbose else logging.WARNING, format="%(levelname)s %(message)s")
    params = ImagingParams().with_overrides(
        size=size, cell=cell, weighting=weighting, robust=robust, niter=niter, threshold_sigma=threshold_sigma,
        mask_sigma=mask_sigma, uv_min=uv_min, baseline_averaging=baseline_averaging, subband_images=subband_images, data_column=data_column,
        pb_limit=pb_limit,
    )
    references = expected = None
    if truth is not None:
        from dsa110_resources.simulation import read_truth

        tile_truth = read_truth(truth)
        references = ReferenceSources.from_truth(tile_truth)
        noise = (tile_truth.meta.get("noise") or {}).get("expected_image_noise_jy")
        expected = noise * u.Jy if noise else None
    if out_prefix is None:
        out_prefix = ms.with_suffix("") if ms.suffix == ".ms" else ms.parent / ms.name
    try:
        result = make_image(ms, out_prefix, params, backend=backend, tile_id=tile_id, caltables=caltables,
                            references=references, expected_noise=expected)
    except (RuntimeError, ValueError, FileNotFoundError) as exc:
        raise click.ClickException(str(exc)) from exc
    if as_json:
        click.echo(json.dumps({
            "tile_id": result.observation.tile_id, "backend": result.backend,
            "size": result.grid.size, "cell_arcsec": result.grid.cell.to_value(u.arcsec),
            "data_column": result.data_column, "seconds": result.total_seconds,
            "products": {k: str(v) for k, v in result.products.items()},
            "preview": str(result.preview) if result.preview else None,
            "qa": result.qa.as_dict(),
        }, indent=2, default=float))
        return
    click.echo(f"tile {result.observation.tile_id}  backend {result.backend}  "
               f"{result.grid.size}^2 px at {result.grid.cell.to_value(u.arcsec):.2f}\"  "
               f"{result.data_column}  {result.total_seconds:.1f} s")
    for kind, path in result.products.items():
        click.echo(f"  {kind:9s}{path}")
    if result.preview:
        click.echo(f"  preview  {result.preview}")
    for line in result.qa.summary_lines():
        click.echo(line)
