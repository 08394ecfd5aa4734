"""The code location: assets, checks, sensors and resources, bound once."""

from dagster import (
    Definitions,
    build_schedule_from_partitioned_job,
    load_asset_checks_from_modules,
    load_assets_from_modules,
)

from dsa110_assets import calibration, imaging, mosaics, photometry, sources, tiles
from dsa110_assets.execution import executor_for
from dsa110_assets.jobs import calibration_job, tile_job
from dsa110_assets.ops import housekeeping_job, housekeeping_schedule
from dsa110_assets.resources import resources_for
from dsa110_assets.versions import with_code_versions
from dsa110_sensors.calibration import calibration_sensor
from dsa110_sensors.alerts import pipeline_alerts_sensor, pipeline_health, run_failure_alert_sensor
from dsa110_sensors.downstream import downstream_sensor
from dsa110_sensors.incoming import incoming_tiles_sensor
from dsa110_sensors.mosaics import hourly_mosaic_sensor, nightly_mosaic_schedule

_modules = [tiles, calibration, imaging, photometry, mosaics, sources]
_resources = resources_for()
defs = Definitions(
    # code versions from the parameters bound here: a change marks products stale (versions.py)
    assets=[*with_code_versions(load_assets_from_modules(_modules), _resources), pipeline_health],
    asset_checks=load_asset_checks_from_modules(_modules),
    jobs=[tile_job, calibration_job, photometry.science_daily_job, mosaics.hourly_mosaic_job,
          mosaics.nightly_mosaic_job, housekeeping_job, sources.new_sources_job],
    schedules=[
        build_schedule_from_partitioned_job(photometry.science_daily_job, hour_of_day=2),
        nightly_mosaic_schedule,
        housekeeping_schedule,
        sources.new_sources_schedule,
    ],
    sensors=[incoming_tiles_sensor, calibration_sensor, hourly_mosaic_sensor, downstream_sensor,
             pipeline_alerts_sensor, run_failure_alert_sensor],
    resources=_resources,
    # in_process by default: one process per run, the project imported once,
    # not once per step (docs/design-notes.md); celery across workers (deploy/).
    executor=executor_for(),
)
