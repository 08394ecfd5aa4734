"""Dagster resource: where raw files arrive and how they are grouped into tiles."""

from __future__ import annotations

from pathlib import Path

import astropy.units as u
from dagster import ConfigurableResource
from pydantic import Field

from .. import constants
from .arrival import DEFAULT_SETTLE


class IngestResource(ConfigurableResource):
    """The incoming directory and the tile-completeness rules."""

    incoming_dir: str = Field(description="Directory the correlator writes subband files into.")
    tolerance_seconds: float = Field(
        default=float(constants.GROUP_TOLERANCE.to_value(u.s)),
        description="Files within this many seconds of a tile's first file belong to it.",
    )
    incomplete_wait_seconds: float = Field(
        default=600.0,
        description="How long a 12-15 subband tile waits for stragglers before converting.",
    )
    settle_seconds: float = Field(
        default=float(DEFAULT_SETTLE.to_value(u.s)),
        description="A file changed this recently is still being written: its tile waits, "
                    "and a read failure is retried instead of quarantined.",
    )
    unready_retries: int = Field(
        default=10,
        description="Retries (settle_seconds apart) of a tile whose file is not yet readable "
                    "before it is quarantined.",
    )
    min_subbands: int = Field(
        default=constants.MIN_SUBBANDS_FOR_CONVERSION,
        description="Fewest subbands a tile may have and still be converted.",
    )

    @property
    def incoming(self) -> Path:
        return Path(self.incoming_dir)

    @property
    def tolerance(self) -> u.Quantity:
        return self.tolerance_seconds * u.s

    @property
    def incomplete_wait(self) -> u.Quantity:
        return self.incomplete_wait_seconds * u.s

    @property
    def settle(self) -> u.Quantity:
        return self.settle_seconds * u.s
