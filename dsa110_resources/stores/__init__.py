"""Storage tiers, the product path layout and atomic publishing."""

from . import layout
from .tiers import PathEscapeError, StorageTiers, clean_stale, confined, free_bytes, publish, stale_entries

__all__ = [
    "PathEscapeError",
    "StorageTiers",
    "clean_stale",
    "confined",
    "free_bytes",
    "layout",
    "publish",
    "stale_entries",
]
