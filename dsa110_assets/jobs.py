"""Jobs: the per-tile chain, run once per tile by the incoming-files sensor."""

from dagster import AssetSelection, define_asset_job

from .tile_windows import TILE_GROUP

#: Everything partitioned by tile window (and the checks on it): one sensor
#: run carries a tile from raw files to its image.
TILE_ASSETS = AssetSelection.groups(TILE_GROUP)

#: Run priority (``dagster/priority``): the queued run coordinator launches
#: higher first, and a running step claims a pool slot (casa, mosaic) ahead
#: of lower-priority steps waiting for one. Live tiles go first, backfill and
#: reprocessing windows last; everything else (mosaics, daily science) is 0.
PRIORITY_TAG = "dagster/priority"
LIVE_PRIORITY = 10
BACKFILL_PRIORITY = -10

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
