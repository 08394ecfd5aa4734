"""Source catalogs: calibrator list, sky catalogs (CSV / NVSS-like FITS, synthetic)."""

from dsa110_resources.catalogs.calibrators import (
    DEFAULT_CALIBRATORS,
    Calibrator,
    calibrator_catalog,
    get_calibrator,
    read_calibrator_csv,
)
from dsa110_resources.catalogs.sky import REFERENCE_FREQUENCY, SkyCatalog, read_catalog, read_csv, read_fits

__all__ = [
    "DEFAULT_CALIBRATORS",
    "REFERENCE_FREQUENCY",
    "Calibrator",
    "SkyCatalog",
    "calibrator_catalog",
    "get_calibrator",
    "read_calibrator_csv",
    "read_catalog",
    "read_csv",
    "read_fits",
]
