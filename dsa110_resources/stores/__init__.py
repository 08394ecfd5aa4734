"""Storage tiers, the product path layout and atomic publishing."""

from . import layout
from .tiers import PathEscapeError, StorageTiers, clean_stale, confined, free_bytes, publish

__all__ = [
    "PathEscapeError",
    "StorageTiers",
    "clean_stale",
    "confined",
    "free_bytes",
    "layout",
    "publish",
]
