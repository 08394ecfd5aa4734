"""Dagster resource for CASA child-process execution."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from dagster import ConfigurableResource
from pydantic import Field

from .runner import run_casa


class CasaResource(ConfigurableResource):
    """Runs CASA steps in isolated child processes with a per-step log."""

    timeout_seconds: float | None = Field(
        default=None, description="Kill a CASA step (and its helpers) after this long; null: DSA110_STEP_TIMEOUT."
    )

    def run(self, target: str, *args: Any, workdir: Path, **kwargs: Any) -> Any:
        return run_casa(target, *args, workdir=workdir, timeout=self.timeout_seconds, **kwargs)
