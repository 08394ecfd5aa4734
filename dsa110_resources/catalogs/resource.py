"""Dagster resource: the operator-supplied sky catalog (NVSS-format CSV/FITS)."""

from __future__ import annotations

from pathlib import Path

from dagster import ConfigurableResource
from pydantic import Field

from .sky import SkyCatalog, read_catalog


class SkyCatalogResource(ConfigurableResource):
    """Where the sky catalog lives; sky models and photometry read it."""

    path: str | None = Field(
        default=None, description="Sky catalog file (CSV or FITS, NVSS-style columns); null: none."
    )

    def available(self) -> bool:
        return self.path is not None and Path(self.path).is_file()

    def load(self) -> SkyCatalog:
        if self.path is None:
            raise FileNotFoundError("no sky catalog configured (set DSA110_SKY_CATALOG)")
        if not Path(self.path).is_file():
            raise FileNotFoundError(f"sky catalog {self.path} does not exist")
        return read_catalog(self.path)


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
