"""Dagster resource: the operator-supplied sky catalog and calibrator list.

The resource only holds the paths; :class:`~.sources.CalibratorSources` (no
Dagster) reads them, so the ``dsa110`` commands and the assets get their
calibrators and field sources from the same code.
"""

from __future__ import annotations

from pathlib import Path

import astropy.units as u
from dagster import ConfigurableResource
from pydantic import Field

from .sky import SkyCatalog
from .sources import CalibratorSources


class SkyCatalogResource(ConfigurableResource):
    """Where the sky catalog and calibrator list live; sky models, transits and photometry read them."""

    path: str | None = Field(
        default=None, description="Sky catalog file (CSV or FITS, NVSS-style columns); null: none."
    )
    calibrator_list: str | None = Field(
        default=None, description="Calibrator list: the NRAO VLA calibrator list or a CSV; null: built-in list only."
    )
    catalog_calibrator_min_jy: float = Field(
        default=1.0, description="Compact sky-catalog sources at least this bright (Jy) also serve as calibrators."
    )

    def available(self) -> bool:
        return self.path is not None and Path(self.path).is_file()

    def sources(self) -> CalibratorSources:
        return CalibratorSources(calibrator_list=self.calibrator_list, sky_catalog=self.path,
                                 catalog_min_flux=self.catalog_calibrator_min_jy * u.Jy)

    def calibrators(self) -> dict:
        """Every calibrator (built-in standards, the list, bright compact catalog sources)."""
        return self.sources().calibrators()

    def load(self) -> SkyCatalog:
        if self.path is None:
            raise FileNotFoundError("no sky catalog configured (set DSA110_SKY_CATALOG)")
        return self.sources().sky()
