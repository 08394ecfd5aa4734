"""CASA: offline configuration and isolated child-process execution."""

from .config import casa_config_dir, ensure_casa_environment
from .runner import CasaTaskError, run_casa

__all__ = ["CasaTaskError", "casa_config_dir", "ensure_casa_environment", "run_casa"]
