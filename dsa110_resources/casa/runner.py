"""Run CASA work in a child process, so a CASA crash fails one step cleanly.

casatools can abort the interpreter (C++ exceptions, segfaults) and keeps
table locks and log handles open. Each call here gets a fresh ``spawn``ed
interpreter with the project's offline config, its own working directory (CASA
writes scratch files relative to it) and its own log file; on any failure the
error carries the tail of that log. The child leads a process group of its
own, killed whole at the step's time limit (``child_steps``) or when the step
ends, so neither a hung step nor a helper it started outlives it. Starting
CASA (importing casatasks: seconds, a minute on a loaded host) is timed
apart from the step, with at least ``MIN_START_SECONDS``.
"""

from __future__ import annotations

import contextlib
import importlib
import multiprocessing as mp
import os
import traceback
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..child_steps import kill_group, step_limit, timeout_reason, wait_exit_unreaped
from .config import ensure_casa_environment
from .measures import MEASURES_DIR_ENV, configured_measures_dir, missing_tables

LOG_EXCERPT_LINES = 30
#: After sending its result, a child has this long to exit on its own
#: (closing tables, flushing its log) before its group is killed.
EXIT_GRACE_SECONDS = 30.0
MIN_START_SECONDS = 300.0


class CasaTaskError(RuntimeError):
    """A CASA step failed; the message names the step and carries the log tail."""

    def __init__(self, task: str, reason: str, log_excerpt: str = ""):
        self.task, self.reason, self.log_excerpt = task, reason, log_excerpt
        message = f"CASA step {task!r} failed: {reason}"
        if log_excerpt:
            message += f"\n--- CASA log (last lines) ---\n{log_excerpt}"
        super().__init__(message)


@dataclass(frozen=True)
class CasaCall:
    """A module-level function named as 'package.module:function'."""

    target: str

    def resolve(self):
        module, _, name = self.target.partition(":")
        if not name:
            raise ValueError(f"CASA target must be 'module:function', got {self.target!r}")
        return getattr(importlib.import_module(module), name)


def _child(target: str, args, kwargs, workdir: str, logfile: str, conn) -> None:
    os.setsid()  # a group of our own: the parent kills it whole
    ensure_casa_environment()
    os.chdir(workdir)
    try:
        import casatools

        casatools.logsink().setlogfile(logfile)
        from casatasks import casalog

        casalog.setlogfile(logfile)
        function = CasaCall(target).resolve()
        conn.send(("started", None))
        result = function(*args, **kwargs)
        conn.send(("ok", result))
    except BaseException:  # report everything, including SystemExit from CASA
        conn.send(("error", traceback.format_exc()))
    finally:
        conn.close()


def log_tail(logfile: Path, lines: int = LOG_EXCERPT_LINES) -> str:
    try:
        text = Path(logfile).read_text(errors="replace").splitlines()
    except OSError:
        return ""
    return "\n".join(text[-lines:])


def run_casa(
    target: str,
    *args: Any,
    workdir: Path,
    timeout: float | None = None,
    **kwargs: Any,
) -> Any:
    """Call ``target`` ('module:function') in a fresh CASA child process.

    Arguments and the return value must be picklable (paths, numbers, dicts).
    ``timeout`` None: the configured limit (``child_steps.step_timeout``).
    Raises CasaTaskError on an exception, a crash (signal/abort) or a timeout.
    """
    workdir = Path(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    limit = step_limit(timeout)
    logfile = workdir / "casa.log"
    ensure_casa_environment()
    if (measures := configured_measures_dir()) and (why := missing_tables(measures)):
        raise CasaTaskError(target, f"{MEASURES_DIR_ENV}: {why} (fill it with 'dsa110 measures install')")
    ctx = mp.get_context("spawn")
    parent, child = ctx.Pipe(duplex=False)
    process = ctx.Process(
        target=_child,
        args=(target, args, kwargs, str(workdir), str(logfile), child),
        name=f"casa:{target}",
    )
    process.start()
    child.close()
    status = payload = None
    try:
        for phase, seconds in (("start", max(limit, MIN_START_SECONDS)), ("finish", limit)):
            if not parent.poll(seconds):
                raise CasaTaskError(target, timeout_reason(seconds, phase), log_tail(logfile))
            status = payload = None
            with contextlib.suppress(EOFError):  # the child died without a word
                status, payload = parent.recv()
            if status != "started":
                break
    finally:  # on success, failure, time limit or our own interruption
        parent.close()
        if status in ("ok", "error"):
            wait_exit_unreaped(process.pid, EXIT_GRACE_SECONDS)
        kill_group(process.pid)  # the step and any helper it started
        process.kill()  # in case it died before making its own group
        process.join()
    if status is None:
        raise CasaTaskError(target, f"child process died (exit code {process.exitcode})", log_tail(logfile))
    if status != "ok":
        raise CasaTaskError(target, payload.strip().splitlines()[-1], log_tail(logfile) + "\n" + payload)
    return payload
