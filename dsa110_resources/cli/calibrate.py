"""``dsa110 calibrate``: flag and solve a calibrator tile, registering the tables."""

from __future__ import annotations

import json
from pathlib import Path

import click

from ._common import data_root_option, db_url_option


@click.command("calibrate")
@click.argument("ms", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--calibrator", help="Calibrator name (default: the brightest beam-weighted transit in the tile).")
@click.option("--calibrators", "calibrator_csv", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="Calibrator list: CSV (name,ra_deg,dec_deg,flux_jy,...) or the NRAO VLA calibrator list "
                   "[default: DSA110_CALIBRATOR_LIST].")
@click.option("--field-catalog", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="Also model catalog sources in the beam (CSV/FITS sky catalog); its bright compact sources "
                   "are calibrators too [calibrators only, default: DSA110_SKY_CATALOG].")
@click.option("--field-flux-limit", type=float, default=10.0, show_default=True,
              help="Apparent flux limit (mJy) of --field-catalog sources.")
@click.option("--rfi", type=click.Choice(["aoflagger", "tfcrop", "rflag", "none"]), default="aoflagger",
              show_default=True, help="RFI flagger (CASA tfcrop/rflag are the fallback of aoflagger).")
@click.option("--delay/--no-delay", default=False, show_default=True, help="Also solve a delay (K) table.")
@click.option("--gain-solint", default="inf", show_default=True, help="Gain interval: 'inf' (per tile) or e.g. '60s'.")
@click.option("--bandpass-hours", type=float, default=None, help="Bandpass validity half-width [default: constants].")
@click.option("--gain-hours", type=float, default=None, help="Gain validity half-width [default: constants].")
@click.option("--tile-id", help="Tile id (default: from the MS name).")
@data_root_option
@db_url_option
def command(ms, calibrator, calibrator_csv, field_catalog, field_flux_limit, rfi, delay, gain_solint,
            bandpass_hours, gain_hours, tile_id, data_root, db_url) -> None:
    """Flag MS, model its calibrator, solve bandpass and gains, publish and register them.

    Tables go to caltables/YYYY-MM-DD/<tile>.{kcal,bcal,gcal} under the data
    root and into the products database with their validity windows.
    """
    import astropy.units as u

    from dsa110_resources.calibration import (
        FlagOptions, SolveOptions, TilePointing, ValidityPolicy, find_transits, flag_ms, solve_calibrator,
    )
    from dsa110_resources.calibration.skymodel import ModelError, sources_in_beam
    from dsa110_resources.calibration.solve import NoReferenceAntenna
    from dsa110_resources.casa import CasaTaskError
    from dsa110_resources.catalogs.sources import CalibratorSources
    from dsa110_resources.db import ProductsDB
    from dsa110_resources.stores import StorageTiers, layout

    # The same sources the Dagster assets use (catalogs.sources), options over the environment.
    catalogs = CalibratorSources.from_env(calibrator_list=calibrator_csv, sky_catalog=field_catalog)
    try:
        calibrators = catalogs.calibrators()
    except (OSError, ValueError) as exc:
        raise click.ClickException(str(exc)) from exc
    if calibrator is None:
        transits = find_transits(TilePointing.from_ms(ms), calibrators)
        if not transits:
            raise click.ClickException(f"no calibrator transits inside {ms}; name one with --calibrator")
        calibrator = transits[0].calibrator
        click.echo(f"calibrator: {calibrator} (beam-weighted {transits[0].weighted_flux:.2f})")
    policy_args = {}
    if bandpass_hours is not None:
        policy_args["bandpass"] = bandpass_hours * u.hour
        policy_args["delay"] = bandpass_hours * u.hour
    if gain_hours is not None:
        policy_args["gain"] = gain_hours * u.hour
    options = SolveOptions(delay=delay, gain_solint=gain_solint, policy=ValidityPolicy(**policy_args))
    tiers = StorageTiers(data_root=data_root)
    db = ProductsDB(db_url) if db_url else ProductsDB.sqlite(tiers.product_path(layout.products_db_file()))
    try:
        with tiers.staging("calibrate-flag") as work:
            summary = flag_ms(ms, workdir=work, options=FlagOptions(rfi=rfi))
        click.echo(f"flagged {100 * summary.total:.1f}% ({summary.rfi_method}); "
                   f"zeros {summary.zeros_flagged}")
        field = None
        if field_catalog is not None:
            from dsa110_resources.catalogs import read_catalog

            field, _ = sources_in_beam(ms, read_catalog(field_catalog), flux_limit=field_flux_limit * u.mJy)
        result = solve_calibrator(ms, calibrator, tiers=tiers, db=db, flag_summary=summary, options=options,
                                  calibrators=calibrators, field_sources=field, tile_id=tile_id)
    except (ModelError, NoReferenceAntenna, CasaTaskError, RuntimeError, KeyError) as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(f"refant {result.refant} (chain {','.join(result.refant_chain)}), CASA {result.casa_version}")
    for caltype, path in result.tables.items():
        figures = result.qa[caltype]
        click.echo(f"{caltype}: {path}  id={result.table_ids.get(caltype)}  "
                   f"flagged={figures['flagged_fraction']:.3f} snr={figures['median_snr']:.1f} "
                   f"outliers={json.dumps(sorted(figures['outliers']))}")
    if result.rejected:
        raise click.ClickException("retired by the QA gates (never applied): " + "; ".join(
            f"{caltype}: {', '.join(problems)}" for caltype, problems in result.rejected.items()))
