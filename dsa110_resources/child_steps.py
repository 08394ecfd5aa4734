"""Time limits for child steps: CASA children, WSClean, AOFlagger.

A hung child must fail its own step, not hold a worker (and with it every
later calibration and imaging run) forever. Every child runs in a process
group of its own, and at the limit the whole group is killed: WSClean and
CASA start helper processes that would otherwise outlive the kill.

Limits are generous and scale with the input: ``DSA110_STEP_TIMEOUT``
seconds (default one hour; a full tile's steps take minutes) for inputs up to
a full tile's MS, growing in proportion for larger ones (mosaic-sized MSs).
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from collections.abc import Sequence
from pathlib import Path

from . import constants as C

STEP_TIMEOUT_ENV = "DSA110_STEP_TIMEOUT"
DEFAULT_STEP_TIMEOUT = 3600.0

#: DATA + CORRECTED_DATA (complex64) of a full tile: the size the limit is set for.
FULL_TILE_MS_BYTES = (
    C.N_ACTIVE_ANTENNAS * (C.N_ACTIVE_ANTENNAS + 1) // 2
    * C.INTEGRATIONS_PER_FILE * C.N_CHANNELS * len(C.POLARIZATIONS) * 8 * 2
)


def timeout_reason(limit: float, phase: str = "finish") -> str:
    """The one wording of a time-limit kill, for every kind of child step."""
    return (f"did not {phase} within its time limit of {limit:g} s and was killed with its "
            f"process group (the limit is {STEP_TIMEOUT_ENV} seconds per full tile)")


class StepTimeoutError(RuntimeError):
    """A child step ran past its time limit; the message names the step and the limit."""

    def __init__(self, step: str, limit: float, output: str = ""):
        self.step, self.limit, self.output = step, limit, output
        message = f"{step} {timeout_reason(limit)}"
        if output.strip():
            message += "\n--- last output ---\n" + "\n".join(output.strip().splitlines()[-15:])
        super().__init__(message)


def _bytes(path: Path) -> int:
    """Bytes allocated on disk: an MS's never-written MODEL_DATA is a sparse file and costs no time."""
    path = Path(path)
    files = [path] if path.is_file() else [p for p in path.rglob("*") if p.is_file() and not p.is_symlink()]
    return sum(p.stat().st_blocks * 512 for p in files)


def step_timeout(*inputs: str | os.PathLike) -> float:
    """Seconds a step on ``inputs`` (files or MS directories) may take."""
    text = os.environ.get(STEP_TIMEOUT_ENV)
    try:
        base = float(text) if text else DEFAULT_STEP_TIMEOUT
    except ValueError:
        raise ValueError(f"{STEP_TIMEOUT_ENV} must be a number of seconds, got {text!r}") from None
    if base <= 0:
        raise ValueError(f"{STEP_TIMEOUT_ENV} must be positive, got {text!r}")
    size = sum(_bytes(Path(p)) for p in inputs if Path(p).exists())
    return base * max(1.0, size / FULL_TILE_MS_BYTES)


def step_limit(timeout: float | None, *inputs: str | os.PathLike) -> float:
    """An explicit ``timeout``, or the configured limit for ``inputs``."""
    return step_timeout(*inputs) if timeout is None else timeout


def kill_group(pid: int) -> None:
    """SIGKILL the process group led by ``pid`` (gone already: nothing to do).

    Call it before reaping the leader: an unreaped leader keeps its PID (and
    so the group id) from being reused by an unrelated process.
    """
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, signal.SIGKILL)


def wait_exit_unreaped(pid: int, grace: float) -> bool:
    """Wait up to ``grace`` s for child ``pid`` to exit, leaving it unreaped; True if it did."""
    deadline = time.monotonic() + grace
    while True:
        try:
            if os.waitid(os.P_PID, pid, os.WEXITED | os.WNOHANG | os.WNOWAIT) is not None:
                return True
        except ChildProcessError:  # already reaped
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.02)


def run_tool(cmd: Sequence[str], *, step: str, cwd: str | os.PathLike,
             timeout: float | None = None) -> subprocess.CompletedProcess:
    """Run an external tool to completion or its time limit, capturing its output.

    ``timeout`` None: ``step_timeout()``. Raises StepTimeoutError at the limit;
    an interrupted caller (a terminated Dagster run) kills the group too.
    """
    limit = step_limit(timeout)
    process = subprocess.Popen(list(cmd), cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               text=True, start_new_session=True)
    try:
        out, err = process.communicate(timeout=limit)
    except subprocess.TimeoutExpired:
        kill_group(process.pid)
        try:  # a helper that left the group could hold the pipes open: do not wait on it
            out, err = process.communicate(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            out, err = "", ""
        raise StepTimeoutError(step, limit, (out or "") + (err or "")) from None
    except BaseException:
        kill_group(process.pid)
        process.wait()
        raise
    return subprocess.CompletedProcess(process.args, process.returncode, out, err)
