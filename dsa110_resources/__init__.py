"""Everything the pipeline's assets use: science code plus thin Dagster resources.

Importing this package points CASA at the project's offline configuration
before anything can import casatools.
"""

from .casa.config import ensure_casa_environment as _ensure_casa_environment

_ensure_casa_environment()
