"""The code location: assets, checks, sensors and resources, bound once."""

from dagster import Definitions

from dsa110_assets.resources import resources_for

defs = Definitions(resources=resources_for())
