"""The product tree under the data root: the one home of every path pattern.

    incoming/YYYY-MM-DD/<ts>_sbNN.hdf5     raw subband files (flat incoming/ too)
    ms/{science,calibrators,failed}/YYYY-MM-DD/<tile>.ms
    caltables/YYYY-MM-DD/<tile>.{kcal,bcal,gcal}
    images/YYYY-MM-DD/<tile>.<kind>.fits   (reprocessed: <tile>.v<N>.<kind>.fits)
    mosaics/{hourly,nightly}/...
    photometry/   sources/{tiles,hourly,daily}/   qa/YYYY-MM-DD/   state/ (products DB)   quarantine/

Functions return paths *relative* to the data root; ``StorageTiers`` confines
them. Tile ids are the tile's earliest file timestamp, ``YYYY-MM-DDTHH:MM:SS``.
"""

from __future__ import annotations

from pathlib import PurePosixPath

MS_KINDS = ("science", "calibrators", "failed")


def tile_date(tile_id: str) -> str:
    """``2025-10-13T13:25:07`` -> ``2025-10-13`` (validated)."""
    date = tile_id[:10]
    if len(tile_id) < 19 or tile_id[4] != "-" or tile_id[10] != "T":
        raise ValueError(f"not a tile id (YYYY-MM-DDTHH:MM:SS): {tile_id!r}")
    return date


def incoming_dir() -> PurePosixPath:
    return PurePosixPath("incoming")


def ms_path(tile_id: str, kind: str = "science") -> PurePosixPath:
    if kind not in MS_KINDS:
        raise ValueError(f"MS kind must be one of {MS_KINDS}, got {kind!r}")
    return PurePosixPath("ms", kind, tile_date(tile_id), f"{tile_id}.ms")


def caltable_path(tile_id: str, caltype: str) -> PurePosixPath:
    if caltype not in ("kcal", "bcal", "gcal", "gpcal"):
        raise ValueError(f"unknown calibration table type {caltype!r}")
    return PurePosixPath("caltables", tile_date(tile_id), f"{tile_id}.{caltype}")


def image_path(tile_id: str, kind: str, version: int = 1) -> PurePosixPath:
    """A tile's image product; a reprocess (version 2, 3, ...) is published beside it
    as ``<tile>.v<N>.<kind>.fits`` so the database can switch a tile's products at once."""
    stem = tile_id if version <= 1 else f"{tile_id}.v{version}"
    return PurePosixPath("images", tile_date(tile_id), f"{stem}.{kind}.fits")


def qa_path(tile_id: str, name: str) -> PurePosixPath:
    return PurePosixPath("qa", tile_date(tile_id), f"{tile_id}.{name}")


def quarantine_dir(tile_id: str) -> PurePosixPath:
    return PurePosixPath("quarantine", tile_date(tile_id), tile_id)


MOSAIC_KINDS = ("hourly", "nightly", "custom")


def mosaic_dir(kind: str, label: str) -> PurePosixPath:
    """``mosaics/<kind>/YYYY-MM-DD`` for a label that starts with its date."""
    if kind not in MOSAIC_KINDS:
        raise ValueError(f"mosaic kind must be one of {MOSAIC_KINDS}, got {kind!r}")
    tile_date(f"{label[:10]}T00:00:00")  # validates the date prefix
    return PurePosixPath("mosaics", kind, label[:10])


def mosaic_path(kind: str, label: str, product: str) -> PurePosixPath:
    return mosaic_dir(kind, label) / f"{label}.{product}.fits"


def mosaic_overview_path(day: str) -> PurePosixPath:
    return mosaic_dir("nightly", day) / f"{day}.overview.png"


def photometry_path(tile_id: str) -> PurePosixPath:
    """Per-tile forced photometry export (Parquet)."""
    return PurePosixPath("photometry", "tiles", tile_date(tile_id), f"{tile_id}.parquet")


def lightcurves_path(day: str) -> PurePosixPath:
    """Normalised light curves and variability of all sources as of ``day``."""
    tile_date(f"{day}T00:00:00")
    return PurePosixPath("photometry", "daily", f"{day}.lightcurves.parquet")


def _file_safe(name: str) -> str:
    """A source name as a file name: anything but letters, digits and +-._ becomes _."""
    return "".join(c if c.isalnum() or c in "+-._" else "_" for c in name)


def candidate_plot_path(day: str, source_id: str) -> PurePosixPath:
    return PurePosixPath("qa", day, "candidates", f"{_file_safe(source_id)}.png")


def sources_path(image_label: str, kind: str = "tiles") -> PurePosixPath:
    """Blind-source table of one image (Parquet): a tile id, or a mosaic label starting with its date."""
    if kind not in ("tiles", "hourly", "nightly", "daily"):
        raise ValueError(f"source-table kind must be tiles, hourly, nightly or daily, got {kind!r}")
    date = tile_date(f"{image_label[:10]}T00:00:00")
    if kind == "daily":
        return PurePosixPath("sources", kind, f"{image_label}.parquet")
    return PurePosixPath("sources", kind, date, f"{image_label}.sources.parquet")


def new_sources_path(day: str) -> PurePosixPath:
    """The ranked new sources first seen on ``day`` (Parquet), with a cut-out each under qa/."""
    return sources_path(f"{day}.new_sources", "daily")


def new_source_cutout_path(day: str, name: str) -> PurePosixPath:
    return PurePosixPath("qa", day, "new_sources", f"{_file_safe(name)}.png")


def state_dir() -> PurePosixPath:
    return PurePosixPath("state")


def products_db_file() -> PurePosixPath:
    return state_dir() / "products.sqlite"


def alert_state_file() -> PurePosixPath:
    """The alerts announced and not yet cleared (``ops.alerts.AlertBook``)."""
    return state_dir() / "alerts.json"


def deletions_log() -> PurePosixPath:
    """Every path housekeeping deleted, one JSON line each (an audit trail)."""
    return state_dir() / "deletions.jsonl"
