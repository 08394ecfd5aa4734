"""Storage tiers, the product path layout and atomic publishing."""

from . import layout
from .tiers import (
    DiskFull,
    PathEscapeError,
    StorageTiers,
    clean_stale,
    confined,
    free_bytes,
    is_disk_full,
    publish,
    stale_entries,
)

__all__ = [
    "DiskFull",
    "PathEscapeError",
    "StorageTiers",
    "clean_stale",
    "confined",
    "free_bytes",
    "is_disk_full",
    "layout",
    "publish",
    "stale_entries",
]
