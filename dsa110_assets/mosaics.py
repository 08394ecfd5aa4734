"""Hourly and nightly linear mosaics of the tile images, with mosaic QA as asset checks.

* ``hourly_mosaic`` (hourly partitions): the tiles whose 5-minute windows fall
  in the hour, on the hour's fixed grid (``mosaic.hourly_grid``). Launched by
  ``hourly_mosaic_sensor`` once the hour's tiles are imaged or a deadline has
  passed, so it may hold partial coverage; what went in, what was left out and
  why, and which tiles never existed are recorded on the materialization, in
  the FITS headers and on the ``Mosaic`` row.
* ``nightly_mosaic`` (daily partitions): the previous UTC day as fixed
  one-hour RA blocks per declination strip (``mosaic.nightly_blocks``), built
  one block at a time (memory: one block), plus a low-resolution overview of
  the whole strip. Launched by ``nightly_mosaic_schedule``.

Both depend on the 5-minute ``image`` partitions through a
TimeWindowPartitionMapping (an hour <- its 12 windows, a day <- its 288), but
read the tiles from the products database: a window without a tile is normal.

Which tiles go in. A tile's image is used unless: it is marked invalid, or
its noise fails the same rule as the blocking ``image_noise``
check (so the mosaic never uses a tile the per-tile gate rejected), or its
files are gone, or it points at another declination. Tiles known to the DB
but not imaged (quarantined, too few subbands, still in the chain) are listed
as excluded with their status; gaps in the tile cadence as missing.

The mosaic QA figures (``mosaic.qa.mosaic_qa``) are computed once, by the
asset, and stored in ``Mosaic.qa``; the checks only read that row.
"""

import datetime as dt
from dataclasses import asdict
from pathlib import Path
from typing import Any

import astropy.units as u
import numpy as np
from astropy.time import Time
from dagster import (
    AssetCheckExecutionContext,
    AssetCheckResult,
    AssetCheckSeverity,
    AssetDep,
    AssetExecutionContext,
    AssetObservation,
    AssetSelection,
    Config,
    MaterializeResult,
    MetadataValue,
    TimeWindowPartitionMapping,
    asset,
    asset_check,
    define_asset_job,
)
from pydantic import Field
from sqlalchemy import delete, select

from dsa110_resources import constants as C
from dsa110_resources.catalogs.resource import SkyCatalogResource
from dsa110_resources.db import Image, Mosaic, Tile
from dsa110_resources.db.resource import ProductsDBResource
from dsa110_resources.mosaic import (
    MosaicInput,
    MosaicOptions,
    MosaicPlan,
    TileRecord,
    build_mosaic,
    hourly_grid,
    hourly_plan,
    nightly_blocks,
    nightly_plan,
    publish_products,
)
from dsa110_resources.mosaic.grid import beam_radius
from dsa110_resources.mosaic.qa import QaLimits, mosaic_qa
from dsa110_resources.stores import layout
from dsa110_resources.stores.resource import StorageResource

from dsa110_resources.imaging.noise_gate import image_noise_problems
from .partitions import daily_partitions, hourly_partitions
from .tile_windows import png_markdown

GROUP = "mosaic"
HOURLY_FORMAT = "%Y-%m-%dT%H:%M"
#: Tile statuses of a tile still on its way through the per-tile chain.
IN_PROGRESS = ("discovered", "complete", "semi_complete", "converted")
#: Inline the overview PNG in the event log only below this size (else: path only).
MAX_INLINE_PNG_BYTES = 400_000
LIMITS = QaLimits()


class MosaicConfig(Config):
    """Per-run knobs (launchpad); the defaults are the pipeline's."""

    cell_arcsec: float | None = Field(default=None, description="Pixel size; null: the finest tile cell.")
    blank_level: float = Field(default=C.PRIMARY_BEAM_LIMIT, description="Combined-beam level below which blanked.")


# --------------------------------------------------------------------------- tiles from the products DB


def _utc(t: dt.datetime) -> dt.datetime:
    return t if t.tzinfo else t.replace(tzinfo=dt.UTC)


def tile_qa_verdict(image: Image) -> tuple[bool, str | None]:
    """(passed, reason) for a tile image, by the rule of the blocking ``image_noise`` check."""
    if not image.is_valid:
        return False, "image marked invalid"
    problems = image_noise_problems(image.noise_jy, image.qa)
    return (False, "image_noise: " + "; ".join(problems)) if problems else (True, None)


def tile_records(db, start: dt.datetime, end: dt.datetime) -> tuple[list[TileRecord], dict[str, str]]:
    """Tile records for tiles with group time in [start, end), and why un-imaged tiles have no image.

    Returns (records, not_imaged) where ``not_imaged`` maps tile id -> reason for
    tiles with no image (pending ones say so; the sensor leaves them out of
    its readiness plan).
    """
    with db.session() as s:
        tiles = list(s.scalars(select(Tile).where(Tile.group_time >= start, Tile.group_time < end)))
        ids = [t.tile_id for t in tiles]
        images: dict[tuple[str, str], Image] = {}
        if ids:
            for row in s.scalars(
                select(Image).where(Image.tile_id.in_(ids), Image.kind.in_(("image", "pb")))
                .order_by(Image.created_at)
            ):
                images[(row.tile_id, row.kind)] = row  # the newest wins
    records, not_imaged = [], {}
    for tile in sorted(tiles, key=lambda t: t.group_time):
        image, pb = images.get((tile.tile_id, "image")), images.get((tile.tile_id, "pb"))
        declination = None if tile.declination_deg is None else tile.declination_deg * u.deg
        time = Time(_utc(tile.group_time))
        if image is None:
            pending = tile.status in IN_PROGRESS
            not_imaged[tile.tile_id] = (
                f"not imaged yet (tile {tile.status})" if pending
                else f"not imaged: tile {tile.status}" + (f" ({tile.reason})" if tile.reason else "")
            )
            records.append(TileRecord(tile.tile_id, time, None, declination=declination))
            continue
        passed, reason = tile_qa_verdict(image)
        records.append(TileRecord(
            tile.tile_id, time, Path(image.path), Path(pb.path) if pb is not None else None,
            noise_jy=image.noise_jy, qa_passed=passed, qa_reason=reason, declination=declination,
        ))
    return records, not_imaged


def is_pending(reason: str | None) -> bool:
    return bool(reason) and reason.startswith("not imaged yet")


def _explain(plan: MosaicPlan, not_imaged: dict[str, str]) -> None:
    """Replace the plan's generic 'image file missing: None' by the tile's status."""
    plan.excluded = [(r, not_imaged.get(r.tile_id, why) if r.image_path is None else why)
                     for r, why in plan.excluded]


def load_inputs(records: list[TileRecord]) -> tuple[list[MosaicInput], dict[str, str]]:
    """MosaicInputs (headers only: the DB noise is used) and reasons for unreadable tiles."""
    inputs, unreadable = [], {}
    for r in records:
        try:
            noise = r.noise_jy * u.Jy if r.noise_jy else None
            inputs.append(MosaicInput.from_fits(r.image_path, r.pb_path, noise=noise, tile_id=r.tile_id))
        except (ValueError, FileNotFoundError, KeyError, OSError) as exc:
            unreadable[r.tile_id] = f"unreadable: {exc}"
    return inputs, unreadable


def _catalog_near(sky_catalog: SkyCatalogResource, declination: u.Quantity):
    """(coords, flux) of catalog sources in the strip, or None without a catalog."""
    if not sky_catalog.available():
        return None
    catalog = sky_catalog.load()
    band = beam_radius(0.05).to_value(u.deg) + 1.0
    keep = np.abs(catalog.dec_deg - declination.to_value(u.deg)) <= band
    catalog = catalog.select(keep)
    return catalog.coords, catalog.flux


def _cell(config: MosaicConfig, inputs: list[MosaicInput]) -> u.Quantity:
    return config.cell_arcsec * u.arcsec if config.cell_arcsec else min(i.cell for i in inputs)


# --------------------------------------------------------------------------- products, rows, metadata


def _publish_png(tiers, write, relative: Path, label: str) -> Path:
    with tiers.staging(f"mosaic-png-{label}") as staging:
        return tiers.publish(write(staging / relative.name), relative)


def _preview(tiers, products, label: str, kind: str, noise: float | None) -> Path | None:
    from dsa110_resources.imaging.preview import write_preview

    relative = Path(layout.mosaic_dir(kind, label)) / f"{label}.preview.png"
    try:
        return _publish_png(tiers, lambda p: write_preview(products.mosaic, p, title=label, noise=noise),
                            relative, label)
    except ValueError:  # nothing finite
        return None


def _qa_document(qa, products, catalog) -> dict[str, Any]:
    doc = qa.as_dict()
    doc["limits"] = asdict(LIMITS)
    doc["catalog"] = catalog is not None
    doc["beam_arcsec"] = [round(products.beam.major.to_value(u.arcsec), 2),
                          round(products.beam.minor.to_value(u.arcsec), 2),
                          round(products.beam.pa.to_value(u.deg), 1)]
    return doc


def _tiles_document(plan_summary: dict, excluded: dict[str, str], products) -> dict[str, Any]:
    return {
        "included": products.tile_ids,
        "excluded": excluded,
        "missing": plan_summary["missing"],
        "n_expected": plan_summary["n_expected"],
        "declination_deg": plan_summary["declination_deg"],
        "contributions": [
            {"tile_id": c.tile_id, "noise_jy": c.noise_jy, "noise_common_jy": c.noise_common_jy,
             "weight": c.weight, "pixels": c.pixels} for c in products.contributions
        ],
    }


def _mosaic_row(kind, key, paths, products, tiles_doc, qa_doc) -> Mosaic:
    return Mosaic(
        kind=kind, partition_key=key, path=str(paths["mosaic"]),
        start_time=(products.start_time or products.grid.start).utc.to_datetime(timezone=dt.UTC),
        end_time=(products.end_time or products.grid.end).utc.to_datetime(timezone=dt.UTC),
        n_tiles=len(products.contributions), tiles=tiles_doc,
        noise_jy=qa_doc.get("noise_median_jy"), coverage=qa_doc.get("coverage"), qa=qa_doc,
    )


def _replace_rows(db, kind: str, key: str, rows: list[Mosaic]) -> None:
    """A re-run replaces the partition's rows (and only them)."""
    with db.session() as s:
        s.execute(delete(Mosaic).where(Mosaic.kind == kind, Mosaic.partition_key == key))
        s.flush()
        s.add_all(rows)


def tiles_markdown(included: dict[str, str], excluded: dict[str, str], missing: list[dict]) -> MetadataValue:
    lines = ["| tile | outcome | detail |", "|---|---|---|"]
    lines += [f"| {t} | included | {d} |" for t, d in sorted(included.items())]
    lines += [f"| {t} | excluded | {d} |" for t, d in sorted(excluded.items())]
    lines += [f"| {m['from'][:19]} - {m['to'][:19]} | missing | {m['tiles']} tile(s) never made |" for m in missing]
    return MetadataValue.md("\n".join(lines))


def _no_mosaic(context: AssetExecutionContext, reason: str, **extra):
    context.log.info(f"{context.asset_key.to_user_string()} {context.partition_key}: no mosaic ({reason})")
    yield AssetObservation(
        asset_key=context.asset_key, partition=context.partition_key,
        metadata={"outcome": "no data", "reason": reason, **extra},
    )


# --------------------------------------------------------------------------- hourly


@asset(
    group_name=GROUP,
    partitions_def=hourly_partitions,
    deps=[AssetDep("image", partition_mapping=TimeWindowPartitionMapping())],
    output_required=False,
    pool="mosaic",
    kinds={"fits"},
    description="Linear mosaic of the hour's tile images on the hour's fixed grid, with what went in and why.",
)
def hourly_mosaic(
    context: AssetExecutionContext,
    config: MosaicConfig,
    storage: StorageResource,
    products_db: ProductsDBResource,
    sky_catalog: SkyCatalogResource,
):
    db, tiers = products_db.db(), storage.tiers()
    key = context.partition_key
    hour = dt.datetime.strptime(key, HOURLY_FORMAT).replace(tzinfo=dt.UTC)
    records, not_imaged = tile_records(db, hour, hour + dt.timedelta(hours=1))
    plan = hourly_plan(records, Time(hour))
    _explain(plan, not_imaged)
    inputs, unreadable = load_inputs(plan.included)
    excluded = {r.tile_id: why for r, why in plan.excluded} | unreadable
    summary = plan.summary()
    if not inputs:
        reason = "no tiles in this hour" if not records else f"no usable tile image ({len(excluded)} excluded)"
        yield from _no_mosaic(context, reason, excluded=MetadataValue.json(excluded),
                              missing=MetadataValue.json(summary["missing"]))
        return
    declination = plan.declination if plan.declination is not None else \
        float(np.median([i.pointing.dec.deg for i in inputs])) * u.deg
    options = MosaicOptions(blank_level=config.blank_level)
    grid = hourly_grid(Time(hour), declination, _cell(config, inputs), level=config.blank_level)
    try:
        products = build_mosaic(inputs, grid, options)
    except ValueError as exc:  # no tile reaches the grid
        yield from _no_mosaic(context, str(exc), excluded=MetadataValue.json(excluded))
        return
    excluded |= products.skipped
    if not np.isfinite(products.mosaic).any():
        yield from _no_mosaic(context, f"every pixel of {grid.label} is below the blanking level",
                              excluded=MetadataValue.json(excluded))
        return
    catalog = _catalog_near(sky_catalog, declination)
    qa = mosaic_qa(products, inputs if catalog is not None else None, catalog, LIMITS)
    label = grid.label
    paths = publish_products(tiers, products, layout.mosaic_dir("hourly", label), stem=label)
    preview = _preview(tiers, products, label, "hourly", qa.noise_median_jy)
    qa_doc = _qa_document(qa, products, catalog)
    tiles_doc = _tiles_document(summary, excluded, products)
    _replace_rows(db, "hourly", key, [_mosaic_row("hourly", key, paths, products, tiles_doc, qa_doc)])
    included = {c.tile_id: f"sigma {c.noise_common_jy * 1e3:.3f} mJy/beam, {c.pixels} px"
                for c in products.contributions}
    metadata: dict[str, Any] = {
        "tiles": tiles_markdown(included, excluded, summary["missing"]),
        "n_included": len(included),
        "n_excluded": len(excluded),
        "n_missing": plan.n_missing,
        "noise_median_mjy": round(qa.noise_median_jy * 1e3, 4),
        "noise_ratio": round(qa.noise_ratio, 3),
        "coverage_planned": round(qa.coverage, 3),
        "beam": '{:.1f}" x {:.1f}" @ {:.0f} deg'.format(*qa_doc["beam_arcsec"]),
        "declination_deg": round(float(declination.to_value(u.deg)), 3),
        "grid": f"{grid.shape[1]} x {grid.shape[0]} px at {grid.cell.to_value(u.arcsec):.1f}\"",
        "qa_checks": MetadataValue.json(qa.checks),
        "mosaic_path": MetadataValue.path(str(paths["mosaic"])),
        "weight_path": MetadataValue.path(str(paths["weight"])),
        "noise_path": MetadataValue.path(str(paths["noise"])),
        "build_seconds": round(products.seconds, 1),
    }
    if preview is not None:
        metadata["preview"] = png_markdown(preview, label)
    context.log.info(f"hourly mosaic {label}: {len(included)} tiles in, {len(excluded)} excluded, "
                     f"{plan.n_missing} missing; coverage {qa.coverage:.2f}, noise ratio {qa.noise_ratio:.2f}")
    yield MaterializeResult(metadata=metadata)


# --------------------------------------------------------------------------- nightly


def _strip_declinations(records: list[TileRecord]) -> list[u.Quantity]:
    decs = sorted({round(float(r.declination.to_value(u.deg)), 1) for r in records if r.declination is not None})
    return [d * u.deg for d in decs]


def _inputs_for_block(inputs: list[MosaicInput], grid, pad_deg: float) -> list[MosaicInput]:
    lo = grid.ra_min.to_value(u.deg) - pad_deg
    span = (grid.ra_max - grid.ra_min).to_value(u.deg) + 2 * pad_deg
    return [i for i in inputs if np.mod(i.pointing.ra.deg - lo, 360.0) <= span]


@asset(
    group_name=GROUP,
    partitions_def=daily_partitions,
    deps=[AssetDep("image", partition_mapping=TimeWindowPartitionMapping())],
    output_required=False,
    pool="mosaic",
    kinds={"fits"},
    description="The UTC day's strip(s) as fixed one-hour RA blocks, one block at a time, plus an overview PNG.",
)
def nightly_mosaic(
    context: AssetExecutionContext,
    config: MosaicConfig,
    storage: StorageResource,
    products_db: ProductsDBResource,
    sky_catalog: SkyCatalogResource,
):
    from dsa110_resources.mosaic.overview import StripOverview

    db, tiers = products_db.db(), storage.tiers()
    day = context.partition_key
    start = dt.datetime.strptime(day, "%Y-%m-%d").replace(tzinfo=dt.UTC)
    records, not_imaged = tile_records(db, start, start + dt.timedelta(days=1))
    strips = _strip_declinations(records)
    if not strips:
        yield from _no_mosaic(context, "no tiles on this day" if not records else "no tile has a declination")
        return
    radius = beam_radius(config.blank_level)
    options = MosaicOptions(blank_level=config.blank_level)
    overview = StripOverview(strips[0] - radius, strips[-1] + radius)
    used: set[str] = set()
    excluded: dict[str, str] = {}
    missing: list[dict] = []
    blocks_md = ["| block | tiles | coverage | noise (mJy/beam) | QA |", "|---|---|---|---|---|"]
    rows: list[Mosaic] = []
    for declination in strips:
        plan = nightly_plan(records, day, declination=declination)
        _explain(plan, not_imaged)
        missing = plan.summary()["missing"]
        inputs, unreadable = load_inputs(plan.included)
        excluded |= unreadable
        for r, why in plan.excluded:
            excluded.setdefault(r.tile_id, why)
        if not inputs:
            continue
        catalog = _catalog_near(sky_catalog, declination)
        cos = np.cos(np.radians(min(abs(declination.to_value(u.deg)) + 5.0, 89.0)))
        pad = beam_radius(options.tile_beam_floor).to_value(u.deg) / cos + 0.5
        suffix = "" if len(strips) == 1 else f"_Dec{declination.to_value(u.deg):+05.1f}"
        for grid in nightly_blocks(day, declination, _cell(config, inputs), level=config.blank_level):
            block_inputs = _inputs_for_block(inputs, grid, pad)
            if not block_inputs:
                continue
            try:
                products = build_mosaic(block_inputs, grid, options)
            except ValueError:  # the nearby tiles do not reach this block
                continue
            if not np.isfinite(products.mosaic).any():  # reached only below the blanking level
                del products
                continue
            label = grid.label + suffix
            qa = mosaic_qa(products, block_inputs if catalog is not None else None, catalog, LIMITS)
            paths = publish_products(tiers, products, layout.mosaic_dir("nightly", label), stem=label)
            overview.add(products)
            qa_doc = _qa_document(qa, products, catalog)
            qa_doc["block"] = label
            summary = plan.summary()
            tiles_doc = _tiles_document(summary, {}, products)
            rows.append(_mosaic_row("nightly", day, paths, products, tiles_doc, qa_doc))
            used |= set(products.tile_ids)
            failed = [name for name, ok in qa.checks.items() if not ok]
            blocks_md.append(f"| {label} | {len(products.contributions)} | {qa.coverage:.2f} | "
                             f"{qa.noise_median_jy * 1e3:.3f} | {'fail: ' + ', '.join(failed) if failed else 'pass'} |")
            context.log.info(f"nightly block {label}: {len(products.contributions)} tiles, "
                             f"coverage {qa.coverage:.2f}, {products.seconds:.1f} s")
            del products  # one block in memory at a time
    # A tile used in one strip is not "excluded" because another strip's plan rejected its declination.
    excluded = {t: why for t, why in excluded.items() if t not in used}
    if not rows:
        yield from _no_mosaic(context, f"no usable tile image ({len(excluded)} excluded)",
                              excluded=MetadataValue.json(excluded))
        return
    for row in rows:  # every block row carries the day's exclusions
        row.tiles = {**row.tiles, "excluded": excluded}
    overview_path = _publish_png(
        tiers, lambda p: overview.save_png(p, title=f"{day} strip overview (S/N)"),
        Path(layout.mosaic_overview_path(day)), day,
    )
    _replace_rows(db, "nightly", day, rows)
    metadata: dict[str, Any] = {
        "blocks": MetadataValue.md("\n".join(blocks_md)),
        "tiles": tiles_markdown({t: "" for t in sorted(used)}, excluded, missing),
        "n_blocks": len(rows),
        "n_included": len(used),
        "n_excluded": len(excluded),
        "n_missing": sum(m["tiles"] for m in missing),
        "declinations_deg": ", ".join(f"{d.to_value(u.deg):.1f}" for d in strips),
        "overview_path": MetadataValue.path(str(overview_path)),
        "mosaic_paths": MetadataValue.json([r.path for r in rows]),
    }
    if overview_path.stat().st_size <= MAX_INLINE_PNG_BYTES:
        metadata["overview"] = png_markdown(overview_path, f"{day} overview")
    yield MaterializeResult(metadata=metadata)


# --------------------------------------------------------------------------- checks


def _rows(context: AssetCheckExecutionContext, db, kind: str) -> list[Mosaic]:
    with db.session() as s:
        return list(s.scalars(select(Mosaic).where(Mosaic.kind == kind,
                                                   Mosaic.partition_key.in_(context.partition_keys))))


def _label(row: Mosaic) -> str:
    return (row.qa or {}).get("block") or row.partition_key


def _judge(context, products_db, kind, check, figures, not_evaluated, severity):
    """One check over the partition's Mosaic rows (one hourly row, or a row per nightly block)."""
    rows = _rows(context, products_db.db(), kind)
    verdicts = {_label(r): (r.qa or {}).get("checks", {}).get(check) for r in rows}
    evaluated = {k: v for k, v in verdicts.items() if v is not None}
    details = {_label(r): {f: (r.qa or {}).get(f) for f in figures} for r in rows}
    if not rows:
        return AssetCheckResult(passed=False, severity=severity, description="no mosaic recorded for the partition")
    if not evaluated:
        return AssetCheckResult(passed=True, severity=severity,
                                description=f"not evaluated: {not_evaluated(rows)}",
                                metadata={"evaluated": False, "figures": MetadataValue.json(details)})
    failed = sorted(k for k, v in evaluated.items() if not v)
    return AssetCheckResult(
        passed=not failed,
        severity=severity,
        description=(f"{check} failed in {', '.join(failed)}" if failed
                     else f"{check} passed ({len(evaluated)} of {len(rows)} mosaic(s) evaluated)"),
        metadata={"evaluated": True, "figures": MetadataValue.json(details),
                  "limits": MetadataValue.json(asdict(LIMITS))},
    )


def _no_catalog(rows) -> str:
    if not any((r.qa or {}).get("catalog") for r in rows):
        return "no sky catalog configured"
    return "no catalog source bright enough / no source seen by two tiles"


#: (check, stored verdict, figures shown, blocking, severity, description, why not evaluated)
_CHECKS = [
    ("mosaic_noise", "noise", ("noise_ratio", "noise_median_jy"), True, AssetCheckSeverity.ERROR,
     f"Mosaic / noise map has unit scatter ({LIMITS.noise_ratio[0]}-{LIMITS.noise_ratio[1]}): "
     "the effective noise matches the expectation from the input tile noises and weights.",
     lambda rows: "no unblanked pixel"),
    ("mosaic_astrometry", "astrometry", ("astrometry_sources", "offset_median_arcsec", "offset_median_beams",
                                         "flux_ratio_median"), True, AssetCheckSeverity.ERROR,
     f"Median offset of catalog sources fitted on the mosaic at most {LIMITS.offset_median_beams} beam.",
     _no_catalog),
    ("mosaic_overlap_flux", "overlap_flux", ("overlap_pairs", "overlap_median_fraction", "overlap_pull_rms"),
     False, AssetCheckSeverity.WARN,
     f"Sources seen in overlapping tiles agree (median |dS|/S <= {LIMITS.overlap_median_fraction} "
     f"or pull rms <= {LIMITS.overlap_pull_rms}).", _no_catalog),
    ("mosaic_coverage", "coverage", ("coverage",), False, AssetCheckSeverity.WARN,
     f"At least {LIMITS.min_coverage:.0%} of the planned area above the blanking level "
     "(a warning: a partial hour is a telescope outage, not a bad product).", lambda rows: "no coverage figure"),
]


def _make_check(asset_def, kind, partitions_def, name, verdict, figures, blocking, severity, description,
                not_evaluated):
    @asset_check(asset=asset_def, name=name, blocking=blocking, partitions_def=partitions_def,
                 description=description)
    def _check(context: AssetCheckExecutionContext, products_db: ProductsDBResource):
        return _judge(context, products_db, kind, verdict, figures, not_evaluated, severity)

    return _check


(hourly_mosaic_noise, hourly_mosaic_astrometry, hourly_mosaic_overlap_flux, hourly_mosaic_coverage) = (
    _make_check(hourly_mosaic, "hourly", hourly_partitions, *spec) for spec in _CHECKS
)
(nightly_mosaic_noise, nightly_mosaic_astrometry, nightly_mosaic_overlap_flux, nightly_mosaic_coverage) = (
    _make_check(nightly_mosaic, "nightly", daily_partitions, *spec) for spec in _CHECKS
)

MOSAIC_CHECKS = [
    hourly_mosaic_noise, hourly_mosaic_astrometry, hourly_mosaic_overlap_flux, hourly_mosaic_coverage,
    nightly_mosaic_noise, nightly_mosaic_astrometry, nightly_mosaic_overlap_flux, nightly_mosaic_coverage,
]

# --------------------------------------------------------------------------- jobs

hourly_mosaic_job = define_asset_job(
    "hourly_mosaic_job",
    # with what is made from the mosaic (hourly_mosaic_sources): one run per hour
    selection=AssetSelection.assets(hourly_mosaic).downstream(depth=1),
    description="One hour's mosaic, its QA checks and its blind sources (launched by hourly_mosaic_sensor).",
    tags={"dsa110/chain": "mosaic"},
)
nightly_mosaic_job = define_asset_job(
    "nightly_mosaic_job",
    selection=AssetSelection.assets(nightly_mosaic).downstream(depth=1),
    description="The previous UTC day's RA-block mosaics, overview and blind sources (nightly_mosaic_schedule).",
    tags={"dsa110/chain": "mosaic"},
)
