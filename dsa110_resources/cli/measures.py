"""``dsa110 measures``: check and refresh the leap-second and Earth-orientation tables."""

from __future__ import annotations

from pathlib import Path

import click


@click.group("measures")
def command() -> None:
    """CASA measures data (TAI_UTC leap seconds, IERS Earth orientation).

    Measures are read from DSA110_MEASURES_DIR when set, else from the copy
    packaged with casadata (which ages). Refresh offline: fetch a measures
    tarball on any connected machine (e.g. WSRT_Measures.ztar from ASTRON's
    IERS mirror, or a casadata release's geodetic/ and ephemerides/), copy it
    here, and run 'dsa110 measures install TARBALL'.
    """


@command.command("check")
@click.option("--max-age-days", type=float, default=None,
              help="Oldest acceptable table refresh [default: DSA110_MEASURES_MAX_AGE_DAYS or 90].")
def check(max_age_days: float | None) -> None:
    """Say how old the measures are; exit 1 when they are stale."""
    from dsa110_resources.casa.measures import check_measures

    status = check_measures(max_age_days=max_age_days)
    for name, updated in status.updated.items():
        click.echo(f"{name}: updated {updated:%Y-%m-%d}")
    if status.predictions_end is not None:
        click.echo(f"IERSpredict: predictions until {status.predictions_end:%Y-%m-%d}")
    click.echo(status.message)
    if status.stale:
        raise SystemExit(1)


@command.command("install")
@click.argument("source", type=click.Path(exists=True, path_type=Path))
@click.option("--directory", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Measures directory to fill [default: DSA110_MEASURES_DIR].")
def install_command(source: Path, directory: Path | None) -> None:
    """Install the measures tree or tarball SOURCE (atomically replacing geodetic/)."""
    from dsa110_resources.casa.measures import install

    try:
        status = install(source, directory)
    except ValueError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"installed {source} into {status.directory}")
    click.echo(status.message)
