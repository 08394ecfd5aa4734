"""The products database: SQLAlchemy models, sessions and migrations."""

from .models import (
    Base,
    CalibrationApplication,
    CalibrationTable,
    ESECandidate,
    FluxCorrection,
    ForcedPhotometry,
    Image,
    ImageHistory,
    Mosaic,
    MeasurementSet,
    SubbandFile,
    Tile,
    TransitFlux,
    VariabilityMetric,
    utcnow,
)
from .session import ProductsDB, current_revision, head_revision, make_engine, sqlite_url, upgrade

__all__ = [
    "Base",
    "CalibrationApplication",
    "CalibrationTable",
    "ESECandidate",
    "FluxCorrection",
    "ForcedPhotometry",
    "Image",
    "ImageHistory",
    "Mosaic",
    "MeasurementSet",
    "ProductsDB",
    "SubbandFile",
    "Tile",
    "TransitFlux",
    "VariabilityMetric",
    "current_revision",
    "head_revision",
    "make_engine",
    "sqlite_url",
    "upgrade",
    "utcnow",
]
