"""What imaging needs to know about a tile's Measurement Set.

Read once, then passed around: the tile id, its time span, the phase centre
(the meridian point at mid-time, which is also the dish pointing then), the
band, and the antennas carrying data. FITS headers and the primary beam are
built from this, never from defaults.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import astropy.units as u
import numpy as np
from astropy.coordinates import SkyCoord
from astropy.time import Time

from dsa110_resources.tileinfo import TileInfo

from .params import ImagingParams
from .primary_beam import DriftScanBeam

@dataclass(frozen=True)
class TileObservation:
    """The observation behind one tile image."""

    ms: Path
    tile_id: str
    start_time: Time  # leading edge of the first integration
    end_time: Time  # trailing edge of the last integration
    phase_center: SkyCoord  # ICRS; the meridian point at mid-time
    frequencies: u.Quantity  # centres of the channels holding unflagged data
    bandwidth: u.Quantity  # summed width of those channels
    telescope: str
    n_antennas: int  # antennas appearing in unflagged rows
    channel_ranges: tuple[tuple[int, int], ...] = ()  # inclusive runs of channels with data

    @property
    def mid_time(self) -> Time:
        return self.start_time + (self.end_time - self.start_time) / 2

    @property
    def freq_min(self) -> u.Quantity:
        return self.frequencies.min()

    @property
    def freq_max(self) -> u.Quantity:
        return self.frequencies.max()

    @property
    def ref_freq(self) -> u.Quantity:
        return (self.freq_min + self.freq_max) / 2

    def beam(self, params: ImagingParams) -> DriftScanBeam:
        """The tile's hour-angle- and band-averaged primary beam."""
        return DriftScanBeam(
            pointing_mid=self.phase_center,
            mid_time=self.mid_time,
            start_time=self.start_time,
            end_time=self.end_time,
            frequencies=self.frequencies,
            time_samples=params.pb_time_samples,
            freq_samples=params.pb_freq_samples,
        )

    @classmethod
    def read(cls, ms: str | Path, tile_id: str | None = None) -> TileObservation:
        """Read from the MS; the tile id defaults to the ``<tile>.ms`` name.

        Span, phase centre and band come from :class:`TileInfo` (the shared
        reader); imaging adds which channels and antennas carry data.
        """
        from casacore.tables import table

        info = TileInfo.read(ms, tile_id)
        ms = info.ms
        with table(str(ms), ack=False) as main:
            # A missing subband is a block of flagged channels in every row:
            # rows from mid-tile show which channels carry data.
            n = main.nrows()
            sample = min(n, 8192)
            flags = main.getcol("FLAG", startrow=(n - sample) // 2, nrow=sample)
            usable = ~np.all(flags, axis=(0, 2))
            a1 = main.getcol("ANTENNA1")
            a2 = main.getcol("ANTENNA2")
            n_ant = len(np.union1d(a1[a1 != a2], a2[a1 != a2]))
        with table(f"{ms}::SPECTRAL_WINDOW", ack=False) as spw:
            widths = np.ravel(spw.getcol("CHAN_WIDTH")[0])
        if not usable.any():
            raise ValueError(f"{ms}: every channel is flagged")
        with table(f"{ms}::OBSERVATION", ack=False) as obs:
            names = obs.getcol("TELESCOPE_NAME") if obs.nrows() else [""]
        return cls(
            ms=ms,
            tile_id=info.tile_id,
            start_time=info.start_time,
            end_time=info.end_time,
            phase_center=info.phase_center,
            frequencies=info.freqs_hz[usable] * u.Hz,
            bandwidth=np.abs(widths[usable]).sum() * u.Hz,
            telescope=str(names[0]),
            n_antennas=int(n_ant),
            channel_ranges=_runs(np.flatnonzero(usable)),
        )


def _runs(indices: np.ndarray) -> tuple[tuple[int, int], ...]:
    """Consecutive runs of sorted channel indices, as inclusive (first, last)."""
    if indices.size == 0:
        return ()
    breaks = np.flatnonzero(np.diff(indices) > 1)
    starts = np.r_[indices[0], indices[breaks + 1]]
    ends = np.r_[indices[breaks], indices[-1]]
    return tuple((int(a), int(b)) for a, b in zip(starts, ends))
