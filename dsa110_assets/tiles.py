"""Per-tile assets from raw files to a Measurement Set, with their QA gates.

The products database is the hand-off between steps: ``subband_group``
records the tile's files and state, ``measurement_set`` converts what that
step accepted. Each asset walks the run's 5-minute windows (one, for sensor
runs and backfills alike) and reports per window; see ``tile_windows``.
"""


import datetime as dt
from pathlib import Path

import astropy.units as u
import numpy as np
from astropy.time import Time

from dagster import (
    AssetCheckExecutionContext,
    AssetCheckResult,
    AssetCheckSeverity,
    AssetExecutionContext,
    Failure,
    MetadataValue,
    RetryRequested,
    asset_check,
)
from sqlalchemy import select
from sqlalchemy.orm import selectinload

from dsa110_resources.conversion import (
    FileNotReady,
    InconsistentTile,
    InvalidSubbandFile,
    TileGroup,
    TileQuarantined,
    TileState,
    convert_tile,
    find_subband_files,
    group_tiles,
    quarantine_tile,
    validate_tile,
)
from dsa110_resources.calibration.transits import TilePointing, best_transit
from dsa110_resources.conversion import ValidatedTile, registry
from dsa110_resources.conversion.arrival import not_yet_readable
from dsa110_resources.db import MeasurementSet, Tile
from dsa110_resources.catalogs.resource import SkyCatalogResource
from dsa110_resources.db.resource import ProductsDBResource
from dsa110_resources.conversion.resource import IngestResource
from dsa110_resources.stores.resource import StorageResource

from dsa110_resources.qa import ms_integrity as ms_qa
from .partitions import tile_partitions
from .tile_windows import (
    FAILED,
    NO_DATA,
    SKIPPED,
    TileWindow,
    WindowOutcomes,
    tile_asset,
    run_windows,
)

READY_STATES = (TileState.COMPLETE, TileState.SEMI_COMPLETE)


def _files_near(ingest: IngestResource, window: TileWindow):
    """Subband files in the window's date directory (and the day before, for
    windows just after midnight) plus flat incoming/."""
    incoming = ingest.incoming
    files = find_subband_files(incoming, max_depth=1)[0]
    for day in {window.start.date(), (window.start - dt.timedelta(minutes=5)).date()}:
        files += find_subband_files(incoming / day.isoformat(), max_depth=1)[0]
    return files


def tile_in_window(ingest: IngestResource, window: TileWindow, known: list[str]) -> TileGroup | None:
    """The tile whose id (earliest timestamp) falls in the window, if any."""
    groups = group_tiles(_files_near(ingest, window), tolerance=ingest.tolerance, known_tiles=known)
    return next((g for g in groups if window.start <= g.time < window.end), None)


def _known_tiles(db, window: TileWindow) -> list[str]:
    margin = dt.timedelta(minutes=10)
    with db.session() as s:
        return list(
            s.scalars(
                select(Tile.tile_id).where(
                    Tile.group_time >= window.start - margin, Tile.group_time < window.end + margin
                )
            )
        )


@tile_asset(
    kinds={"uvh5"},
    description=(
        "The subband files of the tile in this window: grouped, checked for completeness,"
        " duplicates and late arrivals, validated (headers, shapes, frequencies, antennas,"
        " times, declination). A bad file quarantines the tile with the reason; a file still"
        " being written is retried first."
    ),
)
def subband_group(
    context: AssetExecutionContext,
    ingest: IngestResource,
    storage: StorageResource,
    products_db: ProductsDBResource,
    sky_catalog: SkyCatalogResource,
):
    db, tiers = products_db.db(), storage.tiers()
    outcomes = WindowOutcomes()
    failures: list[str] = []
    calibrators = None
    unready: list[str] = []  # files still being written: retry, quarantine only after a bounded wait
    for window in run_windows(context):
        group = tile_in_window(ingest, window, _known_tiles(db, window))
        if group is None:
            outcomes.record(window, NO_DATA, f"no subband files in {ingest.incoming}")
            continue
        report = registry.sync_groups(db, [group], wait=ingest.incomplete_wait)
        for path in report.duplicates + report.late:
            context.log.warning(f"tile {group.tile_id}: {path.name} recorded as duplicate/late, not merged")
        # From here on the tile is what the database records: late files stay out.
        group = registry.recorded_group(db, group.tile_id)
        state = group.state(wait=ingest.incomplete_wait, min_subbands=ingest.min_subbands)
        if state not in READY_STATES:
            reason = {
                TileState.TOO_FEW: f"only {group.n_subbands} of 16 subbands: not converted",
                TileState.WAITING: f"{group.n_subbands} of 16 subbands, waiting for stragglers",
            }[state]
            outcomes.record(window, SKIPPED, f"{group.tile_id}: {reason}")
            continue
        try:
            tile = validate_tile(group.tile_id, list(group.files.values()))
        except (InvalidSubbandFile, InconsistentTile) as exc:
            why = not_yet_readable(exc, ingest.settle, group.paths)
            if why is not None and context.retry_number < ingest.unready_retries:
                context.log.warning(f"tile {group.tile_id}: not yet readable ({why}): retrying")
                outcomes.record(window, SKIPPED, f"{group.tile_id}: not yet readable: {why}")
                unready.append(f"{group.tile_id}: {why}")
                continue
            reason = str(exc) if why is None else (
                f"{exc}; still not readable after {context.retry_number} retries "
                f"{ingest.settle_seconds:g} s apart ({why})")
            directory = quarantine_tile(tiers, group.tile_id, group.paths, reason)
            registry.record_quarantine(db, group, reason, bad_path=getattr(exc, "path", None))
            context.log.error(f"tile {group.tile_id} quarantined in {directory}: {reason}")
            outcomes.record(window, FAILED, f"{group.tile_id} quarantined: {reason}")
            failures.append(reason)
            continue
        declination = float(np.degrees(tile.reference.declination_rad))
        calibrators = sky_catalog.calibrators() if calibrators is None else calibrators
        transit = calibrator_transit(tile, calibrators)
        with db.session() as s:
            row = s.get(Tile, group.tile_id)
            row.declination_deg = declination
            row.calibrator = transit.calibrator if transit else None
            if row.status not in registry.FINAL_STATUSES:
                row.status = state.value  # the completeness rule configured here decides
        outcomes.add_product(
            window,
            {
                "tile_id": group.tile_id,
                "n_files": group.n_subbands,
                "missing_subbands": ",".join(map(str, group.missing_subbands)) or "none",
                "duplicates": len(group.duplicates),
                "declination_deg": round(declination, 4),
                "state": state.value,
                "calibrator_transit": (
                    f"{transit.calibrator} ({transit.weighted_flux:.1f} beam-weighted)" if transit else "none"
                ),
                "warnings": "; ".join(tile.warnings) or "none",
            },
        )
    if unready:  # the whole step again later; the windows done so far are cheap to redo
        raise RetryRequested(max_retries=ingest.unready_retries, seconds_to_wait=ingest.settle_seconds)
    if failures and not outcomes.any_done:
        raise Failure(
            description="; ".join(failures),
            metadata={"windows": outcomes.summary()},
            allow_retries=False,
        )
    yield from outcomes.events(context)


def calibrator_transit(tile: ValidatedTile, calibrators=None):
    """The brightest calibrator (of ``calibrators``: the catalog resource's) crossing the meridian
    during the tile, if any."""
    header = tile.reference
    half = float(np.median(header.integration_time_s)) / 2 / 86400
    start = Time(header.time_jd.min() - half, format="jd", scale="utc")
    end = Time(header.time_jd.max() + half, format="jd", scale="utc")
    pointing = TilePointing.from_declination(tile.tile_id, start, end, header.declination_rad * u.rad)
    return best_transit(pointing, calibrators)


def _ready_tile(db, window: TileWindow) -> Tile | None:
    with db.session() as s:
        return s.scalars(
            select(Tile).where(
                Tile.partition_key == window.key,
                Tile.status.in_(["complete", "semi_complete", "converted"]),
            )
        ).first()


def _group_from_db(db, tile: Tile, ingest: IngestResource) -> TileGroup:
    """The files the database accepted for the tile (late arrivals are not merged)."""
    group = registry.recorded_group(db, tile.tile_id)
    gone = [p.name for p in group.paths if not p.exists()] if group else ["all"]
    if not group or not group.files or gone:
        raise Failure(
            description=f"tile {tile.tile_id}: its subband files ({', '.join(gone)}) are gone from {ingest.incoming}",
            allow_retries=False,
        )
    return group


@tile_asset(
    deps=[subband_group],
    kinds={"casa"},
    description=(
        "The tile as one CASA Measurement Set: 768 ascending channels, one FIELD at the"
        " mid-time meridian, staged in tmpfs and published atomically under ms/."
    ),
)
def measurement_set(
    context: AssetExecutionContext,
    ingest: IngestResource,
    storage: StorageResource,
    products_db: ProductsDBResource,
):
    db, tiers = products_db.db(), storage.tiers()
    outcomes = WindowOutcomes()
    unready: list[str] = []
    # A file that changed since subband_group read it is retried like there;
    # on the last try it is judged as it is.
    settle = ingest.settle if context.retry_number < ingest.unready_retries else None
    for window in run_windows(context):
        tile = _ready_tile(db, window)
        if tile is None:
            outcomes.record(window, NO_DATA, "no validated tile in this window")
            continue
        kind = "calibrators" if tile.calibrator else "science"
        try:
            result = convert_tile(_group_from_db(db, tile, ingest), tiers, kind=kind, db=db, settle=settle)
        except FileNotReady as exc:
            context.log.warning(f"{exc}: retrying")
            unready.append(str(exc))
            continue
        except TileQuarantined as exc:
            outcomes.record(window, FAILED, str(exc))
            context.log.error(str(exc))
            continue
        context.log.info(
            f"{tile.tile_id}: {result.n_rows} rows in {result.timings.get('total', 0):.1f} s"
            f" -> {result.ms_path}"
        )
        if result.nonfinite_visibilities:
            context.log.warning(f"{tile.tile_id}: {result.nonfinite_visibilities} non-finite "
                                "visibilities (NaN/Inf) in the files: written as zero and flagged")
        outcomes.add_product(
            window,
            {
                "tile_id": tile.tile_id,
                "ms_path": str(result.ms_path),
                "kind": kind,
                "n_rows": result.n_rows,
                "missing_subbands": ",".join(map(str, result.missing_subbands)) or "none",
                "flagged_fraction": round(result.flagged_fraction, 4),
                "nonfinite_visibilities": result.nonfinite_visibilities,
                "declination_deg": round(float(result.declination.to_value("deg")), 4),
                "phase_centre": result.phase_centre.to_string("hmsdms", precision=1),
                "size_mb": round(result.size_bytes / 1e6, 1),
                "convert_seconds": round(result.timings.get("total", 0.0), 2),
            },
        )
    if unready:
        raise RetryRequested(max_retries=ingest.unready_retries, seconds_to_wait=ingest.settle_seconds)
    yield from outcomes.events(context)


def _run_measurement_sets(context: AssetCheckExecutionContext, db) -> list[MeasurementSet]:
    keys = context.partition_keys
    with db.session() as s:
        return list(
            s.scalars(
                select(MeasurementSet)
                .join(Tile, Tile.tile_id == MeasurementSet.tile_id)
                .where(Tile.partition_key.in_(keys))
                .options(selectinload(MeasurementSet.tile))
            )
        )


@asset_check(
    asset=measurement_set,
    blocking=True,
    partitions_def=tile_partitions,
    description="The MS opens and follows the conventions.",
)
def ms_integrity(context: AssetCheckExecutionContext, products_db: ProductsDBResource):
    results = {ms.tile_id: ms_qa.integrity_problems(Path(ms.path)) for ms in _run_measurement_sets(context, products_db.db())}
    bad = {tile: problems for tile, problems in results.items() if problems}
    return AssetCheckResult(
        passed=not bad,
        severity=AssetCheckSeverity.ERROR,
        description="; ".join(f"{t}: {', '.join(p)}" for t, p in bad.items()) or "all checks passed",
        metadata={"tiles_checked": len(results), "tiles_failed": len(bad)},
    )


@asset_check(
    asset=measurement_set,
    blocking=True,
    partitions_def=tile_partitions,
    description="Flagged fraction of the data present (missing subbands excluded) below the limit.",
)
def ms_flag_fraction(context: AssetCheckExecutionContext, products_db: ProductsDBResource):
    limit = ms_qa.MAX_FLAGGED_FRACTION
    fractions: dict[str, float | None] = {}
    for ms in _run_measurement_sets(context, products_db.db()):
        missing = len(ms.tile.missing_subbands.split(",")) if ms.tile.missing_subbands else 0
        fractions[ms.tile_id] = (
            None if ms.flagged_fraction is None
            else round(ms_qa.present_flagged_fraction(ms.flagged_fraction, missing), 4)
        )
    over = {t: f for t, f in fractions.items() if f is None or f > limit}
    return AssetCheckResult(
        passed=not over,
        severity=AssetCheckSeverity.ERROR,
        description=(
            ", ".join(f"{t}: {f:.1%}" if f is not None else f"{t}: unmeasured" for t, f in over.items())
            or f"all below {limit:.0%}"
        ),
        metadata={
            "limit": limit,
            "max_flagged_fraction": max((f for f in fractions.values() if f is not None), default=0.0),
            "fractions": MetadataValue.json(fractions),
        },
    )
