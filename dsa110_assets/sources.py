"""The master catalog, blind sources per tile and hourly mosaic, and the daily new-source list.

``master_catalog`` builds a new catalog version from the configured survey
files when they changed (their SHA-256s differ from the newest version's).
``sources`` (per tile) finds sources blind on the tile image, associates them
with the master catalog and with new sources seen before, and measures the
undetected known sources by forced photometry. ``hourly_mosaic_sources`` finds
and associates on the hour's mosaic. ``nightly_mosaic_sources`` the same on the night's RA blocks. ``new_sources`` (daily) ranks the new
sources first seen that day by their significance against earlier images,
with cut-outs in its metadata. Science code: ``dsa110_resources.sources``.
"""

from dagster import (
    AssetCheckExecutionContext,
    AssetCheckResult,
    AssetCheckSeverity,
    AssetDep,
    AssetExecutionContext,
    AssetObservation,
    MaterializeResult,
    MetadataValue,
    TimeWindowPartitionMapping,
    asset,
    asset_check,
    build_schedule_from_partitioned_job,
    define_asset_job,
)
from sqlalchemy import func, select

from dsa110_resources.catalogs.master import build_master_catalog, store_master_catalog
from dsa110_resources.catalogs.resource import MasterCatalogResource
from dsa110_resources.db import MasterCatalogVersion, MasterSource, Mosaic, SourceMeasurement, Tile
from dsa110_resources.db.resource import ProductsDBResource
from dsa110_resources.sources.measure import measure_image
from dsa110_resources.sources.new_sources import rank_new_sources, write_cutout
from dsa110_resources.stores import layout
from dsa110_resources.stores.resource import StorageResource

from .imaging import image
from .partitions import daily_partitions, hourly_partitions, tile_partitions
from .photometry import _tile_images
from .tile_windows import NO_DATA, WindowOutcomes, png_markdown, run_windows, tile_asset

#: Cut-outs shown in the new_sources metadata (the Parquet list holds them all).
CUTOUTS_SHOWN = 5
#: Catalog sources expected at >= RECOVERY_SNR (catalog flux x beam / local rms)
#: must be detected at least this often, or the tile's finding (or flux scale) is off.
RECOVERY_SNR = 10.0
MIN_RECOVERY = 0.9


@asset(
    group_name="catalog",
    kinds={"sqlite", "postgres"},
    description="The master source catalog (NVSS + VLASS + FIRST), a new version when its input files change.",
)
def master_catalog(context: AssetExecutionContext, products_db: ProductsDBResource,
                   master_catalog_files: MasterCatalogResource):
    db = products_db.db()
    inputs = master_catalog_files.inputs()
    built = build_master_catalog(inputs["nvss"], vlass=inputs.get("vlass"), first=inputs.get("first"),
                                 options=master_catalog_files.options())
    with db.session() as s:
        newest = s.scalars(select(MasterCatalogVersion).order_by(MasterCatalogVersion.id.desc()).limit(1)).first()
    same_inputs = newest is not None and {k: v["sha256"] for k, v in newest.inputs.items()} == {
        k: v["sha256"] for k, v in built.inputs.items()} and newest.parameters == built.options.as_dict()
    if same_inputs:
        version, note = newest.id, "inputs and parameters unchanged: newest version kept"
    else:
        version, note = store_master_catalog(db, built), "new version"
    t = built.sources
    context.log.info(f"master catalog version {version}: {note}")
    return MaterializeResult(metadata={
        "version": version,
        "outcome": note,
        "n_sources": len(t),
        "n_reference": int(t["reference"].sum()),
        "n_compact": int(t["compact"].sum()),
        "n_resolved": int(t["resolved"].sum()),
        "n_with_alpha": int(t["alpha"].notna().sum()),
        "inputs": MetadataValue.json({k: {kk: v[kk] for kk in ("path", "sha256", "rows_read", "rows_kept")}
                                      for k, v in built.inputs.items()}),
    })


@tile_asset(
    deps=[image, AssetDep(master_catalog)],
    kinds={"parquet"},
    description="Blind sources of the tile image, associated with the master catalog and earlier new sources;"
                " forced fluxes of the known sources not detected.",
)
def sources(context: AssetExecutionContext, storage: StorageResource, products_db: ProductsDBResource):
    db, tiers = products_db.db(), storage.tiers()
    outcomes = WindowOutcomes()
    for window in run_windows(context):
        found = _tile_images(db, window.key)
        if found is None:
            outcomes.record(window, NO_DATA, "no image in this window")
            continue
        tile_id, paths = found
        with tiers.staging(f"src-{tile_id}") as stage:
            result = measure_image(db, paths["image"], pb_path=paths.get("pb"),
                                   residual_path=paths.get("residual"), tile_id=tile_id,
                                   parquet_path=stage / "sources.parquet")
            parquet = tiers.publish(stage / "sources.parquet", layout.sources_path(tile_id))
        outcomes.add_product(window, {
            "tile_id": tile_id,
            "n_detections": result.n_detections,
            "n_catalog_matched": result.n_catalog,
            "n_new_started": result.n_new,
            "n_new_seen_again": result.n_known_new,
            "n_forced": result.n_forced,
            "catalog_version": result.catalog_version if result.catalog_version is not None else "none",
            "finder_seconds": round(result.finder_seconds, 1),
            "parquet_path": str(parquet),
        })
    yield from outcomes.events(context)


@asset_check(
    asset=sources,
    blocking=False,
    partitions_def=tile_partitions,
    description=f"At least {MIN_RECOVERY:.0%} of the master-catalog sources expected at >= {RECOVERY_SNR:g} sigma"
                " were detected blind.",
)
def sources_catalog_recovery(context: AssetCheckExecutionContext, products_db: ProductsDBResource):
    with products_db.session() as s:
        rows = s.execute(
            select(SourceMeasurement.tile_id, SourceMeasurement.forced, MasterSource.flux_jy,
                   SourceMeasurement.pb_gain, SourceMeasurement.local_rms_jy)
            .join(Tile, Tile.tile_id == SourceMeasurement.tile_id)
            .join(MasterSource, (MasterSource.source_id == SourceMeasurement.master_source_id)
                  & (MasterSource.version_id == SourceMeasurement.master_version_id))
            .where(Tile.partition_key.in_(context.partition_keys), SourceMeasurement.image_kind == "tile")
        ).all()
    expected = [r for r in rows if r.local_rms_jy and r.flux_jy * r.pb_gain / r.local_rms_jy >= RECOVERY_SNR]
    found = sum(not r.forced for r in expected)
    fraction = found / len(expected) if expected else None
    return AssetCheckResult(
        passed=fraction is None or fraction >= MIN_RECOVERY,
        severity=AssetCheckSeverity.WARN,
        description=(f"{found} of {len(expected)} catalog sources expected at >= {RECOVERY_SNR:g} sigma detected"
                     if expected else "no catalog source expected this bright (or no master catalog)"),
        metadata={"expected": len(expected), "detected": found,
                  "fraction": round(fraction, 3) if fraction is not None else "n/a"},
    )


def _mosaic_sources(context: AssetExecutionContext, db, tiers, kind: str):
    """Find and associate on every mosaic of this partition (an hour's one, a night's RA blocks)."""
    key = context.partition_key
    with db.session() as s:
        rows = s.scalars(select(Mosaic).where(Mosaic.kind == kind, Mosaic.partition_key == key)).all()
    if not rows:
        yield AssetObservation(asset_key=context.asset_key, partition=key,
                               metadata={"outcome": NO_DATA, "reason": f"no {kind} mosaic for {key}"})
        return
    per_mosaic, seconds = {}, 0.0
    for row in rows:
        mosaic = row.path if row.path.startswith("/") else str(tiers.product_path(row.path))
        label = mosaic.rsplit("/", 1)[-1].removesuffix(".mosaic.fits")
        with tiers.staging(f"src-{kind}-{label}") as stage:
            result = measure_image(db, mosaic, rms_path=mosaic.replace(".mosaic.fits", ".noise.fits"),
                                   image_kind=kind, parquet_path=stage / "sources.parquet")
            tiers.publish(stage / "sources.parquet", layout.sources_path(label, kind))
        per_mosaic[label] = {"detections": result.n_detections, "catalog_matched": result.n_catalog}
        seconds += result.finder_seconds
    yield MaterializeResult(metadata={
        "n_mosaics": len(rows),
        "n_detections": sum(m["detections"] for m in per_mosaic.values()),
        "n_catalog_matched": sum(m["catalog_matched"] for m in per_mosaic.values()),
        "per_mosaic": MetadataValue.json(per_mosaic),
        "finder_seconds": round(seconds, 1),
    })


def _mosaic_sources_asset(kind: str, partitions_def, what: str):
    @asset(
        name=f"{kind}_mosaic_sources",
        group_name="mosaic",
        partitions_def=partitions_def,
        deps=[f"{kind}_mosaic", AssetDep(master_catalog)],
        output_required=False,
        kinds={"parquet"},
        description=f"Blind sources of {what} (noise plane as the rms), associated with the master catalog.",
    )
    def _asset(context: AssetExecutionContext, storage: StorageResource, products_db: ProductsDBResource):
        yield from _mosaic_sources(context, products_db.db(), storage.tiers(), kind)

    return _asset


hourly_mosaic_sources = _mosaic_sources_asset("hourly", hourly_partitions, "the hour's mosaic")
nightly_mosaic_sources = _mosaic_sources_asset("nightly", daily_partitions, "the night's RA-block mosaics")


@asset(
    group_name="science",
    partitions_def=daily_partitions,
    deps=[AssetDep(sources, partition_mapping=TimeWindowPartitionMapping())],
    output_required=False,
    kinds={"parquet"},
    description="New sources (no master-catalog counterpart) first seen this day, ranked by significance"
                " against earlier images, with image cut-outs.",
)
def new_sources(context: AssetExecutionContext, storage: StorageResource, products_db: ProductsDBResource):
    db, tiers = products_db.db(), storage.tiers()
    day = context.partition_key
    window = context.partition_time_window
    mjd = lambda t: t.timestamp() / 86400.0 + 40587.0  # noqa: E731
    ranked = rank_new_sources(db, mjd(window.start), mjd(window.end))
    with db.session() as s:
        n_total = s.scalar(select(func.count(MasterCatalogVersion.id)))
    if ranked.empty:
        yield AssetObservation(asset_key=context.asset_key, partition=day, metadata={
            "outcome": NO_DATA, "reason": "no new source first seen this day",
            "catalog_built": bool(n_total)})
        return
    from astropy.coordinates import SkyCoord

    cutouts = {}
    with tiers.staging(f"new-{day}") as stage:
        ranked.to_parquet(stage / "new.parquet", index=False)
        parquet = tiers.publish(stage / "new.parquet", layout.new_sources_path(day))
        for r in ranked.head(CUTOUTS_SHOWN).itertuples():
            title = f"#{r.rank} {r.name}: first seen MJD {r.first_seen_mjd:.4f}"
            png = write_cutout(r.first_image, SkyCoord(r.ra_deg, r.dec_deg, unit="deg"), stage / f"{r.rank}.png",
                               title=title)
            cutouts[r.name] = tiers.publish(png, layout.new_source_cutout_path(day, r.name))
    shown = ranked[["rank", "name", "ra_deg", "dec_deg", "first_seen_mjd", "n_detections", "max_snr",
                    "new_sigma", "n_prior_images"]].head(20)
    metadata = {
        "n_new_sources": len(ranked),
        "ranked": MetadataValue.md(shown.to_markdown(index=False, floatfmt=".5g")),
        "parquet_path": str(parquet),
    }
    for name, png in cutouts.items():
        metadata[f"cutout {name}"] = png_markdown(png, name)
    yield MaterializeResult(metadata=metadata)


new_sources_job = define_asset_job(
    "new_sources_job", selection=[new_sources],
    description="Rank the new sources first seen in one day, with cut-outs.",
)
new_sources_schedule = build_schedule_from_partitioned_job(new_sources_job, hour_of_day=2, minute_of_hour=30)
