"""The code location: assets, checks, sensors and resources, bound once."""

from dagster import (
    Definitions,
    build_schedule_from_partitioned_job,
    in_process_executor,
    load_asset_checks_from_modules,
    load_assets_from_modules,
)

from dsa110_assets import calibration, imaging, mosaics, photometry, tiles
from dsa110_assets.jobs import tile_job
from dsa110_assets.resources import resources_for
from dsa110_sensors.incoming import incoming_tiles_sensor
from dsa110_sensors.mosaics import hourly_mosaic_sensor, nightly_mosaic_schedule

_modules = [tiles, calibration, imaging, photometry, mosaics]
defs = Definitions(
    assets=load_assets_from_modules(_modules),
    asset_checks=load_asset_checks_from_modules(_modules),
    jobs=[tile_job, photometry.science_daily_job, mosaics.hourly_mosaic_job, mosaics.nightly_mosaic_job],
    schedules=[
        build_schedule_from_partitioned_job(photometry.science_daily_job, hour_of_day=2),
        nightly_mosaic_schedule,
    ],
    sensors=[incoming_tiles_sensor, hourly_mosaic_sensor],
    resources=resources_for(),
    # One process per run: the project (astropy, casacore, CASA's wrappers) is
    # imported once, not once per step; CASA work has its own child process.
    # An empty window's run takes ~10x less time this way (docs/design-notes.md).
    executor=in_process_executor,
)
