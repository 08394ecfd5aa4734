"""Forced photometry per tile; daily light curves, variability and ESE candidates.

``photometry`` measures every catalog source inside the tile's primary beam
on the beam-corrected image (rows in the products DB and a Parquet export).
``lightcurves`` (daily) normalises the whole history by the reference sources
and computes variability metrics as of that day; ``ese_candidates`` (daily)
ranks the sources whose light curves match the ESE shape, with a PNG each.
"""

import datetime as dt

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
from sqlalchemy import delete, select

from dsa110_resources.catalogs.resource import SkyCatalogResource
from dsa110_resources.db import ESECandidate, FluxCorrection, ForcedPhotometry, Image, Tile, VariabilityMetric
from dsa110_resources.db.resource import ProductsDBResource
from dsa110_resources.photometry import forced_photometry_image
from dsa110_resources.photometry.ese import DEFAULT_SNR_THRESHOLD
from dsa110_resources.photometry.daily import analyse_light_curves, normalised_table
from dsa110_resources.photometry.lightcurves import write_parquet
from dsa110_resources.photometry.plots import plot_light_curve
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


@tile_asset(
    deps=[image],
    kinds={"parquet"},
    description="Forced photometry of every catalog source inside the tile's primary beam.",
)
def photometry(
    context: AssetExecutionContext,
    storage: StorageResource,
    products_db: ProductsDBResource,
    sky_catalog: SkyCatalogResource,
):
    db, tiers = products_db.db(), storage.tiers()
    outcomes = WindowOutcomes()
    catalog = sky_catalog.load() if sky_catalog.available() else None
    for window in run_windows(context):
        found = _tile_images(db, window.key)
        if found is None:
            outcomes.record(window, NO_DATA, "no image in this window")
            continue
        if catalog is None:
            outcomes.record(window, NO_DATA, "no sky catalog configured (DSA110_SKY_CATALOG)")
            continue
        tile_id, paths = found
        coords, names = _sources_in_beam(catalog, paths["pb"])
        if len(names) == 0:
            outcomes.record(window, NO_DATA, f"{tile_id}: no catalog source inside the beam")
            continue
        table = forced_photometry_image(paths["image"], coords, pb_path=paths["pb"],
                                        residual_path=paths.get("residual"), source_ids=names)
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
            "n_sources": len(table),
            "median_snr": round(float(np.nanmedian(table["snr"])), 1),
            "parquet_path": str(parquet),
        })
    yield from outcomes.events(context)


def _history(db, until: dt.datetime) -> pd.DataFrame:
    """Every forced measurement up to ``until`` as the light-curve long table."""
    until_mjd = until.timestamp() / 86400.0 + 40587.0
    with db.session() as s:
        rows = s.execute(
            select(ForcedPhotometry.source_id, ForcedPhotometry.epoch_mjd, ForcedPhotometry.band,
                   ForcedPhotometry.flux_jy, ForcedPhotometry.flux_err_jy)
            .where(ForcedPhotometry.epoch_mjd < until_mjd, ~ForcedPhotometry.edge)
        ).all()
    return pd.DataFrame(rows, columns=["source_id", "epoch_mjd", "band", "flux_jy", "flux_err_jy"])


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
def daily_variability(context: AssetExecutionContext, storage: StorageResource, products_db: ProductsDBResource):
    """One pass over the history as of the day: normalise, metrics, ESE search."""
    db, tiers = products_db.db(), storage.tiers()
    day = context.partition_key
    table = _history(db, context.partition_time_window.end)
    if table.empty or table["epoch_mjd"].nunique() < 2:
        for key in ("lightcurves", "ese_candidates"):
            yield AssetObservation(asset_key=key, partition=day,
                                   metadata={"outcome": NO_DATA, "reason": "fewer than two epochs of photometry"})
        return
    daily = analyse_light_curves(table)
    norm, metrics, candidates = daily.normalisation, daily.variability, daily.candidates
    long = normalised_table(daily.matrix, norm)
    with tiers.staging(f"lc-{day}") as stage:
        parquet = tiers.publish(write_parquet(long, stage / "lc.parquet"), layout.lightcurves_path(day))
        plots = {
            str(source_id): tiers.publish(
                plot_light_curve(long[long["source_id"] == source_id], stage / f"{rank}.png",
                                 title=f"{source_id} (ESE rank {rank})", candidate=row),
                layout.candidate_plot_path(day, str(source_id)),
            )
            for rank, (source_id, row) in enumerate(candidates.iterrows(), start=1)
        }
    with db.session() as s:
        for model in (VariabilityMetric, FluxCorrection, ESECandidate):
            s.execute(delete(model).where(model.day == day))
        s.add_all(
            FluxCorrection(day=day, epoch_mjd=float(epoch), band=daily.band, correction=float(corr),
                           correction_err=float(err), n_references=int(n))
            for epoch, corr, err, n in zip(daily.matrix.epoch_mjd, norm.correction, norm.correction_err,
                                           norm.n_references)
            if np.isfinite(corr)
        )
        s.add_all(
            VariabilityMetric(
                source_id=str(source_id), day=day, band=daily.band, n_epochs=int(row["n_epochs"]),
                weighted_mean_jy=_num(row.get("weighted_mean")), eta=_num(row.get("eta")),
                chi2_nu=_num(row.get("chi2_nu")), v=_num(row.get("v")), vs_max=_num(row.get("vs_max")),
                m_at_vs_max=_num(row.get("m_at_vs_max")), two_epoch_flag=bool(row.get("two_epoch_flag", False)),
            )
            for source_id, row in metrics.iterrows()
        )
        s.add_all(
            ESECandidate(
                source_id=str(source_id), day=day, band=daily.band, rank=int(row["rank"]), snr=float(row["snr"]),
                depth=_num(row.get("depth")), duration_days=_num(row.get("duration_days")),
                t0_mjd=_num(row.get("t0_mjd")), threshold=DEFAULT_SNR_THRESHOLD,
                plot_path=str(plots[str(source_id)]),
            )
            for source_id, row in candidates.iterrows()
        )
    for dropped in norm.dropped:
        context.log.warning(f"reference dropped: {dropped}")
    yield MaterializeResult(asset_key="lightcurves", metadata={
        "n_sources": len(metrics),
        "n_epochs": len(daily.matrix.epoch_mjd),
        "references_used_median": int(np.median(norm.n_references)) if len(norm.n_references) else 0,
        "references_dropped": len(norm.dropped),
        "two_epoch_flagged": int(metrics["two_epoch_flag"].sum()) if "two_epoch_flag" in metrics else 0,
        "parquet_path": str(parquet),
    })
    metadata = {
        "n_candidates": len(candidates),
        "threshold_snr": DEFAULT_SNR_THRESHOLD,
        "ranked": MetadataValue.md(candidates.head(20).to_markdown() if len(candidates) else "none"),
    }
    for source_id in list(plots)[:3]:
        metadata[f"lightcurve {source_id}"] = png_markdown(plots[source_id], source_id)
    yield MaterializeResult(asset_key="ese_candidates", metadata=metadata)


def _num(value) -> float | None:
    return None if value is None or not np.isfinite(value) else float(value)


@asset_check(
    asset="lightcurves",
    partitions_def=daily_partitions,
    blocking=False,
    description="Normalisation used references on most epochs (a flux scale was measured).",
)
def normalisation_references(context: AssetCheckExecutionContext, products_db: ProductsDBResource):
    with products_db.session() as s:
        counts = list(s.scalars(select(FluxCorrection.n_references)
                                .where(FluxCorrection.day.in_(context.partition_keys))))
    enough = sum(n >= 3 for n in counts)
    return AssetCheckResult(
        passed=bool(counts) and enough >= 0.8 * len(counts),
        severity=AssetCheckSeverity.WARN,
        description=f"{enough} of {len(counts)} epochs normalised with >= 3 references",
        metadata={"epochs": len(counts), "epochs_with_references": enough},
    )


science_daily_job = define_asset_job(
    "science_daily_job", selection=[daily_variability],
    description="Normalise light curves, compute variability and search for ESEs for one day.",
)
