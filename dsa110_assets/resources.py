"""Resources, bound once, chosen by environment (``DSA110_ENV``).

local       the default: everything under ./data (or ``DSA110_DATA_ROOT``), SQLite
ci          like local, without the tmpfs tier (CI machines may have a small /dev/shm)
production  paths and the database URL must come from the environment

A database URL from the environment is bound as ``EnvVar("DSA110_DB_URL")``:
Dagster then shows the variable's name, never its value (the password), in
the UI, run config and event log.
"""

from __future__ import annotations

import os
from pathlib import Path

from dagster import EnvVar

from dsa110_assets.imaging import ImagingResource
from dsa110_resources.casa.measures import warn_if_stale
from dsa110_resources.casa.resource import CasaResource
from dsa110_resources.catalogs.resource import MasterCatalogResource, SkyCatalogResource
from dsa110_resources.db.resource import ProductsDBResource
from dsa110_resources.db.session import sqlite_url
from dsa110_resources.conversion.resource import IngestResource
from dsa110_resources.stores import layout
from dsa110_resources.stores.resource import StorageResource

ENVIRONMENTS = ("local", "ci", "production")


def _required(name: str) -> str:
    value = os.environ.get(name)
    if not value:
        raise RuntimeError(f"DSA110_ENV=production needs {name} set in the environment")
    return value


def resources_for(environment: str | None = None) -> dict:
    environment = environment or os.environ.get("DSA110_ENV", "local")
    if environment not in ENVIRONMENTS:
        raise ValueError(f"DSA110_ENV must be one of {ENVIRONMENTS}, got {environment!r}")
    if environment == "production":
        data_root = _required("DSA110_DATA_ROOT")
        _required("DSA110_DB_URL")
    else:
        data_root = str(Path(os.environ.get("DSA110_DATA_ROOT", "data")).resolve())
    db_url = (
        EnvVar("DSA110_DB_URL")
        if os.environ.get("DSA110_DB_URL")
        else sqlite_url(Path(data_root) / layout.products_db_file())  # no secret in a file path
    )
    warn_if_stale()  # the start-up check of the ageing reference data
    fast_root = None if environment == "ci" else os.environ.get("DSA110_FAST_ROOT", "/dev/shm/dsa110")
    return {
        "storage": StorageResource(
            data_root=data_root,
            fast_root=fast_root,
            stage_root=os.environ.get("DSA110_STAGE_ROOT"),
        ),
        "products_db": ProductsDBResource(url=db_url),
        "ingest": IngestResource(
            incoming_dir=os.environ.get(
                "DSA110_INCOMING", str(Path(data_root) / layout.incoming_dir())
            ),
            incomplete_wait_seconds=float(os.environ.get("DSA110_INCOMPLETE_WAIT", 600)),
            min_subbands=int(os.environ.get("DSA110_MIN_SUBBANDS", 12)),
            settle_seconds=float(os.environ.get("DSA110_SETTLE", 30)),
        ),
        "sky_catalog": SkyCatalogResource(
            path=os.environ.get("DSA110_SKY_CATALOG"),
            calibrator_list=os.environ.get("DSA110_CALIBRATOR_LIST"),
            catalog_calibrator_min_jy=float(os.environ.get("DSA110_CATALOG_CALIBRATOR_MIN_JY", 1.0)),
        ),
        "master_catalog_files": MasterCatalogResource(
            nvss_path=os.environ.get("DSA110_NVSS_CATALOG"),
            vlass_path=os.environ.get("DSA110_VLASS_CATALOG"),
            first_path=os.environ.get("DSA110_FIRST_CATALOG"),
        ),
        "imaging": ImagingResource(backend=os.environ.get("DSA110_IMAGER")),
        "casa": CasaResource(),  # time limit: DSA110_STEP_TIMEOUT (child_steps)
    }
