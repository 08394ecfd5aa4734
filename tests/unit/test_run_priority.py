"""Live data first: with backfill windows queued, a live tile's run leaves the queue first.

The real queued run coordinator and its daemon, on an instance configured by
the repository's dagster.yaml (max runs, tag limits); only the launcher
records runs instead of starting processes, so every dequeue decision is
Dagster's own.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from dagster import DagsterRunStatus
from dagster._core.remote_origin import RegisteredCodeLocationOrigin, RemoteJobOrigin, RemoteRepositoryOrigin
from dagster._core.run_coordinator import QueuedRunCoordinator
from dagster._core.storage.tags import BACKFILL_ID_TAG
from dagster._core.test_utils import create_run_for_test, create_test_daemon_workspace_context, instance_for_test
from dagster._core.workspace.load_target import EmptyWorkspaceTarget
from dagster._daemon.run_coordinator.queued_run_coordinator_daemon import QueuedRunCoordinatorDaemon

from dsa110_assets.jobs import BACKFILL_PRIORITY, LIVE_PRIORITY, PRIORITY_TAG
from dsa110_resources.cli import backfill as backfill_cli

REPO = Path(__file__).resolve().parents[2]
LIVE = {PRIORITY_TAG: str(LIVE_PRIORITY), "dsa110/tile": "live"}
BACKFILL = {BACKFILL_ID_TAG: "bf1", PRIORITY_TAG: str(BACKFILL_PRIORITY)}
TILE_JOB = RemoteJobOrigin(RemoteRepositoryOrigin(RegisteredCodeLocationOrigin("dsa110"), "__repository__"),
                           "tile_job")


@pytest.fixture
def queue():
    settings = yaml.safe_load((REPO / "dagster.yaml").read_text())
    overrides = {"concurrency": settings["concurrency"],
                 "run_launcher": {"module": "dagster._core.test_utils", "class": "MockedRunLauncher"}}
    with instance_for_test(overrides=overrides) as instance:
        assert isinstance(instance.run_coordinator, QueuedRunCoordinator)
        with create_test_daemon_workspace_context(EmptyWorkspaceTarget(), instance) as workspace:
            daemon = QueuedRunCoordinatorDaemon(interval_seconds=1)

            def submit(tags: dict[str, str], name: str) -> str:
                # Queued as the coordinator queues a submitted run (as Dagster's own daemon tests do).
                run = create_run_for_test(instance, job_name="tile_job", tags={**tags, "name": name},
                                          status=DagsterRunStatus.QUEUED, remote_job_origin=TILE_JOB)
                return run.run_id

            def tick() -> list[str]:
                before = len(instance.run_launcher.queue())
                list(daemon.run_iteration(workspace))
                return [r.tags["name"] for r in instance.run_launcher.queue()[before:]]

            yield instance, submit, tick


def test_a_live_tile_is_dequeued_before_queued_backfill_windows(queue):
    instance, submit, tick = queue
    windows = [submit(BACKFILL, f"window {i}") for i in range(12)]  # a backfill queued first
    assert tick() == ["window 0"]  # the tag limit keeps a slot free although 11 windows wait

    live = submit(LIVE, "live 1")
    assert tick() == ["live 1"]  # straight into the free slot, ahead of 11 older windows

    # Both slots busy; a second tile arrives while the windows still wait. When both
    # slots free up, the live tile leaves the queue first, then one window.
    live2 = submit(LIVE, "live 2")
    assert tick() == []
    for run_id in (windows[0], live):
        instance.report_run_failed(instance.get_run_by_id(run_id))  # any end frees the slot
    assert tick() == ["live 2", "window 1"]
    assert instance.get_run_by_id(live2).status == DagsterRunStatus.STARTING
    assert {instance.get_run_by_id(r).status for r in windows[2:]} == {DagsterRunStatus.QUEUED}


def test_a_backfill_never_holds_every_run_slot():
    for path in ("dagster.yaml", "deploy/dagster.postgres.yaml"):
        runs = yaml.safe_load((REPO / path).read_text())["concurrency"]["runs"]
        [limit] = [t["limit"] for t in runs["tag_concurrency_limits"] if t["key"] == BACKFILL_ID_TAG]
        assert 1 <= limit < runs["max_concurrent_runs"], path


def test_cli_backfills_run_below_live_tiles(monkeypatch):
    sent = []

    def fake_graphql(url, query, variables=None, timeout=30):
        if "partitionSetsOrError" in query:
            return {"partitionSetsOrError": {"__typename": "PartitionSets", "results": [{"name": "tile_job_set"}]}}
        sent.append(variables["params"])
        return {"launchPartitionBackfill": {"__typename": "LaunchBackfillSuccess", "backfillId": "b"}}

    monkeypatch.setattr(backfill_cli, "graphql", fake_graphql)
    backfill_cli.launch_backfill("http://x", ["2025-10-13T13:00"], [], "t")
    tags = {t["key"]: t["value"] for t in sent[0]["tags"]}
    assert int(tags[PRIORITY_TAG]) == BACKFILL_PRIORITY < 0 < LIVE_PRIORITY
