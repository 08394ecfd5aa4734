"""Does a Measurement Set open and follow the pipeline's conventions?

Checked on every MS before anything downstream may use it: the pitfalls of the
old pipeline (negative channel widths, one FIELD per integration, missing
MODEL_DATA/CORRECTED_DATA, a wrong dish size) each have a line here.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .. import constants

#: More flagged than this and a tile is not worth calibrating or imaging.
MAX_FLAGGED_FRACTION = 0.6
REQUIRED_COLUMNS = ("DATA", "MODEL_DATA", "CORRECTED_DATA", "FLAG", "WEIGHT", "SIGMA", "UVW", "TIME")


def integrity_problems(ms: Path) -> list[str]:
    """Every convention the MS breaks, as short sentences (empty: all good)."""
    from casacore.tables import table

    problems: list[str] = []
    if not Path(ms).is_dir():
        return [f"{ms} does not exist"]
    try:
        main = table(str(ms), ack=False)
    except RuntimeError as exc:
        return [f"does not open: {exc}"]
    with main:
        if main.nrows() == 0:
            problems.append("no rows")
        missing = [c for c in REQUIRED_COLUMNS if c not in main.colnames()]
        if missing:
            problems.append(f"missing columns {', '.join(missing)}")
        elif main.nrows():
            shape = main.getcell("DATA", 0).shape
            if shape != (constants.N_CHANNELS, len(constants.POLARIZATIONS)):
                problems.append(f"DATA cell shape {shape}")
    with table(f"{ms}::SPECTRAL_WINDOW", ack=False) as spw:
        if spw.nrows() != 1:
            problems.append(f"{spw.nrows()} spectral windows (want 1)")
        else:
            freq = spw.getcell("CHAN_FREQ", 0)
            width = spw.getcell("CHAN_WIDTH", 0)
            if freq.size != constants.N_CHANNELS:
                problems.append(f"{freq.size} channels (want {constants.N_CHANNELS})")
            if np.any(np.diff(freq) <= 0):
                problems.append("channel frequencies not ascending")
            if np.any(width <= 0) or spw.getcell("TOTAL_BANDWIDTH", 0) <= 0:
                problems.append("non-positive channel widths")
    with table(f"{ms}::FIELD", ack=False) as field:
        if field.nrows() != 1:
            problems.append(f"{field.nrows()} fields (want 1)")
    with table(f"{ms}::ANTENNA", ack=False) as antenna:
        if antenna.nrows() != constants.N_STATIONS:
            problems.append(f"{antenna.nrows()} antennas (want {constants.N_STATIONS})")
        diameters = antenna.getcol("DISH_DIAMETER")
        if not np.allclose(diameters, constants.DISH_DIAMETER.to_value("m")):
            problems.append(f"dish diameters {sorted(set(diameters.round(2)))}")
    with table(f"{ms}::OBSERVATION", ack=False) as observation:
        names = set(observation.getcol("TELESCOPE_NAME"))
        if names != {constants.TELESCOPE_NAME}:
            problems.append(f"TELESCOPE_NAME {sorted(names)}")
    return problems


def present_flagged_fraction(flagged_fraction: float, n_missing_subbands: int) -> float:
    """Flagged fraction of the data that exists: a missing subband's channels are
    flagged by construction and are reported as missing, not as bad data."""
    present = 1.0 - n_missing_subbands / constants.N_SUBBANDS
    if present <= 0:
        return 1.0
    missing = 1.0 - present
    return max(0.0, (flagged_fraction - missing) / present)
