"""``dsa110 tiles DIR``: which tiles are in a directory, and what state they are in."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import astropy.units as u
import click

from ._common import data_root_option


@click.command("tiles")
@click.argument("directory", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--tolerance", type=float, default=None, help="Grouping tolerance in seconds [default: 60].")
@click.option("--wait", "wait_minutes", type=float, default=None,
              help="Minutes an incomplete tile waits for stragglers [default: 10].")
@click.option("--validate/--no-validate", default=False,
              help="Also read every file's header and report tiles that would be quarantined.")
@data_root_option
def command(directory: Path, tolerance: float | None, wait_minutes: float | None, validate: bool,
            data_root: Path) -> None:
    """List the tiles found under DIRECTORY (flat or date-sharded).

    States: complete (16 subbands), semi_complete (12-15, wait over: converted
    with the gaps flagged), discovered (incomplete, still waiting), too_few,
    invalid (with --validate) and quarantined (from <data-root>/quarantine).
    """
    from dsa110_resources import constants
    from dsa110_resources.conversion import (
        DEFAULT_INCOMPLETE_WAIT,
        InconsistentTile,
        InvalidSubbandFile,
        find_subband_files,
        group_tiles,
        quarantined_tiles,
        validate_tile,
    )
    from dsa110_resources.stores import StorageTiers

    tol = constants.GROUP_TOLERANCE if tolerance is None else tolerance * u.s
    wait = DEFAULT_INCOMPLETE_WAIT if wait_minutes is None else wait_minutes * u.min
    files, unparsed = find_subband_files(directory)
    groups = group_tiles(files, tolerance=tol)
    now = dt.datetime.now(dt.UTC)
    click.echo(f"{'tile':19}  {'sb':>2}  {'state':13}  details")
    for group in groups:
        state = str(group.state(now, wait).value)
        details = []
        if group.missing_subbands:
            details.append("missing " + ",".join(map(str, group.missing_subbands)))
        if group.duplicates:
            details.append("duplicates: " + ", ".join(d.path.name for d in group.duplicates))
        if validate:
            try:
                validate_tile(group.tile_id, list(group.files.values()))
            except (InvalidSubbandFile, InconsistentTile) as exc:
                state = "invalid"
                details.append(str(exc))
        click.echo(f"{group.tile_id:19}  {group.n_subbands:2d}  {state:13}  {'; '.join(details)}")
    if Path(data_root).is_dir():
        for tile_id, reason in sorted(quarantined_tiles(StorageTiers(data_root=data_root)).items()):
            click.echo(f"{tile_id:19}  {'':2}  {'quarantined':13}  {reason}")
    for path in unparsed:
        click.echo(f"not a subband file name: {path}", err=True)
    click.echo(f"{len(groups)} tiles from {len(files)} files", err=True)
