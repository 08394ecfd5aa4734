"""``dsa110 candidates``: the ranked list of ESE candidates, with a PNG per candidate.

By default the list the daily chain stored in the products database for a
day (``--day``, default the latest analysed). ``--search`` runs the chain
afresh (per-tile normalisation, per-transit light curves, matched-filter ESE
search) on the database's forced photometry, or on a Parquet export given
with ``--lightcurves``.
"""

from __future__ import annotations

from pathlib import Path

import click

from dsa110_resources.cli._common import data_root_option, db_url_option
from dsa110_resources.cli.lightcurve import lightcurves_option, load_table, open_products_db, with_tile_ids


@click.command("candidates")
@data_root_option
@db_url_option
@lightcurves_option
@click.option("--day", default=None, help="Stored candidates of this day, YYYY-MM-DD [default: the latest].")
@click.option("--search", is_flag=True, help="Search afresh instead of listing the stored candidates.")
@click.option("--band", default=None, help="Band to search (default: 'full', else the first).")
@click.option("--threshold", type=float, default=None, help="Matched-filter significance threshold [default: calibrated].")
@click.option("--top", type=int, default=20, show_default=True, help="How many candidates to print.")
@click.option("--plots", "plots_dir", type=click.Path(file_okay=False, path_type=Path), help="Write a PNG per candidate here.")
@click.option("--output", type=click.Path(dir_okay=False, path_type=Path), help="Write the full ranked list (Parquet).")
def command(data_root, db_url, lightcurves_path, day, search, band, threshold, top, plots_dir, output) -> None:
    """List (or search for) extreme-scattering-event candidates, ranked."""
    if lightcurves_path is None and not search:
        cands = _stored(data_root, db_url, day, top)
    else:
        cands = _search(data_root, db_url, lightcurves_path, band, threshold, top, plots_dir)
    if output and len(cands):
        output.parent.mkdir(parents=True, exist_ok=True)
        cands.reset_index().to_parquet(output, index=False)
        click.echo(f"ranked list written to {output}")


def _stored(data_root, db_url, day, top):
    from dsa110_resources.photometry.store import stored_candidates

    day, cands = stored_candidates(open_products_db(data_root, db_url), day)
    if day is None:
        raise click.ClickException("no daily light-curve analysis in the products database yet (try --search)")
    click.echo(f"{len(cands)} ESE candidates stored for {day}")
    for _, c in cands.head(top).iterrows():
        depths = " ".join(f"{k}={v:.3f}" for k, v in (c["details"] or {}).items() if v is not None)
        click.echo(f"{int(c['rank']):4d} {c['source_id']:>16} snr {c['snr']:7.2f} depth {c['depth']:6.3f}"
                   f" {c['duration_days']:5.1f} d t0 {c['t0_mjd']:10.2f} [{c['status']}] {depths}"
                   f" {c['plot_path'] or ''}")
    return cands.set_index("source_id")


def _search(data_root, db_url, lightcurves_path, band, threshold, top, plots_dir):
    from dsa110_resources.photometry.daily import analyse_drift_scan
    from dsa110_resources.photometry.ese import DEFAULT_SNR_THRESHOLD
    from dsa110_resources.photometry.plots import plot_light_curve
    from dsa110_resources.photometry.store import read_measurements

    if lightcurves_path is not None:
        table = with_tile_ids(load_table(lightcurves_path))
    else:
        table = read_measurements(open_products_db(data_root, db_url))
        if table.empty:
            raise click.ClickException("no forced photometry in the products database")
    threshold = threshold or DEFAULT_SNR_THRESHOLD
    products = analyse_drift_scan(table, band=band, threshold=threshold)
    cands = products.candidates
    norm = products.normalisation
    corr = norm.corrections
    click.echo(
        f"{products.matrix.shape[0]} sources x {products.matrix.shape[1]} days (band {products.band});"
        f" {int(corr['correction'].notna().sum())} of {len(corr)} tiles normalised,"
        f" {int(norm.references['used'].sum()) if len(norm.references) else 0} references"
        f" ({len(norm.dropped)} dropped as variable); {len(cands)} ESE candidates at significance >= {threshold}"
    )
    if cands.empty:
        return cands
    extra = [c for c in cands.columns if c.startswith("depth_")]
    click.echo(f"{'rank':>4} {'source_id':>16} {'snr':>7} {'depth':>6} {'dur_d':>6} {'t0_mjd':>10} " + " ".join(extra))
    for sid, c in cands.head(top).iterrows():
        more = " ".join(f"{c[k]:{len(k)}.3f}" for k in extra)
        click.echo(
            f"{int(c['rank']):4d} {str(sid):>16} {c.snr:7.2f} {c.depth:6.3f} {c.duration_days:6.1f} {c.t0_mjd:10.2f} {more}"
        )
    if plots_dir:
        transits, tiles = products.transits, norm.table
        for sid, c in cands.head(top).iterrows():
            path = plots_dir / f"ese_{int(c['rank']):03d}_{sid}.png"
            rows = transits[(transits["source_id"] == sid) & (transits["band"] == products.band)]
            plot_light_curve(rows, path, title=f"ESE candidate {sid}", candidate=c,
                             tiles=tiles[(tiles["source_id"] == sid) & (tiles["band"] == products.band)])
        click.echo(f"{min(top, len(cands))} plots written to {plots_dir}")
    return cands
