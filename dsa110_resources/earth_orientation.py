"""Astropy's Earth-orientation (IERS) table, parsed once per machine and day.

Every UTC->UT1 step in astropy (sidereal time, apparent places, the meridian
phase centre) needs the IERS-A/B table, and astropy parses its ASCII files on
first use in each process: ~1.2 s, a quarter of a tile's conversion, paid
again by every run's fresh process. ``use_cached_table`` installs the parsed
table from a pickle kept in the project's local state instead (~0.08 s). The
cache is keyed on the astropy and astropy-iers-data versions and the UTC date,
so a new data package or a table astropy downloaded today is picked up within
a day; an unreadable cache is rebuilt. The table is astropy's own object, so
results are identical to astropy's.
"""

from __future__ import annotations

import datetime as dt
import functools
import logging
import os
import pickle
import uuid
from pathlib import Path

from .local_state import local_state_dir

log = logging.getLogger(__name__)


def _cache_path() -> Path:
    import astropy
    import astropy_iers_data

    day = dt.datetime.now(dt.timezone.utc).strftime("%Y%m%d")
    key = f"astropy{astropy.__version__}-iers{astropy_iers_data.__version__}-{day}"
    return local_state_dir("cache", "DSA110_CACHE_DIR") / f"iers-table-{key}.pickle"


@functools.cache
def use_cached_table() -> None:
    """Install astropy's Earth-orientation table from the cache (building it if needed).

    Idempotent and process-wide (astropy's table is a global ``ScienceState``).
    """
    from astropy.utils import iers

    path = _cache_path()
    try:
        with open(path, "rb") as f:
            table = pickle.load(f)
        iers.earth_orientation_table.set(table)
        return
    except FileNotFoundError:
        pass
    except Exception as exc:  # a torn or foreign file: rebuild it
        log.warning("IERS table cache %s unreadable (%s); rebuilding it", path, exc)
    table = iers.earth_orientation_table.get()  # astropy's parse (and download policy)
    tmp = path.with_name(f".{path.name}.{os.getpid()}-{uuid.uuid4().hex[:8]}")
    try:
        with open(tmp, "wb") as f:
            pickle.dump(table, f, protocol=pickle.HIGHEST_PROTOCOL)
        os.replace(tmp, path)  # readers see the whole file or none
    except OSError as exc:
        log.warning("could not cache the IERS table at %s: %s", path, exc)
        tmp.unlink(missing_ok=True)
    for old in path.parent.glob("iers-table-*.pickle"):
        if old != path:
            old.unlink(missing_ok=True)
