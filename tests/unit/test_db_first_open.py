"""Many processes opening a fresh products database at once all succeed (one migrates)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from dsa110_resources.db import current_revision, head_revision, make_engine, sqlite_url

REPO = Path(__file__).resolve().parents[2]
N_PROCESSES = 6

# Each child imports everything first, says it is ready, then waits for the
# go file, so the six first opens really do start together.
_CHILD = """
import sys, time
from pathlib import Path
from dsa110_resources.db import ProductsDB
url, ready, go = sys.argv[1], Path(sys.argv[2]), Path(sys.argv[3])
ready.touch()
while not go.exists():
    time.sleep(0.005)
ProductsDB(url).dispose()
"""


def _open_concurrently(url: str, tmp_path: Path) -> list[subprocess.CompletedProcess]:
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")]))
    go = tmp_path / "go"
    children = [
        subprocess.Popen([sys.executable, "-c", _CHILD, url, str(tmp_path / f"ready{i}"), str(go)],
                         env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for i in range(N_PROCESSES)
    ]
    deadline = time.monotonic() + 90  # a guard only: imports are slow on a loaded box
    while not all((tmp_path / f"ready{i}").exists() for i in range(N_PROCESSES)):
        assert time.monotonic() < deadline, "children never became ready"
        time.sleep(0.01)
    go.touch()
    results = []
    for child in children:
        out, err = child.communicate(timeout=60)
        results.append(subprocess.CompletedProcess(child.args, child.returncode, out, err))
    return results


def _error_line(stderr: str) -> str:
    lines = [line for line in stderr.splitlines() if "Error" in line or "error" in line]
    return (lines or stderr.splitlines() or ["(no output)"])[0][:300]


def _assert_all_opened(url: str, results) -> None:
    failures = [_error_line(r.stderr) for r in results if r.returncode != 0]
    assert not failures, f"{len(failures)} of {N_PROCESSES} first opens failed: {failures}"
    engine = make_engine(url)
    try:
        assert current_revision(engine) == head_revision()
    finally:
        engine.dispose()


def test_concurrent_first_open_sqlite(tmp_path):
    url = sqlite_url(tmp_path / "state" / "products.sqlite")
    _assert_all_opened(url, _open_concurrently(url, tmp_path))


@pytest.mark.postgres
def test_concurrent_first_open_postgres(postgres_url, tmp_path):
    _assert_all_opened(postgres_url, _open_concurrently(postgres_url, tmp_path))
