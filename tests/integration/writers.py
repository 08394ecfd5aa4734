"""A correlator-like writer for fault tests: another process holding a file open."""

from __future__ import annotations

import contextlib
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

_HOLD_OPEN = """
import sys, h5py
with h5py.File(sys.argv[1], "r+"):
    print("open", flush=True)
    sys.stdin.read()
"""


@contextlib.contextmanager
def held_open_by_writer(path: Path) -> Iterator[None]:
    """``path`` open for writing in another process (HDF5 locks it against readers)."""
    writer = subprocess.Popen([sys.executable, "-c", _HOLD_OPEN, str(path)],
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        if writer.stdout.readline().strip() != "open":
            raise RuntimeError(f"the writer could not open {path}")
        yield
    finally:
        writer.stdin.close()
        writer.wait(60)
