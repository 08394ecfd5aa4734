"""Per-window bookkeeping shared by the per-tile assets.

Sensor runs and backfills run one 5-minute window per run
(``TILE_BACKFILL_POLICY``), so each window's materialization, checks and
failure belong to it alone. A window with nothing to do materializes
nothing: its run ends as "no data" (or "awaiting calibration"), downstream
steps are skipped, and an observation says why.

A ranged run (``dagster asset materialize --partition-range``, or a run
launched with range tags) still works: each asset walks the windows and
each window's materialization carries its own metadata, but Dagster marks
every window of the range materialized and shares the blocking checks
across the range. Backfills therefore never use ranges; see
docs/design-notes.md for the measured cost.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from dagster import (
    AssetExecutionContext,
    AssetObservation,
    BackfillPolicy,
    MaterializeResult,
    MetadataValue,
    RetryPolicy,
    Backoff,
)

from .partitions import TILE_MINUTES, TILE_PARTITION_FORMAT

#: One run per window: a window's status, checks and failure stay its own.
#: The cost (a few seconds of run start per window) is measured by
#: bench/backfill_runs.py and recorded in docs/design-notes.md.
TILE_BACKFILL_POLICY = BackfillPolicy.multi_run(max_partitions_per_run=1)
#: Transient failures (a busy database, a full tmpfs freed by a neighbour) get
#: two more tries; bad input raises Failure(allow_retries=False) instead.
TILE_RETRY_POLICY = RetryPolicy(max_retries=2, delay=15, backoff=Backoff.EXPONENTIAL)

DONE, NO_DATA, SKIPPED, FAILED = "done", "no data", "skipped", "failed"
#: The MS exists but no valid calibration was applied: nothing is imaged from
#: raw DATA unless a person opts in (``imaging.allow_uncalibrated``).
AWAITING_CALIBRATION = "awaiting calibration"
TILE_GROUP = "tile"


def tile_asset(**kwargs):
    """``@asset`` for a step of the per-tile chain: 5-minute partitions, group
    "tile" (so ``tile_job`` carries it), ranged backfills, retries, and an
    optional output (a run with nothing to do materialises nothing)."""
    from dagster import asset

    from .partitions import tile_partitions

    return asset(
        group_name=TILE_GROUP,
        partitions_def=tile_partitions,
        backfill_policy=TILE_BACKFILL_POLICY,
        retry_policy=TILE_RETRY_POLICY,
        output_required=False,
        **kwargs,
    )


@dataclass(frozen=True)
class TileWindow:
    key: str
    start: dt.datetime

    @property
    def end(self) -> dt.datetime:
        return self.start + dt.timedelta(minutes=TILE_MINUTES)


def run_windows(context: AssetExecutionContext) -> list[TileWindow]:
    return [
        TileWindow(key, dt.datetime.strptime(key, TILE_PARTITION_FORMAT).replace(tzinfo=dt.UTC))
        for key in context.partition_keys
    ]


@dataclass
class WindowOutcomes:
    """What happened to each window of the run, and the metadata of its product."""

    outcomes: dict[str, tuple[str, str]] = field(default_factory=dict)
    products: dict[str, dict[str, Any]] = field(default_factory=dict)

    def record(self, window: TileWindow, status: str, detail: str = "") -> None:
        self.outcomes[window.key] = (status, detail)

    def add_product(self, window: TileWindow, metadata: dict[str, Any]) -> None:
        self.record(window, DONE, metadata.get("tile_id", ""))
        self.products[window.key] = metadata

    @property
    def any_done(self) -> bool:
        return bool(self.products)

    def summary(self) -> str:
        counts: dict[str, int] = {}
        for status, _ in self.outcomes.values():
            counts[status] = counts.get(status, 0) + 1
        return ", ".join(f"{n} {status}" for status, n in sorted(counts.items()))

    def events(self, context: AssetExecutionContext) -> Iterator[Any]:
        """A materialization if anything was made, else an observation per window saying why not.

        Metadata is attached per partition: in a ranged run Dagster materializes
        every window of the range, so each window's event carries its own
        product, or the outcome that explains why it holds none.
        """
        if not self.any_done:
            context.log.info(f"{context.asset_key.to_user_string()}: nothing to do ({self.summary()})")
            for key, (status, detail) in self.outcomes.items():
                yield AssetObservation(
                    asset_key=context.asset_key,
                    partition=key,
                    metadata={"outcome": status, "reason": detail or status},
                )
            return
        for key, (status, detail) in self.outcomes.items():
            metadata = self.products.get(key) or {"reason": detail or status}
            context.add_asset_metadata({"outcome": status, **metadata}, partition_key=key)
        yield MaterializeResult(metadata={"run_windows": self.summary()})


def measurement_set_for(db, window: TileWindow):
    """The (tile, MS row) converted for this window, or None."""
    from sqlalchemy import select

    from dsa110_resources.db import MeasurementSet, Tile

    with db.session() as s:
        row = s.execute(
            select(Tile, MeasurementSet)
            .join(MeasurementSet, MeasurementSet.tile_id == Tile.tile_id)
            .where(Tile.partition_key == window.key, Tile.status == "converted")
            .order_by(MeasurementSet.created_at.desc())
        ).first()
    return None if row is None else (row[0], row[1])


def converted_tiles(db, *conditions) -> list:
    """(tile, newest MS row) of every converted tile matching ``conditions`` (SQLAlchemy clauses)."""
    from sqlalchemy import select

    from dsa110_resources.db import MeasurementSet, Tile

    with db.session() as s:
        rows = s.execute(
            select(Tile, MeasurementSet)
            .join(MeasurementSet, MeasurementSet.tile_id == Tile.tile_id)
            .where(Tile.status == "converted", *conditions)
            .order_by(Tile.tile_id, MeasurementSet.created_at.desc())
        ).all()
    newest: dict = {}
    for tile, ms in rows:
        newest.setdefault(tile.tile_id, (tile, ms))
    return list(newest.values())


def png_markdown(path, title: str = "preview") -> MetadataValue:
    """A small PNG inline in the UI's metadata panel."""
    import base64
    from pathlib import Path

    data = base64.b64encode(Path(path).read_bytes()).decode()
    return MetadataValue.md(f"![{title}](data:image/png;base64,{data})")
