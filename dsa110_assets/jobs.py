"""Jobs: the per-tile chain, run once per tile by the incoming-files sensor."""

from dagster import AssetSelection, define_asset_job

from .tile_windows import TILE_GROUP

#: Everything partitioned by tile window (and the checks on it): one sensor
#: run carries a tile from raw files to its image.
TILE_ASSETS = AssetSelection.groups(TILE_GROUP)

tile_job = define_asset_job(
    "tile_job",
    selection=TILE_ASSETS,
    description="One tile through its whole chain: files -> MS -> calibrated MS -> image.",
    tags={"dsa110/chain": "tile"},
)

#: Re-solving calibrator solutions over a range of hours (UI: Partitions -> Launch backfill).
calibration_job = define_asset_job(
    "calibration_job",
    selection=AssetSelection.assets("bandpass_solutions"),
    description="Re-solve the calibrator solutions ((K,) B, G) of the selected hours.",
    tags={"dsa110/chain": "calibration"},
)
