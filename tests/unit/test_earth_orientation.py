"""The cached IERS table gives astropy's own answers, and a torn cache is rebuilt."""

from __future__ import annotations

import json
import os
import pickle
import subprocess
import sys

_PROBE = """
import json, sys
from astropy.time import Time
if sys.argv[1] == "cached":
    from dsa110_resources.earth_orientation import use_cached_table
    use_cached_table()
t = Time(["2025-10-13T13:25:00", "2026-03-01T00:00:00"], scale="utc")
print(json.dumps({"dut1": [float(x) for x in t.delta_ut1_utc],
                  "gast": [float(x) for x in t.sidereal_time("apparent", longitude=0).deg]}))
"""


def _probe(mode: str, cache_dir) -> dict:
    env = dict(os.environ, DSA110_CACHE_DIR=str(cache_dir))
    out = subprocess.run([sys.executable, "-c", _PROBE, mode], env=env, check=True,
                         capture_output=True, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def test_cached_table_matches_astropy_and_survives_a_torn_file(tmp_path):
    direct = _probe("direct", tmp_path)
    assert not list(tmp_path.glob("iers-table-*.pickle"))

    first = _probe("cached", tmp_path)  # builds the cache
    (cache,) = tmp_path.glob("iers-table-*.pickle")
    assert first == direct
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temp litter

    cache.write_bytes(b"torn")
    again = _probe("cached", tmp_path)  # rebuilds it
    assert again == direct
    with open(cache, "rb") as f:
        assert len(pickle.load(f)) > 1000
