"""The code location: assets, checks, sensors and resources, bound once."""

from dagster import (
    Definitions,
    build_schedule_from_partitioned_job,
    load_asset_checks_from_modules,
    load_assets_from_modules,
)

from dsa110_assets import calibration, imaging, photometry, tiles
from dsa110_assets.jobs import tile_job
from dsa110_assets.resources import resources_for
from dsa110_sensors.incoming import incoming_tiles_sensor

_modules = [tiles, calibration, imaging, photometry]
defs = Definitions(
    assets=load_assets_from_modules(_modules),
    asset_checks=load_asset_checks_from_modules(_modules),
    jobs=[tile_job, photometry.science_daily_job],
    schedules=[build_schedule_from_partitioned_job(photometry.science_daily_job, hour_of_day=2)],
    sensors=[incoming_tiles_sensor],
    resources=resources_for(),
)
