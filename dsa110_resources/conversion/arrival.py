"""Is a file that cannot be read broken, or has it just not finished arriving?

The correlator appends one integration to each open file every ~12.9 s
(holding an HDF5 lock), and a copy into incoming/ is half a file until it
ends. Both read as bad files; both heal by themselves. A file that fails
while its writer holds it, or that changed within the settle time, is
"not yet readable": retried later, and quarantined only after a bounded
wait. Anything else that fails is corrupt.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterable
from pathlib import Path

import astropy.units as u

#: Default quiet time before a file counts as finished: over two integrations.
DEFAULT_SETTLE = 30 * u.s


class FileNotReady(RuntimeError):
    """A tile's file is not yet readable (see ``not_yet_readable``): try again later."""

    def __init__(self, tile_id: str, why: str):
        self.tile_id, self.why = tile_id, why
        super().__init__(f"tile {tile_id}: not yet readable: {why}")


def not_yet_readable(error: Exception, settle: u.Quantity, tile_paths: Iterable[Path] = (),
                     now: float | None = None) -> str | None:
    """Why ``error`` may heal by itself, else None (corrupt).

    The files looked at are the one the error names (``path``), else those it
    names (``paths``), else ``tile_paths``.
    """
    cause = error.__cause__ or error
    # HDF5's "unable to lock file" (EAGAIN); not "sblock" in a truncated file's message.
    if isinstance(cause, OSError) and (isinstance(cause, BlockingIOError)
                                       or re.search(r"\block", str(cause).lower())):
        return "locked by its writer (HDF5 file lock)"
    named = getattr(error, "path", None)
    paths = [named] if named is not None else list(getattr(error, "paths", None) or tile_paths)
    now = time.time() if now is None else now
    for path in paths:
        try:
            age = now - Path(path).stat().st_mtime
        except OSError:
            continue
        if age < settle.to_value(u.s):
            return f"{Path(path).name} changed {age:.0f} s ago (still being written or copied)"
    return None
