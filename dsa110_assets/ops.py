"""Housekeeping as a Dagster job: the same retention as ``dsa110 housekeeping``, visible in the UI.

Launched by hand it only lists (``dry_run`` defaults to true); the daily
schedule deletes, and is off until an operator turns it on
(``DSA110_HOUSEKEEPING_DEFAULT=running``).
"""

import os

from dagster import Config, DefaultScheduleStatus, OpExecutionContext, ScheduleDefinition, job, op

from dsa110_resources.conversion.resource import IngestResource
from dsa110_resources.db.resource import ProductsDBResource
from dsa110_resources.ops.housekeeping import RetentionPolicy, execute, plan
from dsa110_resources.stores.resource import StorageResource


class HousekeepingConfig(Config):
    dry_run: bool = True


@op(description="Delete staging litter, old MSs of imaged tiles and (opt-in) old raw files, logging each.")
def housekeeping(context: OpExecutionContext, config: HousekeepingConfig, storage: StorageResource,
                 products_db: ProductsDBResource, ingest: IngestResource) -> dict:
    tiers, policy = storage.tiers(), RetentionPolicy.from_env()
    done = execute(plan(products_db.db(), tiers, policy, incoming=ingest.incoming), tiers,
                   dry_run=config.dry_run, incoming=ingest.incoming)
    verb = "would delete" if config.dry_run else "deleted"
    for d in done:
        context.log.info(f"{verb} {d.path} ({d.kind}, {d.size_bytes / 1e6:.1f} MB): {d.reason}")
    summary = {"dry_run": config.dry_run, "paths": len(done), "bytes": sum(d.size_bytes for d in done),
               "ms_days": policy.ms_days, "raw_days": policy.raw_days}
    context.add_output_metadata(summary)
    return summary


@job(description="Retention of intermediate products (see README, Operations).", tags={"dsa110/chain": "ops"})
def housekeeping_job():
    housekeeping()


#: What the schedule runs with: actually delete.
DELETE_RUN_CONFIG = {"ops": {"housekeeping": {"config": {"dry_run": False}}}}

housekeeping_schedule = ScheduleDefinition(
    name="housekeeping_schedule",
    job=housekeeping_job,
    cron_schedule="30 3 * * *",  # after the nightly mosaic (01:00) and science (02:00) jobs
    execution_timezone="UTC",
    run_config=DELETE_RUN_CONFIG,
    default_status=(DefaultScheduleStatus.RUNNING if os.environ.get("DSA110_HOUSEKEEPING_DEFAULT") == "running"
                    else DefaultScheduleStatus.STOPPED),
    description="Daily housekeeping at 03:30 UTC (deletes; off until turned on).",
)
