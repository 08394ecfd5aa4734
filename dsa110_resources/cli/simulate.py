"""``dsa110 simulate``: write synthetic DSA-110 tiles (or run a live feed)."""

from __future__ import annotations

from pathlib import Path

import astropy.units as u
import click
from astropy.time import Time

command_help = "Write synthetic DSA-110 tiles (real-format UVH5 + truth), or feed them live."


@click.command("simulate", help=command_help)
@click.argument("out_dir", type=click.Path(file_okay=False, path_type=Path), required=False)
@click.option("--start", default="2025-10-13T13:25:00", show_default=True, help="UTC start of the first tile (ISO).")
@click.option("--ntiles", default=1, show_default=True, type=int, help="Consecutive tiles (~309 s apart).")
@click.option("--days", default=1, show_default=True, type=int, help="Repeat the tiles at the same LST on this many sidereal days (variability runs).")
@click.option("--preset", type=click.Choice(["tiny", "full"]), default="tiny", show_default=True, help="tiny: 6 antennas, sb00+sb15; full: 96 antennas, 16 subbands.")
@click.option("--n-antennas", type=int, default=None, help="Active antennas carrying data (default: preset's).")
@click.option("--subbands", default=None, help="Comma-separated subband indices to write (default: preset's).")
@click.option("--dec", "dec_deg", type=float, default=None, help="Pointing declination of date, degrees [default: 54.57, or the calibrator's].")
@click.option("--sources", type=int, default=None, help="Synthetic NVSS-like sources per tile field (default: preset's; full uses NVSS density).")
@click.option("--catalog", type=click.Path(exists=True, dir_okay=False, path_type=Path), default=None, help="Sky catalog file (CSV/FITS) instead of a synthetic one.")
@click.option("--flux-cut", type=float, default=None, help="Skip sources fainter than this apparent flux, mJy (default: preset's).")
@click.option("--calibrator", default=None, help="Start the run so this calibrator (e.g. 3C286) transits at the middle of the first tile after --start.")
@click.option("--variable-sources", type=int, default=0, show_default=True, help="Inject ESE light curves on this many bright sources.")
@click.option("--noise/--no-noise", default=True, show_default=True, help="Thermal noise from the SEFD.")
@click.option("--beam/--no-beam", default=True, show_default=True, help="Airy primary beam of a 4.65 m dish.")
@click.option("--gains/--no-gains", default=False, show_default=True, help="Per-antenna complex gains drifting slowly.")
@click.option("--delays/--no-delays", default=False, show_default=True, help="Per-antenna delays.")
@click.option("--bandpass/--no-bandpass", default=False, show_default=True, help="Per-antenna bandpass shapes.")
@click.option("--dead-antennas", type=int, default=0, show_default=True, help="Number of dead antennas (noise only).")
@click.option("--rfi/--no-rfi", default=False, show_default=True, help="Narrowband RFI near the known frequencies.")
@click.option("--zeroed-channels", type=int, default=0, show_default=True, help="Number of channels zeroed by the correlator.")
@click.option("--missing-subband", type=int, default=None, help="Subband index whose file is not written.")
@click.option("--seed", type=int, default=0, show_default=True, help="Random seed (sky, corruptions, noise).")
@click.option("--layout", "file_layout", type=click.Choice(["correlator", "contiguous"]), default="correlator", show_default=True, help="correlator: extendable, auto-chunked 4-D datasets appended per integration (real files); contiguous: what pyuvdata writes.")
@click.option("--header-style", type=click.Choice(["hadec", "extra-2000", "header-2000", "pyuvdata3"]), default="hadec", show_default=True, help="Header variant seen in real files (see simulation.uvh5_writer).")
@click.option("--station-file", type=click.Path(exists=True, dir_okay=False, path_type=Path), default=None, help="Real station CSV; default is the nominal layout.")
@click.option("--feed", is_flag=True, help="Live feed: deliver files into --incoming at the (sped-up) telescope cadence.")
@click.option("--incoming", type=click.Path(file_okay=False, path_type=Path), default=None, help="Incoming directory for --feed.")
@click.option("--speedup", type=float, default=1.0, show_default=True, help="Feed cadence speed-up over real time.")
@click.option("--flat", is_flag=True, help="Feed into incoming/ directly instead of incoming/YYYY-MM-DD/.")
@click.option("--late-prob", type=float, default=0.0, show_default=True, help="Feed: probability a file arrives late.")
@click.option("--duplicate-prob", type=float, default=0.0, show_default=True, help="Feed: probability a file is delivered twice.")
def command(out_dir, start, ntiles, days, preset, n_antennas, subbands, dec_deg, sources, catalog, flux_cut,
            calibrator, variable_sources, noise, beam, gains, delays, bandpass, dead_antennas, rfi,
            zeroed_channels, missing_subband, seed, file_layout, header_style, station_file, feed, incoming, speedup, flat,
            late_prob, duplicate_prob):
    from dsa110_resources.simulation import SimulationConfig, calibrator_transit_start, write_tiles

    start_time = Time(start, scale="utc")
    overrides = dict(
        seed=seed, noise=noise, primary_beam=beam, gains=gains, delays=delays, bandpass=bandpass,
        n_dead_antennas=dead_antennas, rfi=rfi, n_zeroed_channels=zeroed_channels,
        missing_subband=missing_subband, station_file=station_file, catalog_file=catalog,
        n_variable_sources=variable_sources, file_layout=file_layout, header_style=header_style,
    )
    if n_antennas is not None:
        overrides["n_active_antennas"] = n_antennas
    if subbands:
        overrides["subbands"] = tuple(int(s) for s in subbands.split(","))
    if sources is not None:
        overrides["n_sources"] = sources
    if flux_cut is not None:
        overrides["prediction_flux_cut"] = flux_cut * u.mJy
    if calibrator:
        start_time, cal_dec = calibrator_transit_start(calibrator, start_time)
        overrides["declination"] = cal_dec
        click.echo(f"{calibrator} transits mid-tile: start {start_time.isot}, dec {cal_dec:.4f}")
    if dec_deg is not None:
        overrides["declination"] = dec_deg * u.deg
    config = SimulationConfig.tiny(**overrides) if preset == "tiny" else SimulationConfig.full(**overrides)
    if feed:
        from dsa110_resources.simulation.feed import run_feed

        if incoming is None:
            raise click.UsageError("--feed needs --incoming DIR")
        run_feed(incoming, start_time, ntiles, config, speedup=speedup, date_sharded=not flat,
                 late_probability=late_prob, duplicate_probability=duplicate_prob,
                 truth_dir=out_dir, log=click.echo)
        return
    if out_dir is None:
        raise click.UsageError("OUT_DIR is required unless --feed")
    truths = write_tiles(out_dir, start_time, ntiles, config, n_days=days)
    for t in truths:
        click.echo(f"{t.tile_id}: {len(t.files)} files, truth {t.json_path}")
