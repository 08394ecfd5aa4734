"""The products database: SQLAlchemy models, sessions and migrations."""

from .models import (
    Base,
    CalibrationApplication,
    CalibrationTable,
    Image,
    MeasurementSet,
    SubbandFile,
    Tile,
    utcnow,
)
from .session import ProductsDB, current_revision, head_revision, make_engine, sqlite_url, upgrade

__all__ = [
    "Base",
    "CalibrationApplication",
    "CalibrationTable",
    "Image",
    "MeasurementSet",
    "ProductsDB",
    "SubbandFile",
    "Tile",
    "current_revision",
    "head_revision",
    "make_engine",
    "sqlite_url",
    "upgrade",
    "utcnow",
]
