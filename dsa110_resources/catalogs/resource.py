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


class MasterCatalogResource(ConfigurableResource):
    """The user's survey files the master catalog is built from (never downloaded at run time)."""

    nvss_path: str | None = Field(default=None, description="NVSS catalog (CSV, TSV or FITS); null: none.")
    vlass_path: str | None = Field(default=None, description="VLASS component catalog (optional).")
    first_path: str | None = Field(default=None, description="FIRST catalog (optional).")
    match_radius_arcsec: float = Field(default=15.0, description="Cross-match radius (arcsec).")
    reference_min_flux_mjy: float = Field(default=20.0, description="Faintest reference-quality source (mJy).")
    columns: dict[str, dict[str, str]] = Field(
        default_factory=dict, description="Column mapping per survey, e.g. {nvss: {flux: S1.4}}.")

    def inputs(self):
        """CatalogInput per configured survey; FileNotFoundError names a missing file."""
        from .master import CatalogInput

        paths = {"nvss": self.nvss_path, "vlass": self.vlass_path, "first": self.first_path}
        if self.nvss_path is None:
            raise FileNotFoundError("no NVSS catalog configured (set DSA110_NVSS_CATALOG)")
        out = {}
        for survey, path in paths.items():
            if path is None:
                continue
            if not Path(path).is_file():
                raise FileNotFoundError(f"{survey} catalog {path} does not exist")
            out[survey] = CatalogInput(survey, Path(path), self.columns.get(survey, {}))
        return out

    def options(self):
        import astropy.units as u

        from .master import MasterOptions

        return MasterOptions(match_radius=self.match_radius_arcsec * u.arcsec,
                             reference_min_flux=self.reference_min_flux_mjy * u.mJy)
