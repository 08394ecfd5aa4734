"""The Celery app pipeline workers run: steps of runs that use the celery executor.

    celery -A dsa110_assets.celery_worker worker --pool threads --concurrency 1 -n w1@%h

Start one worker process per step slot, each with its own ``DSA110_FAST_ROOT``
(tmpfs staging) and the same data tiers, products DB and Dagster instance
environment as the code server. ``--pool threads``: the step runs in the
worker's own process, so CASA can start its child processes (a prefork pool
child is daemonic and may not), and the main loop keeps the broker connection
alive during long steps. Dagster captures each step's output by redirecting
the process's file descriptors, so one step per process: concurrency 1.

This is ``dagster_celery.app`` built from the pipeline's settings
(``execution.CELERY_SETTINGS``) instead of a YAML file that
``dagster-celery worker start`` would render, with the broker URL and its
password, into a module on disk.
"""

from dagster_celery.executor import CeleryExecutor
from dagster_celery.make_app import make_app
from dagster_celery.tasks import create_task

import dsa110_assets.definitions  # noqa: F401  loaded once per worker, not per step
from dsa110_assets.execution import CELERY_SETTINGS, celery_backend, celery_broker

app = make_app(
    CeleryExecutor.for_cli(broker=celery_broker(), backend=celery_backend(), config_source=CELERY_SETTINGS).app_args()
)
execute_plan = create_task(app)
