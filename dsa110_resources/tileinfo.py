"""What every step needs to know about a tile's Measurement Set, read once.

Time span (MS TIME is seconds since MJD 0, UTC: a known pitfall), the FIELD
phase centre (the meridian point at mid-time, which is also where the dishes
point then), the channel frequencies and the tile id (from ``<tile>.ms``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import astropy.units as u
import numpy as np
from astropy.coordinates import SkyCoord
from astropy.time import Time

_TILE_ID = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}")


@dataclass(frozen=True)
class TileInfo:
    ms: Path
    tile_id: str
    start_time: Time  # leading edge of the first integration
    end_time: Time  # trailing edge of the last integration
    phase_center: SkyCoord  # ICRS
    freqs_hz: np.ndarray  # channel centres, ascending

    @property
    def mid_time(self) -> Time:
        return self.start_time + (self.end_time - self.start_time) / 2

    @property
    def ref_freq(self) -> u.Quantity:
        return 0.5 * (self.freqs_hz.min() + self.freqs_hz.max()) * u.Hz

    @classmethod
    def read(cls, ms: str | Path, tile_id: str | None = None) -> TileInfo:
        from casacore.tables import table

        ms = Path(ms)
        if not (ms / "table.dat").exists():
            raise FileNotFoundError(f"{ms} is not a Measurement Set")
        with table(str(ms), ack=False) as main:
            if main.nrows() == 0:
                raise ValueError(f"{ms} has no rows")
            times = main.getcol("TIME")
            interval = main.getcol("INTERVAL")
        t0 = float(np.min(times - interval / 2))
        t1 = float(np.max(times + interval / 2))
        with table(f"{ms}::FIELD", ack=False) as field:
            if field.nrows() != 1:
                raise ValueError(f"{ms}: expected one FIELD (the tile's meridian point), found {field.nrows()}")
            direction = field.getcol("PHASE_DIR")[0, 0]
        with table(f"{ms}::SPECTRAL_WINDOW", ack=False) as spw:
            if spw.nrows() != 1:
                raise ValueError(f"{ms}: expected one spectral window, found {spw.nrows()}")
            freqs = np.asarray(spw.getcell("CHAN_FREQ", 0), float)
        if tile_id is None:
            match = _TILE_ID.search(ms.name)
            tile_id = match.group(0) if match else ms.name.removesuffix(".ms")
        return cls(
            ms=ms,
            tile_id=tile_id,
            start_time=Time(t0 / 86400.0, format="mjd", scale="utc"),
            end_time=Time(t1 / 86400.0, format="mjd", scale="utc"),
            phase_center=SkyCoord(ra=direction[0] * u.rad, dec=direction[1] * u.rad, frame="icrs"),
            freqs_hz=freqs,
        )
