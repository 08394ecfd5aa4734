"""Who owns a staging entry, and whether that writer can still be running.

Staging names carry ``<host>@<boot>@<pid>@<start>``: the host name, this
boot's id, the writer's PID and its start time (clock ticks since boot). A
PID alone is not enough: on a stage root shared between hosts another host's
PID means nothing here, and after a reboot or PID reuse a live process may
hold a dead writer's PID. An entry is judged dead only when it was written
on this host and its writer (boot, PID and start time) no longer runs.
"""

from __future__ import annotations

import functools
import os
import re
import socket
from dataclasses import dataclass
from pathlib import Path

_SEPARATOR = "@"


def _safe_host(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9.-]", "_", name) or "unknown-host"


@functools.cache
def _boot_id() -> str:
    try:
        return Path("/proc/sys/kernel/random/boot_id").read_text().strip().replace("-", "")[:12]
    except OSError:
        return "noboot"


def _start_ticks(pid: int) -> str | None:
    """The process's start time in clock ticks since boot; None if it is not running."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = stat.rsplit(")", 1)[1].split()
    return None if fields[0] == "Z" else fields[19]  # state, ..., starttime (field 22)


@dataclass(frozen=True)
class Owner:
    host: str
    boot: str
    pid: int
    start: str

    @classmethod
    def current(cls) -> Owner:
        pid = os.getpid()
        return cls(_safe_host(socket.gethostname()), _boot_id(), pid, _start_ticks(pid) or "0")

    def token(self) -> str:
        return _SEPARATOR.join((self.host, self.boot, str(self.pid), self.start))

    @classmethod
    def parse(cls, text: str) -> Owner | None:
        """The owner at the start of ``text`` (``<token>-<rest>``); None for other names."""
        parts = text.split(_SEPARATOR, 3)
        if len(parts) != 4 or not parts[2].isdigit():
            return None
        start = parts[3].split("-", 1)[0]
        return cls(parts[0], parts[1], int(parts[2]), start) if start.isdigit() else None

    def on_this_host(self) -> bool:
        return self.host == _safe_host(socket.gethostname())

    def running(self) -> bool:
        """On this host: is the writer still running? (Same boot, PID and start time.)"""
        return self.boot == _boot_id() and _start_ticks(self.pid) == self.start
