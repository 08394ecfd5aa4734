"""``dsa110 candidates``: the ranked list of ESE candidates, with a PNG per candidate.

Runs the daily chain (normalise, variability, matched-filter ESE search) on
light curves read from Parquet (a file, or a directory of daily files; by
default ``<data-root>/photometry``) until the products database holds
photometry tables.
"""

from __future__ import annotations

from pathlib import Path

import click

from dsa110_resources.cli._common import data_root_option
from dsa110_resources.cli.lightcurve import lightcurves_option, load_table


@click.command("candidates")
@data_root_option
@lightcurves_option
@click.option("--band", default=None, help="Band to search (default: 'full', else the first).")
@click.option("--threshold", type=float, default=None, help="Matched-filter significance threshold [default: calibrated].")
@click.option("--top", type=int, default=20, show_default=True, help="How many candidates to print.")
@click.option("--plots", "plots_dir", type=click.Path(file_okay=False, path_type=Path), help="Write a PNG per candidate here.")
@click.option("--output", type=click.Path(dir_okay=False, path_type=Path), help="Write the full ranked list (Parquet).")
def command(data_root, lightcurves_path, band, threshold, top, plots_dir, output) -> None:
    """Search the light curves for extreme scattering events and rank the candidates."""
    from dsa110_resources.photometry.daily import analyse_light_curves, normalised_table
    from dsa110_resources.photometry.ese import DEFAULT_SNR_THRESHOLD
    from dsa110_resources.photometry.lightcurves import source_light_curve
    from dsa110_resources.photometry.plots import plot_light_curve

    table = load_table(data_root, lightcurves_path)
    products = analyse_light_curves(table, band, threshold=threshold or DEFAULT_SNR_THRESHOLD)
    cands = products.candidates
    norm = products.normalisation
    click.echo(
        f"{products.matrix.shape[0]} sources x {products.matrix.shape[1]} epochs (band {products.band});"
        f" {len(norm.reference_rows)} references ({len(norm.dropped)} dropped as variable);"
        f" {len(cands)} ESE candidates at significance >= {threshold or DEFAULT_SNR_THRESHOLD}"
    )
    if cands.empty:
        return
    extra = [c for c in cands.columns if c.startswith("depth_")]
    click.echo(f"{'rank':>4} {'source_id':>16} {'snr':>7} {'depth':>6} {'dur_d':>6} {'t0_mjd':>10} " + " ".join(extra))
    for sid, c in cands.head(top).iterrows():
        more = " ".join(f"{c[k]:{len(k)}.3f}" for k in extra)
        click.echo(
            f"{int(c['rank']):4d} {str(sid):>16} {c.snr:7.2f} {c.depth:6.3f} {c.duration_days:6.1f} {c.t0_mjd:10.2f} {more}"
        )
    if output:
        output.parent.mkdir(parents=True, exist_ok=True)
        cands.reset_index().to_parquet(output, index=False)
        click.echo(f"ranked list written to {output}")
    if plots_dir:
        long = normalised_table(products.matrix, norm)
        for sid, c in cands.head(top).iterrows():
            path = plots_dir / f"ese_{int(c['rank']):03d}_{sid}.png"
            plot_light_curve(source_light_curve(long, sid), path, title=f"ESE candidate {sid}", candidate=c)
        click.echo(f"{min(top, len(cands))} plots written to {plots_dir}")
