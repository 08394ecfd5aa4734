"""Is a file that cannot be read broken, or has it just not finished arriving?

The correlator appends one integration to each open file every ~12.9 s
(holding an HDF5 lock), and a copy into incoming/ is half a file until it
ends. Both read as bad files; both heal by themselves. A file that fails
while its writer holds it, or that changed within the settle time, is
"not yet readable": retried later, and quarantined only after a bounded
wait. Anything else that fails is corrupt.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from pathlib import Path

import astropy.units as u

#: Default quiet time before a file counts as finished: over two integrations.
DEFAULT_SETTLE = 30 * u.s


def not_yet_readable(error: Exception, paths: Iterable[Path], settle: u.Quantity,
                     now: float | None = None) -> str | None:
    """Why ``error`` (raised reading ``paths``) may heal by itself, else None."""
    cause = error.__cause__ or error
    if isinstance(cause, OSError) and "lock" in str(cause).lower():
        return "locked by its writer (HDF5 file lock)"
    now = time.time() if now is None else now
    for path in paths:
        try:
            age = now - Path(path).stat().st_mtime
        except OSError:
            continue
        if age < settle.to_value(u.s):
            return f"{Path(path).name} changed {age:.0f} s ago (still being written or copied)"
    return None
