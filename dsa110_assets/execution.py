"""Where a run's steps execute, chosen by environment (``DSA110_EXECUTOR``).

in_process    the default: every step of a run in the run's own process, so
              the project (astropy, casacore, CASA's wrappers) is imported once
              per run, not once per step (per-window runs cost several times
              less this way: docs/design-notes.md); CASA work still runs in a
              child process of its own
multiprocess  each step in a child process of the run worker
celery        each step a task on the broker at ``DSA110_CELERY_BROKER``, run by
              whichever pipeline worker takes it (``dsa110_assets.celery_worker``)

The run worker and the Celery workers build their Celery app from the same
settings here, so they cannot disagree about the broker or the delivery rules.
"""

from __future__ import annotations

import os

EXECUTORS = ("in_process", "multiprocess", "celery")

#: Settings every Celery app of the pipeline (run worker and step workers) uses.
CELERY_SETTINGS = {
    # A step is acknowledged when it has finished, not when a worker takes it:
    # if the worker dies mid-step (kill -9, a lost machine, the OOM killer:
    # the step runs in the worker's own process) its connection drops, the
    # broker hands the step to another worker and it runs again from the
    # start. Products publish atomically, so the half-made one was never
    # visible. The broker does not count redeliveries: a step that kills
    # every worker it lands on goes round them (see deploy/README.md).
    "task_acks_late": True,
    # One step per worker slot at a time: a prefetched step would wait behind
    # a long CASA step while another worker sits idle.
    "worker_prefetch_multiplier": 1,
    "broker_connection_retry_on_startup": True,
}


def celery_broker() -> str:
    broker = os.environ.get("DSA110_CELERY_BROKER")
    if not broker:
        raise RuntimeError(
            "DSA110_EXECUTOR=celery needs DSA110_CELERY_BROKER, e.g. amqp://user:secret@rabbitmq:5672//"
        )
    return broker


def celery_backend() -> str:
    # rpc://: results travel back over the broker to the run worker that
    # submitted the step; nothing else needs them (events are in Postgres).
    return os.environ.get("DSA110_CELERY_BACKEND", "rpc://")


def executor_for(name: str | None = None):
    """The executor for the code location's jobs, or None for Dagster's default (multiprocess)."""
    name = name or os.environ.get("DSA110_EXECUTOR", "in_process")
    if name not in EXECUTORS:
        raise ValueError(f"DSA110_EXECUTOR must be one of {EXECUTORS}, got {name!r}")
    if name == "in_process":
        from dagster import in_process_executor

        return in_process_executor
    if name == "multiprocess":
        return None
    from dagster_celery import celery_executor

    celery_broker()  # fail at load time, not at the first step
    return celery_executor.configured(
        {
            # Read from the environment where the run executes: the URL (with
            # its password) never enters the job snapshot or the UI.
            "broker": {"env": "DSA110_CELERY_BROKER"},
            "backend": celery_backend(),
            "config_source": CELERY_SETTINGS,
        },
        name="celery",
    )
