"""Tile -> Measurement Set: validate, stage, write, publish, record.

``build_ms`` is the science: validated subband files in, one MS at a given
path out (read straight into one tile array, rotate to the mid-time meridian,
write with python-casacore). ``convert_tile`` wraps it for the pipeline:
stage in tmpfs when it has room (SSD otherwise), publish with an atomic rename
into ``ms/{science,calibrators}/YYYY-MM-DD/<tile>.ms``, record the MS in the
products database, and quarantine the tile when a file is bad. A process
killed at any point leaves no MS at the final path; its staging litter
carries its PID and is swept by the next run.
"""

from __future__ import annotations

import datetime as dt
import os
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import astropy.units as u
import numpy as np
from astropy.coordinates import EarthLocation, SkyCoord
from astropy.time import Time

from .. import constants
from ..stores import StorageTiers, layout
from . import kernels, phasing
from .grouping import SubbandPath, TileGroup
from .ms_writer import MainColumns, MSMetadata, jd_to_ms_time, write_ms
from .quarantine import TileQuarantined, quarantine_tile
from .uvh5_reader import InvalidSubbandFile, read_subband_into
from .validation import InconsistentTile, ValidatedTile, ValidationLimits, validate_tile

DEFAULT_FAST_ROOT = Path("/dev/shm/dsa110")


@dataclass(frozen=True)
class ConversionOptions:
    """How a tile becomes an MS (defaults are the pipeline's)."""

    model_data: str = "zero"  # "zero": MODEL_DATA=0, CORRECTED_DATA=DATA; "absent": DATA only
    weight_spectrum: bool = False  # also write nsamples per channel as WEIGHT_SPECTRUM
    limits: ValidationLimits = field(default_factory=ValidationLimits)
    location: EarthLocation | None = None  # array reference; default: the files' own


@dataclass
class ConversionResult:
    """What was written, with the figures the products DB and QA want."""

    tile_id: str
    ms_path: Path
    n_rows: int
    n_channels: int
    subbands: list[int]
    missing_subbands: list[int]
    mid_time: Time
    phase_centre: SkyCoord
    declination: u.Quantity
    flagged_fraction: float
    size_bytes: int = 0
    input_bytes: int = 0
    timings: dict[str, float] = field(default_factory=dict)
    staging_root: Path | None = None


def estimate_ms_bytes(n_rows: int, options: ConversionOptions = ConversionOptions()) -> int:
    """Bytes the MS will take (used to pick tmpfs or SSD staging)."""
    cells = n_rows * constants.N_CHANNELS * len(constants.POLARIZATIONS)
    per_cell = 8 * (1 if options.model_data == "absent" else 3) + 1 / 8
    if options.weight_spectrum:
        per_cell += 4
    return int(cells * per_cell * 1.05 + n_rows * 64 + 16e6)


def _dir_bytes(path: Path) -> int:
    return sum(p.stat().st_size for p in Path(path).rglob("*") if p.is_file())


def build_ms(tile: ValidatedTile, ms_path: Path,
             options: ConversionOptions = ConversionOptions()) -> ConversionResult:
    """Write the MS of a validated tile at ``ms_path`` (which must not exist).

    Raises InvalidSubbandFile if a file's data cannot be read.
    """
    timings: dict[str, float] = {}
    t0 = time.perf_counter()
    ref = tile.reference
    n_rows, n_chan, n_pol = ref.n_blts, constants.N_CHANNELS, ref.n_pols
    per_sb = constants.CHANNELS_PER_SUBBAND

    # Tile arrays, channels descending (the 16 files side by side). np.empty:
    # every cell is either read from a file or set by the kernel.
    vis = np.empty((n_rows, n_chan, n_pol), dtype=np.complex64)
    flags = np.empty((n_rows, n_chan, n_pol), dtype=np.bool_)
    nsamples = np.empty((n_rows, n_chan, n_pol), dtype=np.float32)
    freqs_desc = constants.band_frequencies().to_value(u.Hz)[::-1].copy()
    present = np.zeros(n_chan, dtype=np.bool_)
    for header in tile.headers:
        start = header.subband * per_sb
        read_subband_into(header, vis, flags, nsamples, start)
        freqs_desc[start:start + per_sb] = header.freqs_hz
        present[start:start + per_sb] = True
    timings["read"] = time.perf_counter() - t0

    t1 = time.perf_counter()
    location = options.location or EarthLocation.from_geodetic(
        lon=ref.site_lon_deg * u.deg, lat=ref.site_lat_deg * u.deg, height=ref.site_alt_m * u.m)
    index_of = {int(n): i for i, n in enumerate(ref.antenna_numbers)}
    ant1 = np.fromiter((index_of[a] for a in ref.ant1.tolist()), np.int32, n_rows)
    ant2 = np.fromiter((index_of[a] for a in ref.ant2.tolist()), np.int32, n_rows)
    unique_jd = np.unique(ref.time_jd)
    mid_time = Time(0.5 * (unique_jd[0] + unique_jd[-1]), format="jd", scale="utc")
    declination = np.rad2deg(ref.declination_rad) * u.deg
    centre = phasing.meridian_centre(mid_time, declination, location)
    uvw = phasing.baseline_uvw(centre, ref.time_jd, ant1, ant2, location, ref.antenna_positions_m)
    delta_w = uvw[:, 2] - ref.uvw_m[:, 2]
    timings["geometry"] = time.perf_counter() - t1

    t2 = time.perf_counter()
    weight, flag_row = kernels.process_tile_arrays(vis, flags, nsamples, delta_w, freqs_desc, present)
    weight_spectrum = None
    if options.weight_spectrum:
        weight_spectrum = np.ascontiguousarray(nsamples[:, ::-1, :])
        weight_spectrum[:, ~present[::-1], :] = 0.0
    del nsamples
    # MS convention: baseline = antenna 1 minus antenna 2 w.r.t. pyuvdata, so
    # UVW is negated (the kernel already conjugated DATA). Rows stored with
    # ant1 > ant2 are swapped to the ant1 <= ant2 CASA expects.
    uvw_ms = -uvw
    swap = ant1 > ant2
    if swap.any():
        ant1[swap], ant2[swap] = ant2[swap].copy(), ant1[swap].copy()
        uvw_ms[swap] *= -1
        vis[swap] = np.conj(vis[swap])
    flagged_fraction = float(np.count_nonzero(flags)) / flags.size
    timings["rotate"] = time.perf_counter() - t2

    t3 = time.perf_counter()
    site = location.itrs.cartesian.xyz.to_value(u.m)
    times = jd_to_ms_time(ref.time_jd)
    meta = MSMetadata(
        antenna_names=list(ref.antenna_names),
        antenna_positions_itrf=ref.antenna_positions_m + site,
        chan_freqs_hz=freqs_desc[::-1].copy(),
        chan_width_hz=constants.CHANNEL_WIDTH.to_value(u.Hz),
        field_name=tile.tile_id,
        field_ra_rad=centre.ra.rad,
        field_dec_rad=centre.dec.rad,
        field_time_mjd_s=float(jd_to_ms_time(mid_time.jd)),
        time_range_mjd_s=(float(times.min() - ref.integration_time_s[0] / 2),
                          float(times.max() + ref.integration_time_s[0] / 2)),
        history=[f"dsa110 conversion of tile {tile.tile_id}: subbands {tile.subbands}, "
                 f"phased to the meridian at {mid_time.isot} (J2000 {centre.to_string('hmsdms')})"],
        array_position_itrf=site,
    )
    main = MainColumns(time_mjd_s=times, interval_s=ref.integration_time_s, antenna1=ant1,
                       antenna2=ant2, uvw_m=uvw_ms, data=vis, flag=flags, weight=weight,
                       flag_row=flag_row, weight_spectrum=weight_spectrum)
    write_ms(ms_path, main, meta, model_data=options.model_data)
    timings["write"] = time.perf_counter() - t3
    timings["total"] = time.perf_counter() - t0
    return ConversionResult(
        tile_id=tile.tile_id, ms_path=Path(ms_path), n_rows=n_rows, n_channels=n_chan,
        subbands=tile.subbands,
        missing_subbands=[sb for sb in range(constants.N_SUBBANDS) if sb not in tile.subbands],
        mid_time=mid_time, phase_centre=centre, declination=declination,
        flagged_fraction=flagged_fraction,
        input_bytes=sum(h.path.stat().st_size for h in tile.headers), timings=timings,
    )


def _as_refs(files: TileGroup | Sequence[SubbandPath]) -> tuple[str | None, list[SubbandPath]]:
    if isinstance(files, TileGroup):
        return files.tile_id, list(files.files.values())
    return None, list(files)


def convert_to_path(files: TileGroup | Sequence[SubbandPath], output: Path, *,
                    tile_id: str | None = None, options: ConversionOptions = ConversionOptions(),
                    fast_root: Path | None = DEFAULT_FAST_ROOT, fast_margin: float = 0.25,
                    ) -> ConversionResult:
    """Validate and convert a tile to an MS at ``output``, atomically.

    Staged in tmpfs when it has room (SSD next to ``output`` otherwise) and
    renamed into place, replacing an older MS there. Validation errors
    (InvalidSubbandFile, InconsistentTile) propagate; nothing is written then.
    """
    group_id, refs = _as_refs(files)
    tile_id = tile_id or group_id or min(refs, key=lambda r: r.timestamp).timestamp.strftime(
        constants.SUBBAND_TIMESTAMP_FORMAT)
    output = Path(output).expanduser().resolve()
    tiers = StorageTiers(data_root=output.parent, fast_root=fast_root,
                         stage_root=output.parent, fast_margin=fast_margin)
    return _stage_write_publish(tiers, validate_tile(tile_id, refs, options.limits),
                                output.name, options)


def _stage_write_publish(tiers: StorageTiers, tile: ValidatedTile, final: os.PathLike | str,
                         options: ConversionOptions) -> ConversionResult:
    need = estimate_ms_bytes(tile.reference.n_blts, options)
    with tiers.staging(f"{tile.tile_id}.ms", need_bytes=need) as stage:
        result = build_ms(tile, stage / f"{tile.tile_id}.ms", options)
        t = time.perf_counter()
        result.size_bytes = _dir_bytes(result.ms_path)
        result.staging_root = stage.parent
        result.ms_path = tiers.publish(result.ms_path, final)
        result.timings["publish"] = time.perf_counter() - t
        result.timings["total"] += result.timings["publish"]
    return result


def convert_tile(group: TileGroup, tiers: StorageTiers, *, kind: str = "science",
                 db=None, options: ConversionOptions = ConversionOptions(),
                 quarantine_mode: str = "move") -> ConversionResult:
    """The pipeline's step: one tile group to ``ms/<kind>/YYYY-MM-DD/<tile>.ms``.

    A bad file (unreadable, wrong shapes/frequencies, inconsistent with the
    others) quarantines the tile, marks it in ``db`` (a ProductsDB, optional)
    and raises TileQuarantined; the caller goes on with the next tile.
    """
    from . import registry

    final = layout.ms_path(group.tile_id, kind)
    try:
        tile = validate_tile(group.tile_id, list(group.files.values()), options.limits)
        result = _stage_write_publish(tiers, tile, final, options)
    except (InvalidSubbandFile, InconsistentTile) as exc:
        reason = str(exc)
        bad = getattr(exc, "path", None)
        directory = quarantine_tile(tiers, group.tile_id, group.paths + [d.path for d in group.duplicates],
                                    reason, mode=quarantine_mode)
        if db is not None:
            registry.record_quarantine(db, group, reason, bad_path=bad)
        raise TileQuarantined(group.tile_id, reason, directory) from exc
    if db is not None:
        registry.record_conversion(db, group, result, kind=kind, tiers=tiers)
    return result


def convert_ready_tiles(groups: Sequence[TileGroup], tiers: StorageTiers, *, db=None,
                        now: dt.datetime | None = None, wait: u.Quantity | None = None,
                        kind: str = "science", options: ConversionOptions = ConversionOptions(),
                        skip: set[str] = frozenset()) -> dict[str, ConversionResult | Exception]:
    """Convert every complete or semi-complete tile; one bad tile stops nothing."""
    from .grouping import DEFAULT_INCOMPLETE_WAIT, TileState

    outcomes: dict[str, ConversionResult | Exception] = {}
    for group in groups:
        if group.tile_id in skip:
            continue
        state = group.state(now, wait if wait is not None else DEFAULT_INCOMPLETE_WAIT)
        if state not in (TileState.COMPLETE, TileState.SEMI_COMPLETE):
            continue
        try:
            outcomes[group.tile_id] = convert_tile(group, tiers, kind=kind, db=db, options=options)
        except TileQuarantined as exc:
            outcomes[group.tile_id] = exc
    return outcomes
