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
