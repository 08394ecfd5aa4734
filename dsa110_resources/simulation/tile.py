"""Write tiles: the subband files of one ~309 s drift-scan tile plus its truth."""

from __future__ import annotations

from pathlib import Path

import astropy.units as u
import numpy as np
from astropy.time import Time
from pyuvdata.utils.phasing import calc_app_coords, calc_uvw
from pyuvdata.utils.times import get_lst_for_time

from dsa110_resources import constants as C
from dsa110_resources.array_layout import ArrayLayout, default_active_stations, nominal_layout, read_station_file
from dsa110_resources.catalogs import DEFAULT_CALIBRATORS, SkyCatalog
from dsa110_resources.simulation.config import SimulationConfig
from dsa110_resources.simulation.instrument import make_instrument
from dsa110_resources.simulation.predict import (
    beam_power,
    enu_unit_vectors,
    meridian_altaz,
    predict_subband,
    source_directions,
)
from dsa110_resources.conversion.phasing import meridian_centre
from dsa110_resources.imaging.primary_beam import beam_model
from dsa110_resources.simulation.sky import SkyModel, build_sky
from dsa110_resources.simulation.truth import TileTruth
from dsa110_resources.simulation.uvh5_writer import TileHeader, write_subband_file

__all__ = ["load_layout", "subband_filename", "tile_start_times", "write_tile", "write_tiles"]

_BAND_CENTRE = 0.5 * (C.BAND_LOW + C.BAND_HIGH)


def load_layout(config: SimulationConfig) -> ArrayLayout:
    return read_station_file(config.station_file) if config.station_file else nominal_layout()


def subband_filename(timestamp: Time, subband: int) -> str:
    """``YYYY-MM-DDTHH:MM:SS_sbNN.hdf5`` (seconds truncated, as the correlator names them)."""
    return f"{timestamp.to_datetime().strftime(C.SUBBAND_TIMESTAMP_FORMAT)}_sb{subband:02d}.hdf5"


def _as_sky_model(sky) -> SkyModel | None:
    if sky is None or isinstance(sky, SkyModel):
        return sky
    if isinstance(sky, SkyCatalog):
        return SkyModel(sky)
    raise TypeError(f"sky must be a SkyModel or SkyCatalog, not {type(sky)}")


def _noise_levels(config: SimulationConfig, n_live: int, n_subbands: int) -> dict:
    dnu = C.CHANNEL_WIDTH.to_value(u.Hz)
    tau = C.INTEGRATION_TIME.to_value(u.s)
    sefd = config.sefd.to_value(u.Jy)
    n_pol = len(C.POLARIZATIONS)
    bandwidth = dnu * C.CHANNELS_PER_SUBBAND * n_subbands
    n_bl = n_live * (n_live - 1) / 2
    # Stokes-I image noise, natural weighting: the radiometer equation with
    # N(N-1) = 2 x baselines (qa.thermal derives the same from an MS's flags).
    return {
        "enabled": bool(config.noise),
        "sefd_jy": sefd,
        "sigma_vis_jy": sefd / np.sqrt(2 * dnu * tau),
        "sigma_auto_jy": sefd / np.sqrt(dnu * tau),
        "expected_image_noise_jy": sefd / np.sqrt(n_pol * 2 * n_bl * bandwidth * tau * C.INTEGRATIONS_PER_FILE)
        if n_bl > 0 and n_subbands > 0
        else None,
        "formula": "sigma_vis = SEFD/sqrt(2 dnu tau); image = SEFD/sqrt(n_pol N(N-1) B T)",
        "autos": "real part only: SEFD + sky, noise SEFD/sqrt(dnu tau); imaginary part 0",
    }


def write_tile(
    out_dir: str | Path,
    start_time: Time,
    config: SimulationConfig,
    sky: SkyModel | SkyCatalog | None = None,
    *,
    layout: ArrayLayout | None = None,
    run_epoch: Time | None = None,
) -> TileTruth:
    """Write the subband files of the tile starting at ``start_time`` and its truth.

    ``sky`` None builds the configured sky around this tile; ``run_epoch``
    (default: this tile's start) is the origin of the slow gain drift, so the
    tiles of one run share continuous gains.
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    start_time = Time(start_time, scale="utc")
    layout = layout or load_layout(config)
    location = layout.reference
    n_t = C.INTEGRATIONS_PER_FILE
    tau_s = C.INTEGRATION_TIME.to_value(u.s)
    times = start_time + (np.arange(n_t) + 0.5) * C.INTEGRATION_TIME
    mid = start_time + C.TILE_DURATION / 2
    jd = times.jd
    # Recompute from the float64 JDs the files store: the sky moves ~15"/s, and
    # JD rounding (~40 us) would otherwise offset phases on long baselines.
    times = Time(jd, format="jd", scale="utc")
    dec = config.declination

    # --- array and baselines (ant1 <= ant2, time-major like the correlator) ---
    stations = np.array(config.active_stations or default_active_stations(config.n_active_antennas))
    all_numbers = layout.antenna_numbers
    active_idx = np.searchsorted(layout.station_numbers, stations)
    ant_numbers = all_numbers[active_idx]
    enu_active = layout.enu().to_value(u.m)[active_idx]
    i1, i2 = np.triu_indices(len(ant_numbers))
    n_bl = len(i1)
    ant_1 = np.tile(ant_numbers[i1], n_t)
    ant_2 = np.tile(ant_numbers[i2], n_t)
    time_blt = np.repeat(jd, n_bl)

    # --- phase centre: fixed alt-az on the meridian (pyuvdata driftscan) ---
    az, alt = meridian_altaz(dec, mid, location)
    s0 = enu_unit_vectors(az.value, alt.value)
    lst = get_lst_for_time(jd, telescope_loc=location)
    app_ra, app_dec = calc_app_coords(
        lon_coord=az.value, lat_coord=alt.value, coord_frame="altaz", coord_type="driftscan",
        time_array=jd, lst_array=lst, telescope_loc=location, all_times_unique=True,
    )
    app_ra_blt, app_dec_blt, lst_blt = np.repeat(app_ra, n_bl), np.repeat(app_dec, n_bl), np.repeat(lst, n_bl)
    uvw = calc_uvw(
        app_ra=app_ra_blt, app_dec=app_dec_blt, frame_pa=np.zeros_like(app_ra_blt), lst_array=lst_blt,
        use_ant_pos=True, antenna_positions=layout.relative_ecef().to_value(u.m), antenna_numbers=all_numbers,
        ant_1_array=ant_1, ant_2_array=ant_2,
        telescope_lat=location.lat.to_value(u.rad), telescope_lon=location.lon.to_value(u.rad),
    )
    header = TileHeader(
        telescope_name=C.TELESCOPE_NAME, instrument=C.TELESCOPE_NAME,
        latitude_deg=location.lat.to_value(u.deg), longitude_deg=location.lon.to_value(u.deg),
        altitude_m=location.height.to_value(u.m),
        antenna_names=layout.antenna_names, antenna_numbers=all_numbers,
        antenna_positions=layout.relative_ecef().to_value(u.m),
        antenna_diameters=np.full(layout.n_stations, C.DISH_DIAMETER.to_value(u.m)),
        ant_1_array=ant_1, ant_2_array=ant_2, time_array=time_blt, lst_array=lst_blt,
        integration_time=np.full(len(time_blt), tau_s), uvw_array=uvw,
        phase_center_app_ra=app_ra_blt, phase_center_app_dec=app_dec_blt,
        phase_center_frame_pa=np.zeros_like(app_ra_blt),
        phase_center_catalog={"cat_name": "meridian", "cat_type": "driftscan",
                              "cat_lon": float(az.value), "cat_lat": float(alt.value), "cat_frame": "altaz"},
        polarization_array=np.array(C.POLARIZATION_NUMBERS),
        extra_keywords={"phase_center_dec": float(dec.to_value(u.rad)), "ha_phase_center": 0.0,
                        "phase_center_epoch": "HADEC", "simulated": True},
        history="Simulated by dsa110_resources.simulation (synthetic DSA-110).",
        n_times=n_t, n_bls=n_bl,
    )

    # --- sky in this tile ---
    centre = meridian_centre(mid, dec, location)
    model = _as_sky_model(sky) or build_sky(config, centre, Time([start_time]))
    cat = model.catalog
    in_field = np.flatnonzero(cat.coords.separation(centre) <= config.field_radius) if len(cat) else np.zeros(0, int)
    scale = model.flux_scale(mid)
    dirs = source_directions(cat.coords[in_field], times, location) if len(in_field) else np.zeros((n_t, 0, 3))
    cos_theta = dirs @ s0  # (n_t, n_src): beam pointed at the phase centre
    f_mid = _BAND_CENTRE.to_value(u.Hz)
    dish = beam_model(config.beam)
    beam_mid = beam_power(cos_theta[n_t // 2], np.array([f_mid]), dish)[:, 0] if config.primary_beam else np.ones(len(in_field))
    flux_mid = cat.flux_at(_BAND_CENTRE).to_value(u.Jy)[in_field] * scale[in_field]
    is_cal = np.isin(cat.name[in_field].astype(str), list(DEFAULT_CALIBRATORS))  # always predicted
    include = (flux_mid * beam_mid >= config.prediction_flux_cut.to_value(u.Jy)) | is_cal
    use = in_field[include]
    dirs_use = dirs[:, include]
    rel = dirs_use - s0
    cos_use = cos_theta[:, include]

    # --- corruptions ---
    instrument = make_instrument(config, ant_numbers, jd, (start_time if run_epoch is None else run_epoch).jd)
    live = ~instrument.dead
    written = [s for s in config.subbands if s != config.missing_subband]
    noise = _noise_levels(config, int(live.sum()), len(written))
    sigma, sigma_auto = noise["sigma_vis_jy"], noise["sigma_auto_jy"]
    sefd = config.sefd.to_value(u.Jy)
    autos = i1 == i2
    apply_jones = config.gains or config.delays or config.bandpass or config.n_dead_antennas
    width = C.CHANNEL_WIDTH.to_value(u.Hz)

    jitter_rng = np.random.default_rng([config.seed, 3, int(round(jd[0] * 86400))])
    max_jitter = int(config.timestamp_jitter.to_value(u.s))
    files, stamps = {}, {}
    for sb in config.subbands:
        stamp = start_time + int(jitter_rng.integers(0, max_jitter + 1)) * u.s
        if sb == config.missing_subband:
            continue
        freqs = C.subband_frequencies(sb).to_value(u.Hz)
        band_index = C.N_CHANNELS - 1 - (sb * C.CHANNELS_PER_SUBBAND + np.arange(C.CHANNELS_PER_SUBBAND))
        spec = cat.flux_at(freqs * u.Hz).to_value(u.Jy)[use] * scale[use][:, None]  # (n_src, n_chan)
        if config.primary_beam:
            beam = beam_power(cos_use, freqs, dish)  # (n_t, n_src, n_chan)
        else:
            beam = np.ones(cos_use.shape + (len(freqs),))
        apparent = np.transpose(beam * spec[None], (0, 2, 1))  # (n_t, n_chan, n_src)
        sky_vis = predict_subband(enu_active, rel, apparent, freqs, i1, i2)  # (n_t, n_bl, n_chan)
        sky_vis[:, autos, :] += sefd
        vis = np.repeat(sky_vis[..., None], len(C.POLARIZATIONS), axis=-1)  # (n_t, n_bl, n_chan, n_pol)
        del sky_vis
        noise_scale = None
        if apply_jones:
            jones = np.transpose(instrument.jones(freqs, band_index), (1, 0, 2, 3))  # (n_t, n_ant, n_chan, n_pol)
            vis *= jones[:, i1] * np.conj(jones[:, i2])
            jn = np.abs(instrument.jones(freqs, band_index, zero_dead=False)).transpose(1, 0, 2, 3)
            noise_scale = jn[:, i1] * jn[:, i2]
        for ev in instrument.rfi:
            hit = np.flatnonzero(band_index == ev.channel)
            if len(hit):
                phases = np.exp(1j * np.random.default_rng(ev.antenna_phase_seed).uniform(0, 2 * np.pi, len(ant_numbers)))
                rfi_bl = ev.amplitude_jy * phases[i1] * np.conj(phases[i2])
                vis[ev.t_start:ev.t_stop, :, hit[0], :] += rfi_bl[None, :, None].astype(np.complex64)
        if config.noise:
            rng = np.random.default_rng([config.seed, 4, int(round(jd[0] * 86400)), sb])
            shape = vis.shape
            nz = rng.standard_normal(shape + (2,), dtype=np.float32).view(np.complex64)[..., 0]
            nz[:, ~autos] *= np.float32(sigma)
            nz[:, autos] = nz[:, autos].real * np.float32(sigma_auto)
            if noise_scale is not None:
                nz *= noise_scale.astype(np.float32)
            vis += nz
            del nz
        zero = np.isin(band_index, instrument.zeroed_channels)
        if zero.any():
            vis[:, :, zero, :] = 0
        path = out_dir / subband_filename(stamp, sb)
        write_subband_file(path, header, freqs, -width, vis.reshape(n_t * n_bl, len(freqs), -1),
                           layout=config.file_layout, header_style=config.header_style)
        del vis
        files[sb], stamps[sb] = str(path), path.name.split("_sb")[0]

    # --- truth ---
    tile_id = start_time.to_datetime().strftime(C.SUBBAND_TIMESTAMP_FORMAT)
    band = C.band_frequencies().to_value(u.Hz)
    sources = []
    for k, i in enumerate(in_field):
        row = {
            "name": str(cat.name[i]), "ra_deg": float(cat.ra_deg[i]), "dec_deg": float(cat.dec_deg[i]),
            "flux_jy": float(cat.flux_jy[i]), "spectral_index": float(cat.spectral_index[i]),
            "flux_scale": float(scale[i]), "true_flux_jy": float(cat.flux_jy[i] * scale[i]),
            "beam_mid": float(beam_mid[k]), "apparent_flux_jy": float(flux_mid[k] * beam_mid[k]),
            "included": bool(include[k]),
        }
        sources.append(row)
    meta = {
        "tile_id": tile_id,
        "start_time": start_time.isot, "mid_time": mid.isot,
        "files": {str(k): v for k, v in files.items()},
        "file_timestamps": {str(k): v for k, v in stamps.items()},
        "subbands": list(config.subbands),
        "missing_subbands": [] if config.missing_subband is None else [config.missing_subband],
        "pointing": {
            "declination_deg": float(dec.to_value(u.deg)),
            "phase_center_az_deg": float(az.to_value(u.deg)), "phase_center_alt_deg": float(alt.to_value(u.deg)),
            "meridian_ra_deg": float(centre.ra.deg), "meridian_dec_deg": float(centre.dec.deg),
        },
        "antennas": {
            "active": ant_numbers.tolist(),
            "dead": ant_numbers[instrument.dead].tolist(),
            "layout": layout.source, "layout_notes": list(layout.notes),
            "numbering": "antenna number = station number - 1; name = station number",
        },
        "sources": sources,
        "ref_freq_hz": float(cat.ref_freq.to_value(u.Hz)),
        "prediction_flux_cut_jy": float(config.prediction_flux_cut.to_value(u.Jy)),
        "light_curves": {k: v.to_dict() for k, v in model.light_curves.items()},
        "noise": noise,
        "rfi": [ev.to_dict() for ev in instrument.rfi],
        "zeroed_channels": {"band_index": instrument.zeroed_channels.tolist(),
                            "frequency_hz": band[instrument.zeroed_channels].tolist()},
        "corruptions": {"gains": config.gains, "delays": config.delays, "bandpass": config.bandpass,
                        "dead_antennas": config.n_dead_antennas, "rfi": config.rfi,
                        "zeroed_channels": config.n_zeroed_channels, "missing_subband": config.missing_subband,
                        "primary_beam": config.primary_beam, "noise": config.noise},
        "beam_model": dish.name if config.primary_beam else "none",
        "config": config.to_dict(),
    }
    arrays = {
        "antenna_numbers": ant_numbers, "times_jd": jd, "band_freqs_hz": band,
        "gains": instrument.gains, "delays_ns": instrument.delays_ns, "bandpass": instrument.bandpass,
    }
    return TileTruth(meta, arrays).write(out_dir)


def tile_start_times(start_time: Time, n_tiles: int, n_days: int = 1) -> Time:
    """Starts of ``n_tiles`` consecutive tiles, repeated at the same LST on ``n_days`` sidereal days."""
    start_time = Time(start_time, scale="utc")
    offsets = [d * C.SIDEREAL_DAY + k * C.TILE_DURATION for d in range(n_days) for k in range(n_tiles)]
    return start_time + u.Quantity(offsets)


def write_tiles(
    out_dir: str | Path,
    start_time: Time,
    n_tiles: int,
    config: SimulationConfig,
    sky: SkyModel | SkyCatalog | None = None,
    *,
    n_days: int = 1,
) -> list[TileTruth]:
    """Write consecutive tiles (~309 s apart), optionally on several sidereal days.

    One sky covers the whole run (so a multi-day run sees the same sources,
    with light curves applied per epoch); a synthetic catalog is also written
    to ``<out_dir>/sky_catalog.csv`` in the catalogs CSV format.
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    starts = tile_start_times(start_time, n_tiles, n_days)
    layout = load_layout(config)
    model = _as_sky_model(sky)
    if model is None:
        centres = meridian_centre(starts[:n_tiles] + C.TILE_DURATION / 2, config.declination, layout.reference)
        model = build_sky(config, centres, starts)
        model.catalog.write_csv(out_dir / "sky_catalog.csv")
    return [write_tile(out_dir, t, config, model, layout=layout, run_epoch=starts[0]) for t in starts]
