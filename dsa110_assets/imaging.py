"""Per-tile imaging: WSClean (or tclean) image, primary-beam correction, image QA.

Only calibrated data is imaged: a tile whose MS has no applied calibration
ends its window as "awaiting calibration" unless ``allow_uncalibrated``.
"""

from dataclasses import replace

import astropy.units as u
from dagster import (
    AssetCheckExecutionContext,
    AssetCheckResult,
    AssetCheckSeverity,
    AssetExecutionContext,
    ConfigurableResource,
    MetadataValue,
    asset_check,
)
from pydantic import Field
from sqlalchemy import select

from dsa110_resources.calibration.registry import applied_tables
from dsa110_resources.catalogs.resource import SkyCatalogResource
from dsa110_resources.db import Image, Tile
from dsa110_resources.db.resource import ProductsDBResource
from dsa110_resources.imaging import ImagingParams, ReferenceSources, image_tile
from dsa110_resources.imaging.params import choose_data_column
from dsa110_resources.imaging.noise_gate import (
    MAX_FLUX_SCALE_ERROR,
    MIN_REFERENCES,
    NOISE_LIMIT,
    bright_flux,
    expected_noise,
    flux_scale_problems,
    image_noise_problems,
)
from dsa110_resources.qa.thermal import thermal_figures
from dsa110_resources.tileinfo import TileInfo
from dsa110_resources.stores.resource import StorageResource

from .calibration import calibrated_ms
from .partitions import tile_partitions
from .tile_windows import (
    AWAITING_CALIBRATION,
    NO_DATA,
    WindowOutcomes,
    tile_asset,
    measurement_set_for,
    png_markdown,
    run_windows,
)

MIN_DYNAMIC_RANGE = 10.0


class ImagingResource(ConfigurableResource):
    """Which imager and the per-site overrides of the DSA-110 imaging defaults."""

    backend: str | None = Field(default=None, description="wsclean | tclean; null: WSClean when installed.")
    size: int | None = Field(default=None, description="Image side in pixels; null: from the primary beam.")
    robust: float = Field(default=0.5, description="Briggs robust.")
    threshold_sigma: float = Field(default=3.0, description="Stop cleaning at this many noise sigma.")
    subband_images: int = Field(
        default=ImagingParams.subband_images,
        description="WSClean sub-band images kept beside the full band (joint deconvolution); 1: one band.")
    allow_uncalibrated: bool = Field(
        default=False,
        description="Image a tile from raw DATA when no valid calibration was applied to it."
        " Off: such a tile waits ('awaiting calibration'). Set it per run, for a look at raw data.",
    )

    def params(self) -> ImagingParams:
        return ImagingParams(size=self.size, robust=self.robust, threshold_sigma=self.threshold_sigma,
                             subband_images=self.subband_images)


def _references(sky_catalog: SkyCatalogResource, min_flux: u.Quantity = 20 * u.mJy):
    if not sky_catalog.available():
        return None
    catalog = sky_catalog.load()
    keep = catalog.flux_jy >= min_flux.to_value(u.Jy)
    return ReferenceSources(coords=catalog.coords[keep], flux=catalog.flux_jy[keep] * u.Jy,
                            names=tuple(str(n) for n in catalog.name[keep]))


@tile_asset(
    deps=[calibrated_ms],
    pool="casa",
    kinds={"wsclean", "fits"},
    description="The tile imaged (Stokes I, mfs), primary-beam corrected, with noise/beam/recovery QA.",
)
def image(
    context: AssetExecutionContext,
    storage: StorageResource,
    products_db: ProductsDBResource,
    sky_catalog: SkyCatalogResource,
    imaging: ImagingResource,
):
    db, tiers = products_db.db(), storage.tiers()
    outcomes = WindowOutcomes()
    references = _references(sky_catalog)
    for window in run_windows(context):
        found = measurement_set_for(db, window)
        if found is None:
            outcomes.record(window, NO_DATA, "no calibrated measurement set in this window")
            continue
        tile, ms = found
        applied = applied_tables(db, ms.path)
        retired = [t.path for t in applied if t.status != "valid"]
        caltables = [t.path for t in applied if t.status == "valid"]
        column = choose_data_column(ms.path)
        uncalibrated = not caltables or bool(retired) or column != "CORRECTED_DATA"
        if uncalibrated and not imaging.allow_uncalibrated:
            reason = (f"{tile.tile_id}: no calibration applied to {ms.path}" if not applied
                      else f"{tile.tile_id}: {ms.path} was calibrated with retired tables {retired}" if retired
                      else f"{tile.tile_id}: CORRECTED_DATA of {ms.path} holds no calibrated data")
            outcomes.record(window, AWAITING_CALIBRATION, reason)
            context.log.warning(f"{reason}; not imaged (imaging.allow_uncalibrated is off)")
            continue
        params = replace(imaging.params(), data_column=column)
        thermal = thermal_figures(ms.path)
        bright = bright_flux(TileInfo.read(ms.path), sky_catalog.load()) if sky_catalog.available() else None

        def noise_model(qa, thermal=thermal, bright=bright):  # the gate's expectation, imaging.noise_gate
            static, variable = bright if bright else (qa.peak_jy * u.Jy, 0 * u.Jy)
            return expected_noise(thermal.noise, thermal.n_baselines, thermal.n_channels, static_flux=static,
                                  variable_flux=variable, bright_from="catalog" if bright else "image peak")

        result = image_tile(ms.path, tiers, tile.tile_id, params, imaging.backend,
                            caltables=caltables, references=references, db=db,
                            expected_noise=thermal.noise, noise_model=noise_model,
                            code_version=context.assets_def.code_versions_by_key.get(context.asset_key),
                            run_id=context.run.run_id)
        qa = result.qa
        metadata = {
            "tile_id": tile.tile_id,
            "backend": result.backend,
            "noise_mjy": round(qa.noise_jy * 1e3, 4),
            "noise_ratio_to_thermal": round(qa.noise_ratio, 3) if qa.noise_ratio else "n/a",
            "noise_expected_mjy": round(qa.noise_gate["expected_jy"] * 1e3, 4),
            "peak_jy": round(qa.peak_jy, 4),
            "dynamic_range": round(qa.dynamic_range, 1),
            "beam": f'{qa.bmaj_arcsec:.1f}" x {qa.bmin_arcsec:.1f}" @ {qa.bpa_deg:.0f} deg',
            "image_path": str(result.products.get("image")),
            "pbcor_path": str(result.products.get("pbcor")),
            "caltables": ", ".join(caltables) or "none",
            "data_column": column + (" (UNCALIBRATED, allowed by imaging.allow_uncalibrated)"
                                     if uncalibrated else ""),
            "imager_seconds": round(result.backend_seconds, 1),
            "version": int(result.extras.get("version", 1)),
        }
        if qa.recovery is not None:
            metadata["recovery"] = MetadataValue.json(qa.recovery.as_dict())
        if result.preview is not None:
            metadata["preview"] = png_markdown(result.preview, tile.tile_id)
        outcomes.add_product(window, metadata)
        context.log.info(f"{tile.tile_id}: " + "; ".join(qa.summary_lines()))
    yield from outcomes.events(context)


def _image_rows(context: AssetCheckExecutionContext, db) -> list[Image]:
    with db.session() as s:
        return list(s.scalars(
            select(Image).join(Tile, Tile.tile_id == Image.tile_id)
            .where(Tile.partition_key.in_(context.partition_keys), Image.kind == "image")
        ))


@asset_check(
    asset=image,
    blocking=True,
    partitions_def=tile_partitions,
    description=f"Image noise within {NOISE_LIMIT:g}x of what the tile should reach: thermal noise plus the"
    " floor bright sources near the field leave (imaging.noise_gate, constants measured on simulated tiles).",
)
def image_noise(context: AssetCheckExecutionContext, products_db: ProductsDBResource):
    rows = _image_rows(context, products_db.db())
    bad = {row.tile_id: p for row in rows if (p := image_noise_problems(row.noise_jy, row.qa))}
    ratios = {row.tile_id: round(row.noise_jy / row.qa["noise_gate"]["expected_jy"], 3)
              for row in rows if row.tile_id not in bad and (row.qa or {}).get("noise_gate")}
    return AssetCheckResult(
        passed=bool(rows) and not bad,
        severity=AssetCheckSeverity.ERROR,
        description="; ".join(f"{t}: {', '.join(p)}" for t, p in bad.items()) or "noise as expected",
        metadata={"limit": NOISE_LIMIT, "noise_over_expected": MetadataValue.json(ratios),
                  "expectation": MetadataValue.json({row.tile_id: (row.qa or {}).get("noise_gate") for row in rows})},
    )


@asset_check(
    asset=image,
    blocking=True,
    partitions_def=tile_partitions,
    description=f"Flux scale: median recovered/catalog flux of the catalog sources in the image within"
    f" {MAX_FLUX_SCALE_ERROR:.0%} of 1 (judged with at least {MIN_REFERENCES} sources measured).",
)
def image_flux_scale(context: AssetCheckExecutionContext, products_db: ProductsDBResource):
    judged = {row.tile_id: flux_scale_problems((row.qa or {}).get("recovery"))
              for row in _image_rows(context, products_db.db())}
    bad = {t: p for t, (p, _) in judged.items() if p}
    return AssetCheckResult(
        passed=bool(judged) and not bad,
        severity=AssetCheckSeverity.ERROR,
        description="; ".join(f"{t}: {', '.join(p)}" for t, p in bad.items())
        or "; ".join(f"{t}: {what}" for t, (_, what) in judged.items()) or "no image",
        metadata={"max_error": MAX_FLUX_SCALE_ERROR, "min_sources": MIN_REFERENCES},
    )


@asset_check(
    asset=image,
    blocking=False,
    partitions_def=tile_partitions,
    description=f"Dynamic range at least {MIN_DYNAMIC_RANGE:g} (a warning: empty fields are faint).",
)
def image_dynamic_range(context: AssetCheckExecutionContext, products_db: ProductsDBResource):
    ranges = {row.tile_id: row.dynamic_range for row in _image_rows(context, products_db.db())}
    low = {t: r for t, r in ranges.items() if r is None or r < MIN_DYNAMIC_RANGE}
    return AssetCheckResult(
        passed=bool(ranges) and not low,
        severity=AssetCheckSeverity.WARN,
        description="; ".join(f"{t}: DR {r:.0f}" for t, r in low.items()) or "dynamic range fine",
        metadata={"limit": MIN_DYNAMIC_RANGE, "dynamic_range": MetadataValue.json(ranges)},
    )
