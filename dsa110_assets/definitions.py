"""The code location: assets, checks, sensors and resources, bound once."""

from dagster import (
    Definitions,
    build_schedule_from_partitioned_job,
    load_asset_checks_from_modules,
    load_assets_from_modules,
)

from dsa110_assets import calibration, imaging, mosaics, photometry, tiles
from dsa110_assets.execution import executor_for
from dsa110_assets.jobs import tile_job
from dsa110_assets.ops import housekeeping_job, housekeeping_schedule
from dsa110_assets.resources import resources_for
from dsa110_sensors.alerts import pipeline_alerts_sensor, pipeline_health, run_failure_alert_sensor
from dsa110_sensors.downstream import downstream_sensor
from dsa110_sensors.incoming import incoming_tiles_sensor
from dsa110_sensors.mosaics import hourly_mosaic_sensor, nightly_mosaic_schedule

_modules = [tiles, calibration, imaging, photometry, mosaics]
defs = Definitions(
    assets=[*load_assets_from_modules(_modules), pipeline_health],
    asset_checks=load_asset_checks_from_modules(_modules),
    jobs=[tile_job, photometry.science_daily_job, mosaics.hourly_mosaic_job, mosaics.nightly_mosaic_job,
          housekeeping_job],
    schedules=[
        build_schedule_from_partitioned_job(photometry.science_daily_job, hour_of_day=2),
        nightly_mosaic_schedule,
        housekeeping_schedule,
    ],
    sensors=[incoming_tiles_sensor, hourly_mosaic_sensor, downstream_sensor, pipeline_alerts_sensor,
             run_failure_alert_sensor],
    resources=resources_for(),
    # in_process by default: one process per run, the project imported once,
    # not once per step (docs/design-notes.md); celery across workers (deploy/).
    executor=executor_for(),
)
