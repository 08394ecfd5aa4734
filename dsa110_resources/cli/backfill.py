"""``dsa110 backfill --start --end``: backfill or reprocess a time range on a running instance.

Launches a partition backfill of ``tile_job`` over GraphQL (the webserver of
``dagster dev`` or a deployment), so the daemon runs it exactly like a
backfill started from the UI: one run per 5-minute window, each window's
outcome its own. ``--assets`` narrows the chain (e.g. re-image only);
``--assets bandpass_solutions`` re-solves the calibrator solutions of the
hours in the range instead (``calibration_job``, one run per hour).
"""

from __future__ import annotations

import datetime as dt
import json
import time
import urllib.error
import urllib.request

import click

TILE_JOB = "tile_job"
CALIBRATION_JOB, CALIBRATION_ASSETS = "calibration_job", ("bandpass_solutions",)
LOCATION, REPOSITORY = "dsa110", "__repository__"
DONE = ("COMPLETED", "COMPLETED_SUCCESS", "COMPLETED_FAILED", "FAILED", "CANCELED")

PARTITION_SETS = """query($r: RepositorySelector!, $job: String!) {
  partitionSetsOrError(repositorySelector: $r, pipelineName: $job) {
    __typename ... on PartitionSets { results { name } } ... on PythonError { message } } }"""
LAUNCH = """mutation($params: LaunchBackfillParams!) { launchPartitionBackfill(backfillParams: $params) {
  __typename ... on LaunchBackfillSuccess { backfillId }
  ... on PythonError { message } ... on PartitionSetNotFoundError { message }
  ... on UnauthorizedError { message } ... on InvalidStepError { invalidStepKey }
  ... on InvalidOutputError { stepKey invalidOutputName } } }"""
STATUS = """query($id: String!) { partitionBackfillOrError(backfillId: $id) {
  ... on PartitionBackfill { status partitionStatuses { results { partitionName runStatus } } }
  ... on PythonError { message } } }"""


class GraphQLError(click.ClickException):
    pass


def graphql(url: str, query: str, variables: dict | None = None, timeout: float = 30) -> dict:
    """POST one GraphQL request; errors (transport or GraphQL) become a readable ClickException."""
    body = json.dumps({"query": query, "variables": variables or {}}).encode()
    request = urllib.request.Request(f"{url.rstrip('/')}/graphql", data=body,
                                     headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            payload = json.loads(response.read())
    except (urllib.error.URLError, OSError) as exc:
        raise GraphQLError(f"no Dagster webserver answers at {url}: {exc}") from exc
    if payload.get("errors"):
        raise GraphQLError(f"GraphQL errors from {url}: {payload['errors']}")
    return payload["data"]


def window_keys(start: dt.datetime, end: dt.datetime, job: str = TILE_JOB) -> list[str]:
    """The partitions of ``job`` starting in [start, end): 5-minute windows, or hours for calibration."""
    from dagster import TimeWindow

    from dsa110_assets.partitions import hourly_partitions, tile_partitions

    partitions, what = (hourly_partitions, "hour") if job == CALIBRATION_JOB else (tile_partitions, "5-minute window")
    keys = partitions.get_partition_keys_in_time_window(TimeWindow(start, end))
    if not keys:
        raise click.BadParameter(f"no {what} starts in [{start:%Y-%m-%dT%H:%M}, {end:%Y-%m-%dT%H:%M})"
                                 f" after the first partition ({partitions.start:%Y-%m-%dT%H:%M})")
    return keys


def job_for(selection: list[str]) -> str:
    """``calibration_job`` for the calibrator solutions, else ``tile_job``; a mix is refused."""
    calibration = [a for a in selection if a in CALIBRATION_ASSETS]
    if calibration and len(calibration) != len(selection):
        raise click.BadParameter(f"{', '.join(calibration)} is partitioned by hour: backfill it on its own,"
                                 " then reprocess the tile chain", param_hint="--assets")
    return CALIBRATION_JOB if calibration else TILE_JOB


def launch_backfill(url: str, keys: list[str], assets: list[str], title: str, job: str = TILE_JOB,
                    priority: int | None = None) -> str:
    """Launch the backfill; its runs at ``priority`` (default: below live tiles)."""
    from dsa110_assets.jobs import BACKFILL_PRIORITY, PRIORITY_TAG

    repository = {"repositoryLocationName": LOCATION, "repositoryName": REPOSITORY}
    sets = graphql(url, PARTITION_SETS, {"r": repository, "job": job})["partitionSetsOrError"]
    if sets["__typename"] != "PartitionSets" or not sets["results"]:
        raise GraphQLError(f"{job} has no partition set on {url}: {sets}")
    params = {
        "selector": {"partitionSetName": sets["results"][0]["name"], "repositorySelector": repository},
        "partitionNames": keys,
        "title": title,
        # Below live tiles in the run queue and for pool slots (dsa110_assets.jobs).
        "tags": [{"key": "dsa110/launched_by", "value": "dsa110 backfill"},
                 {"key": PRIORITY_TAG, "value": str(BACKFILL_PRIORITY if priority is None else priority)}],
    }
    if assets:
        params["assetSelection"] = [{"path": [name]} for name in assets]
    launched = graphql(url, LAUNCH, {"params": params})["launchPartitionBackfill"]
    if launched["__typename"] != "LaunchBackfillSuccess":
        raise GraphQLError(f"backfill not launched: {launched}")
    return launched["backfillId"]


def backfill_status(url: str, backfill_id: str) -> dict:
    return graphql(url, STATUS, {"id": backfill_id})["partitionBackfillOrError"]


def _utc(value: dt.datetime) -> dt.datetime:
    return value.replace(tzinfo=dt.UTC)


@click.command("backfill")
@click.option("--start", required=True, type=click.DateTime(["%Y-%m-%dT%H:%M", "%Y-%m-%d"]),
              help="First UTC time (YYYY-MM-DDTHH:MM or a date).")
@click.option("--end", required=True, type=click.DateTime(["%Y-%m-%dT%H:%M", "%Y-%m-%d"]),
              help="End UTC time, exclusive.")
@click.option("--assets", default="", help="Comma-separated assets of the tile chain [default: all of it],"
              " or bandpass_solutions alone to re-solve the hours' calibrator solutions.")
@click.option("--url", default="http://127.0.0.1:3000", show_default=True, envvar="DSA110_DAGSTER_URL",
              help="The Dagster webserver.")
@click.option("--wait/--no-wait", default=False, help="Wait for the backfill and print each window's run.")
@click.option("--timeout", type=float, default=24 * 3600, show_default=True, help="Seconds --wait waits.")
def command(start: dt.datetime, end: dt.datetime, assets: str, url: str, wait: bool, timeout: float) -> None:
    """Backfill (or reprocess) the tile chain over [START, END), one run per window.

    Windows with no data end their run as "no data" (a success); a failed
    window fails only its own run. Exits non-zero with --wait if any window failed.
    """
    selection = [a.strip() for a in assets.split(",") if a.strip()]
    job = job_for(selection)
    keys = window_keys(_utc(start), _utc(end), job)
    title = f"dsa110 backfill {keys[0]} .. {keys[-1]}" + (f" ({', '.join(selection)})" if selection else "")
    backfill_id = launch_backfill(url, keys, selection, title, job)
    click.echo(f"backfill {backfill_id}: {len(keys)} {'hour' if job == CALIBRATION_JOB else 'window'}(s)"
               f" {keys[0]} .. {keys[-1]}")
    click.echo(f"  {url.rstrip('/')}/runs/b/{backfill_id}")
    if not wait:
        return
    deadline = time.monotonic() + timeout
    while (info := backfill_status(url, backfill_id)).get("status") not in DONE:
        if time.monotonic() > deadline:
            raise click.ClickException(f"backfill {backfill_id} not finished after {timeout:.0f} s")
        time.sleep(5)
    runs = {p["partitionName"]: p["runStatus"] for p in info["partitionStatuses"]["results"]}
    for key in keys:
        click.echo(f"  {key}  {runs.get(key, 'NOT_STARTED')}")
    click.echo(f"status: {info['status']}")
    if info["status"] != "COMPLETED_SUCCESS":
        raise SystemExit(1)
