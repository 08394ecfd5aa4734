"""The code location: assets, checks, sensors and resources, bound once."""

from dagster import Definitions, load_asset_checks_from_modules, load_assets_from_modules

from dsa110_assets import calibration, imaging, tiles
from dsa110_assets.jobs import tile_job
from dsa110_assets.resources import resources_for
from dsa110_sensors.incoming import incoming_tiles_sensor

_modules = [tiles, calibration, imaging]
defs = Definitions(
    assets=load_assets_from_modules(_modules),
    asset_checks=load_asset_checks_from_modules(_modules),
    jobs=[tile_job],
    sensors=[incoming_tiles_sensor],
    resources=resources_for(),
)
