"""Dagster resource over StorageTiers."""

from __future__ import annotations

from dagster import ConfigurableResource
from pydantic import Field

from .tiers import StorageTiers


class StorageResource(ConfigurableResource):
    """Data root and staging tiers (tmpfs for speed, SSD when tmpfs is short)."""

    data_root: str = Field(description="Root of the product tree (incoming/, ms/, images/, ...).")
    fast_root: str | None = Field(
        default="/dev/shm/dsa110", description="tmpfs staging directory; null disables it."
    )
    stage_root: str | None = Field(
        default=None, description="SSD staging directory; default <data_root>/staging."
    )
    fast_margin: float = Field(
        default=0.25, description="Fraction of tmpfs that must stay free after staging."
    )
    no_space_retries: int = Field(
        default=12, description="Retries of a step that found its disk full (ENOSPC) before it fails."
    )
    no_space_wait_seconds: float = Field(
        default=300.0, description="Wait between those retries (for housekeeping or an operator)."
    )

    def tiers(self) -> StorageTiers:
        return StorageTiers(
            data_root=self.data_root,
            fast_root=self.fast_root,
            stage_root=self.stage_root,
            fast_margin=self.fast_margin,
        )
