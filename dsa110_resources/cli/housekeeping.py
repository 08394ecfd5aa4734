"""``dsa110 housekeeping``: retention of intermediate products (``--dry-run`` first)."""

from __future__ import annotations

from pathlib import Path

import click

from ._common import data_root_option, db_url_option
from ._ops import fast_root_option, incoming_option, open_db, stage_root_option, tiers


@click.command("housekeeping")
@click.option("--dry-run", is_flag=True, help="Only list what would be deleted, and why.")
@click.option("--ms-days", type=float, default=None,
              help="Delete science/calibrator MSs of imaged tiles older than this [default: "
                   "DSA110_RETAIN_MS_DAYS or 14].")
@click.option("--keep-ms", is_flag=True, help="Keep every MS whatever its age.")
@click.option("--raw-days", type=float, default=None,
              help="Opt in to deleting raw subband files of converted and imaged tiles older than this "
                   "[default: DSA110_RETAIN_RAW_DAYS; unset: raw files are never deleted].")
@data_root_option
@db_url_option
@fast_root_option
@stage_root_option
@incoming_option
def command(dry_run: bool, ms_days: float | None, keep_ms: bool, raw_days: float | None, data_root: Path,
            db_url: str | None, fast_root: str | None, stage_root: str | None, incoming: Path | None) -> None:
    """Delete staging litter, old MSs of imaged tiles and (opt-in) old raw files.

    Quarantine, failed MSs, calibration tables, images, mosaics and photometry
    are never touched. Each delete is printed with its reason and appended to
    <data-root>/state/deletions.jsonl.
    """
    from dataclasses import replace

    from dsa110_resources.ops.housekeeping import RetentionPolicy, execute, plan

    try:
        policy = RetentionPolicy.from_env()
    except ValueError as exc:
        raise click.ClickException(str(exc)) from None
    if ms_days is not None or keep_ms:
        policy = replace(policy, ms_days=None if keep_ms else ms_days)
    if raw_days is not None:
        policy = replace(policy, raw_days=raw_days)
    where = tiers(data_root, fast_root, stage_root)
    db = open_db(where, db_url)
    try:
        done = execute(plan(db, where, policy, incoming=incoming), where, dry_run=dry_run, incoming=incoming)
    finally:
        db.dispose()
    verb = "would delete" if dry_run else "deleted"
    for d in done:
        click.echo(f"{verb} {d.path} ({d.kind}, {d.size_bytes / 1e6:.1f} MB): {d.reason}")
    raw = "raw files eligible" if policy.raw_days is not None else "raw files kept (no opt-in)"
    click.echo(f"{verb} {len(done)} paths, {sum(d.size_bytes for d in done) / 1e9:.2f} GB; {raw}", err=True)
