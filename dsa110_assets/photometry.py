"""Forced photometry per tile; daily light curves, variability and ESE candidates.

``photometry`` measures every master-catalog source (the sky catalog's until a
master catalog is built) inside the tile's primary beam on the beam-corrected
image (rows in the products DB and a Parquet export).
``lightcurves`` (daily) normalises the whole history tile by tile from the
reference sources inside each tile, combines each source's tiles per transit
and computes variability metrics as of that day (the day's corrections,
transit fluxes and normalised tile fluxes go to the products DB);
``ese_candidates`` (daily) ranks the sources whose transit light curves match
the ESE shape, with a PNG each, shown in the UI.
"""


import numpy as np
import pandas as pd
from astropy.coordinates import SkyCoord
from dagster import (
    AssetCheckExecutionContext,
    AssetCheckResult,
    AssetCheckSeverity,
    AssetDep,
    AssetExecutionContext,
    AssetObservation,
    AssetSpec,
    MaterializeResult,
    MetadataValue,
    TimeWindowPartitionMapping,
    asset_check,
    define_asset_job,
    multi_asset,
)
from sqlalchemy import delete, func, select

from dsa110_resources.catalogs.master import load_master_catalog, master_sky_catalog
from dsa110_resources.catalogs.resource import SkyCatalogResource
from dsa110_resources.sources.measure import image_footprint
from dsa110_resources.db import FluxCorrection, ForcedPhotometry, Image, Tile
from dsa110_resources.db.resource import ProductsDBResource
from dsa110_resources.photometry import forced_photometry_image
from dsa110_resources.photometry.forced import forced_photometry_bands
from dsa110_resources.photometry.ese import DEFAULT_SNR_THRESHOLD
from dsa110_resources.photometry.daily import HISTORY_DAYS, TILE_WINDOW_DAYS, analyse_drift_scan
from dsa110_resources.photometry.lightcurves import write_parquet
from dsa110_resources.photometry.plots import plot_light_curve
from dsa110_resources.photometry.references import eligible_references, reference_catalog
from dsa110_resources.photometry.store import mjd_of_day, read_measurements, read_transits, write_daily
from dsa110_resources.stores import layout
from dsa110_resources.stores.resource import StorageResource

from .imaging import image
from .partitions import daily_partitions
from .tile_windows import (
    NO_DATA,
    WindowOutcomes,
    tile_asset,
    png_markdown,
    run_windows,
)

#: Sources are measured where the tile's beam is at least this (the image is blanked below 0.2).
BEAM_LEVEL = 0.3
#: Candidate light curves shown inline on the ese_candidates materialization (~40 kB each; every
#: candidate's PNG path is in the ranked table).
MAX_PLOTS_IN_UI = 20


def _tile_images(db, key: str):
    with db.session() as s:
        rows = s.execute(
            select(Tile.tile_id, Image.kind, Image.path)
            .join(Image, Image.tile_id == Tile.tile_id)
            .where(Tile.partition_key == key)
        ).all()
    if not rows:
        return None
    paths = {kind: path for _, kind, path in rows}
    return rows[0][0], paths


def _sources_in_beam(catalog, pb_path) -> tuple[SkyCoord, np.ndarray]:
    """Catalog sources whose position on the beam map is above BEAM_LEVEL."""
    from astropy.io import fits
    from astropy.wcs import WCS

    with fits.open(pb_path) as hdul:
        beam = np.squeeze(hdul[0].data)
        wcs = WCS(hdul[0].header).celestial
    coords = catalog.coords
    x, y = wcs.world_to_pixel(coords)
    inside = np.isfinite(x) & np.isfinite(y)
    xi = np.clip(np.round(np.nan_to_num(x)).astype(int), 0, beam.shape[1] - 1)
    yi = np.clip(np.round(np.nan_to_num(y)).astype(int), 0, beam.shape[0] - 1)
    inside &= (x >= 0) & (x < beam.shape[1]) & (y >= 0) & (y < beam.shape[0])
    keep = inside & (np.nan_to_num(beam[yi, xi]) >= BEAM_LEVEL)
    return coords[keep], np.asarray(catalog.name)[keep]


def _tile_catalog(db, sky_catalog: SkyCatalogResource, pb_path: str):
    """The sources a tile's photometry measures: the newest master catalog in the
    tile's field when one was built (``dsa110 catalog build``), else the
    operator's sky catalog; None with neither."""
    centre, radius = image_footprint(pb_path)
    try:
        return master_sky_catalog(load_master_catalog(db, center=centre, radius=radius))
    except LookupError:
        return sky_catalog.load() if sky_catalog.available() else None


def _reference_flags(db, sky_catalog: SkyCatalogResource) -> pd.Series | None:
    """Which sources may be flux-scale references: the master catalog's own
    ``reference`` verdict (compact, isolated, unconfused, steep-spectrum) when one
    was built, else flags computed from the sky catalog; None with neither
    (photometry alone then judges)."""
    try:
        master = load_master_catalog(db, reference_only=True)
    except LookupError:
        return eligible_references(reference_catalog(sky_catalog.load())) if sky_catalog.available() else None
    return eligible_references(master[["source_id", "reference"]])


@tile_asset(
    deps=[image],
    kinds={"parquet"},
    description="Forced photometry of every master-catalog (else sky-catalog) source inside the tile's primary beam.",
)
def photometry(
    context: AssetExecutionContext,
    storage: StorageResource,
    products_db: ProductsDBResource,
    sky_catalog: SkyCatalogResource,
):
    db, tiers = products_db.db(), storage.tiers()
    outcomes = WindowOutcomes()
    for window in run_windows(context):
        found = _tile_images(db, window.key)
        if found is None:
            outcomes.record(window, NO_DATA, "no image in this window")
            continue
        tile_id, paths = found
        catalog = _tile_catalog(db, sky_catalog, paths["pb"])
        if catalog is None:
            outcomes.record(window, NO_DATA, "no master catalog built and no sky catalog configured"
                                             " (dsa110 catalog build, DSA110_SKY_CATALOG)")
            continue
        coords, names = _sources_in_beam(catalog, paths["pb"])
        if len(names) == 0:
            outcomes.record(window, NO_DATA, f"{tile_id}: no catalog source inside the beam")
            continue
        table = forced_photometry_image(paths["image"], coords, pb_path=paths["pb"],
                                        residual_path=paths.get("residual"), source_ids=names)
        # Sub-band images (imaging.subband_images), each with its own beam:
        # rows band="sbN", which the daily ESE search uses for chromaticity.
        subbands = {kind.removeprefix("image-"): path for kind, path in paths.items() if kind.startswith("image-sb")}
        if subbands:
            table = pd.concat([table, forced_photometry_bands(
                subbands, coords, pb_paths={band: paths[f"pb-{band}"] for band in subbands}, source_ids=names)],
                ignore_index=True)
        # A sub-band with no data (its subbands missing from the tile, or all flagged) images
        # blank: no flux there is no measurement, not a failure of the tile.
        blank = ~np.isfinite(table["flux_jy"].to_numpy(dtype=float))
        if blank.any():
            context.log.warning(f"{tile_id}: {int(blank.sum())} measurement(s) without a finite flux left out"
                                f" (bands {', '.join(sorted(table.loc[blank, 'band'].unique()))})")
            table = table.loc[~blank].reset_index(drop=True)
        table["tile_id"] = tile_id
        with tiers.staging(f"phot-{tile_id}") as stage:
            parquet = tiers.publish(write_parquet(table, stage / "phot.parquet"),
                                    layout.photometry_path(tile_id))
        with db.session() as s:
            # the tile's earlier measurements (of a replaced image too) give way to these
            s.execute(delete(ForcedPhotometry).where(ForcedPhotometry.tile_id == tile_id))
            s.add_all(
                ForcedPhotometry(
                    image_path=paths["image"], tile_id=tile_id, source_id=str(r.source_id), band=r.band,
                    freq_hz=float(r.freq_hz), epoch_mjd=float(r.epoch_mjd), ra_deg=float(r.ra_deg),
                    dec_deg=float(r.dec_deg), flux_jy=float(r.flux_jy), flux_err_jy=float(r.flux_err_jy),
                    local_rms_jy=float(r.local_rms_jy_beam), pb_gain=float(r.pb_gain), snr=float(r.snr),
                    blended=bool(r.blended), edge=bool(r.edge),
                )
                for r in table.itertuples()
            )
        outcomes.add_product(window, {
            "tile_id": tile_id,
            "n_sources": int((table["band"] == "full").sum()),
            "bands": sorted(table["band"].unique()),
            "median_snr": round(float(np.nanmedian(table.loc[table["band"] == "full", "snr"])), 1),
            "parquet_path": str(parquet),
        })
    yield from outcomes.events(context)


@multi_asset(
    partitions_def=daily_partitions,
    group_name="science",
    can_subset=False,
    specs=[
        AssetSpec(
            "lightcurves",
            deps=[AssetDep(photometry, partition_mapping=TimeWindowPartitionMapping())],
            kinds={"parquet"},
            skippable=True,
            description="Light curves normalised by reference sources, and variability metrics, as of the day.",
        ),
        AssetSpec(
            "ese_candidates",
            deps=["lightcurves"],
            skippable=True,
            description="Sources whose light curves match the extreme-scattering-event shape, ranked.",
        ),
    ],
)
def daily_variability(context: AssetExecutionContext, storage: StorageResource, products_db: ProductsDBResource,
                      sky_catalog: SkyCatalogResource):
    """One pass over the history as of the day: per-tile normalisation, transits, metrics, ESE search."""
    db, tiers = products_db.db(), storage.tiers()
    day = context.partition_key
    # tiles of the reference window are normalised afresh; older days come as their stored transits
    end = mjd_of_day(day) + 1.0
    table = read_measurements(db, until_mjd=end, since_mjd=end - TILE_WINDOW_DAYS)
    earlier = read_transits(db, since_mjd=end - HISTORY_DAYS, until_mjd=end - TILE_WINDOW_DAYS)
    day_rows = table["epoch_mjd"] >= mjd_of_day(day)
    if not day_rows.any() or table["epoch_mjd"].nunique() < 2:
        for key in ("lightcurves", "ese_candidates"):
            yield AssetObservation(asset_key=key, partition=day,
                                   metadata={"outcome": NO_DATA, "reason": "no photometry on this day"})
        return
    eligible = _reference_flags(db, sky_catalog)
    daily = analyse_drift_scan(table, eligible, threshold=DEFAULT_SNR_THRESHOLD, earlier_transits=earlier)
    norm, metrics, candidates = daily.normalisation, daily.variability, daily.candidates
    transits = daily.transits
    today = transits[transits["day_mjd"] == int(mjd_of_day(day))]
    with tiers.staging(f"lc-{day}") as stage:
        parquet = tiers.publish(write_parquet(today, stage / "lc.parquet"),
                                layout.lightcurves_path(day))
        plots = {}
        for rank, (source_id, row) in enumerate(candidates.iterrows(), start=1):
            rows = transits[(transits["source_id"] == source_id) & (transits["band"] == daily.band)]
            tiles = norm.table[(norm.table["source_id"] == source_id) & (norm.table["band"] == daily.band)]
            png = plot_light_curve(rows, stage / f"{rank}.png", title=f"{source_id} (ESE rank {rank})",
                                   candidate=row, tiles=tiles)
            plots[str(source_id)] = str(tiers.publish(png, layout.candidate_plot_path(day, str(source_id))))
    counts = write_daily(db, day, daily, table, DEFAULT_SNR_THRESHOLD, plots)
    for dropped in norm.dropped:
        context.log.warning(f"reference dropped: {dropped}")
    corr = norm.corrections
    corr_today = corr[(corr["epoch_mjd"] >= mjd_of_day(day)) & (corr["epoch_mjd"] < mjd_of_day(day) + 1)]
    yield MaterializeResult(asset_key="lightcurves", metadata={
        "n_sources": len(metrics),
        "n_days": len(daily.matrix.epoch_mjd),
        "tiles_today": len(corr_today),
        "tiles_today_normalised": int(np.isfinite(corr_today["correction"]).sum()),
        "references_per_tile_median": float(np.median(corr_today["n_references"])) if len(corr_today) else 0.0,
        "correction_err_median": _num(np.nanmedian(corr_today["correction_err"])) if len(corr_today) else None,
        "references_used": int(norm.references["used"].sum()) if len(norm.references) else 0,
        "references_dropped": len(norm.dropped),
        # references sampling one corner of the field (spread < 0.3 of all sources') say so
        "tiles_today_refs_one_sided": int((corr_today["ref_spread"] < 0.3).sum()),
        "transits_today": counts["transits"],
        "two_epoch_flagged": int(metrics["two_epoch_flag"].sum()),
        "parquet_path": str(parquet),
    })
    metadata = {
        "n_candidates": len(candidates),
        "threshold_snr": DEFAULT_SNR_THRESHOLD,
        "ranked": MetadataValue.md(candidates.assign(plot=[plots.get(str(i)) for i in candidates.index])
                                   .to_markdown() if len(candidates) else "none"),
    }
    for source_id in list(plots)[:MAX_PLOTS_IN_UI]:
        metadata[f"lightcurve {source_id}"] = png_markdown(plots[source_id], source_id)
    yield MaterializeResult(asset_key="ese_candidates", metadata=metadata)


def _num(value) -> float | None:
    return None if value is None or not np.isfinite(value) else float(value)


@asset_check(
    asset="lightcurves",
    partitions_def=daily_partitions,
    blocking=False,
    description="Most of the day's tiles got a flux-scale correction from >= 3 references inside them.",
)
def normalisation_references(context: AssetCheckExecutionContext, products_db: ProductsDBResource):
    day = context.partition_key
    start = mjd_of_day(day)
    with products_db.session() as s:
        tiles = s.scalar(select(func.count(func.distinct(ForcedPhotometry.tile_id)))
                         .where(ForcedPhotometry.epoch_mjd >= start, ForcedPhotometry.epoch_mjd < start + 1,
                                ForcedPhotometry.band == "full"))
        corrected = s.scalar(select(func.count()).select_from(FluxCorrection)
                             .where(FluxCorrection.day == day, FluxCorrection.band == "full",
                                    FluxCorrection.n_references >= 3))
    return AssetCheckResult(
        passed=bool(tiles) and corrected >= 0.8 * tiles,
        severity=AssetCheckSeverity.WARN,
        description=f"{corrected} of {tiles} tiles normalised with >= 3 references",
        metadata={"tiles": int(tiles or 0), "tiles_with_references": int(corrected or 0)},
    )


science_daily_job = define_asset_job(
    "science_daily_job", selection=[daily_variability],
    description="Normalise light curves, compute variability and search for ESEs for one day.",
)
