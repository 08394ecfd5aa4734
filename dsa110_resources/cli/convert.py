"""``dsa110 convert``: one tile to a Measurement Set, outside Dagster."""

from __future__ import annotations

from pathlib import Path

import click

from ._common import data_root_option, db_url_option


@click.command("convert")
@click.argument("files", nargs=-1, type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--dir", "directory", type=click.Path(exists=True, file_okay=False, path_type=Path),
              help="Find the tile's files in this directory (with --tile).")
@click.option("--tile", "timestamp", help="Tile timestamp YYYY-MM-DDTHH:MM:SS (within the tolerance).")
@click.option("-o", "--output", type=click.Path(path_type=Path),
              help="Write the MS here (a new path, or an existing MS with --overwrite; nothing else is "
                   "ever replaced). Default: ms/<kind>/YYYY-MM-DD/<tile>.ms under the data root, "
                   "recorded in the products database.")
@click.option("--overwrite", is_flag=True, help="Replace the Measurement Set already at --output.")
@click.option("--kind", type=click.Choice(["science", "calibrators"]), default="science", show_default=True)
@click.option("--model-data", type=click.Choice(["zero", "absent"]), default="zero", show_default=True,
              help="zero: MODEL_DATA zeros and CORRECTED_DATA = DATA; absent: DATA only "
                   "(the calibration step creates the others).")
@click.option("--weight-spectrum/--no-weight-spectrum", default=False, show_default=True)
@click.option("--fast-root", type=click.Path(path_type=Path), default=Path("/dev/shm/dsa110"),
              show_default=True, help="tmpfs staging directory (falls back to SSD when short).")
@click.option("--quarantine-mode", type=click.Choice(["move", "link", "record"]), default="link",
              show_default=True, help="What to do with a bad tile's files (data-root mode).")
@click.option("--force", is_flag=True, help="Convert even with fewer than 12 subbands.")
@data_root_option
@db_url_option
def command(files, directory, timestamp, output, overwrite, kind, model_data, weight_spectrum,
            fast_root, quarantine_mode, force, data_root, db_url) -> None:
    """Convert one tile (FILES..., or --dir DIR --tile TIMESTAMP) to a Measurement Set."""
    from dsa110_resources.conversion import (
        ConversionOptions,
        InconsistentTile,
        InvalidSubbandFile,
        TileQuarantined,
        check_output,
        convert_tile,
        convert_to_path,
        find_tiles,
        group_tiles,
        select_tile,
        subband_paths,
    )

    if files and directory:
        raise click.UsageError("give FILES or --dir/--tile, not both")
    if output is not None:
        try:  # before any work: a wrong -o must never cost the raw files
            check_output(output, overwrite=overwrite)
        except FileExistsError as exc:
            raise click.ClickException(str(exc)) from exc
    if files:
        groups = group_tiles(subband_paths(files))
        if len(groups) != 1:
            raise click.UsageError(f"the files make {len(groups)} tiles: "
                                   + ", ".join(g.tile_id for g in groups))
        group = groups[0]
    elif directory and timestamp:
        try:
            group = select_tile(find_tiles(directory), timestamp)
        except (LookupError, ValueError) as exc:
            raise click.ClickException(str(exc)) from exc
    else:
        raise click.UsageError("give the tile's FILES, or --dir DIR --tile TIMESTAMP")
    from dsa110_resources import constants

    if group.n_subbands < constants.MIN_SUBBANDS_FOR_CONVERSION and not force:
        raise click.ClickException(
            f"tile {group.tile_id} has only {group.n_subbands} subbands "
            f"(< {constants.MIN_SUBBANDS_FOR_CONVERSION}); not converted (use --force)")
    for dup in group.duplicates:
        click.echo(f"ignoring duplicate {dup.path}", err=True)
    options = ConversionOptions(model_data=model_data, weight_spectrum=weight_spectrum)
    try:
        if output is not None:
            result = convert_to_path(group, output, options=options, fast_root=fast_root,
                                     overwrite=overwrite)
        else:
            from dsa110_resources.db import ProductsDB
            from dsa110_resources.stores import StorageTiers, layout

            tiers = StorageTiers(data_root=data_root, fast_root=fast_root)
            db = ProductsDB(db_url) if db_url else ProductsDB.sqlite(
                tiers.product_path(layout.products_db_file()))
            result = convert_tile(group, tiers, kind=kind, db=db, options=options,
                                  quarantine_mode=quarantine_mode)
    except (InvalidSubbandFile, InconsistentTile, TileQuarantined, FileExistsError) as exc:
        raise click.ClickException(str(exc)) from exc
    missing = ",".join(map(str, result.missing_subbands)) or "none"
    click.echo(f"{result.ms_path}  ({result.n_rows} rows, missing subbands: {missing}, "
               f"flagged {100 * result.flagged_fraction:.1f}%, {result.size_bytes / 1e9:.2f} GB, "
               f"{result.timings['total']:.1f} s)")
    click.echo(f"phase centre (J2000): {result.phase_centre.to_string('hmsdms', precision=2)} "
               f"at {result.mid_time.isot}")
    if result.nonfinite_visibilities:
        click.echo(f"{result.nonfinite_visibilities} non-finite visibilities (NaN/Inf) flagged", err=True)
