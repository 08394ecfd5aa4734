"""What to simulate: one options object with documented defaults and presets.

``SimulationConfig.tiny()`` is for unit tests (6 antennas, 2 subbands, real
file format: 24 integrations x 48 channels x XX/YY). ``SimulationConfig.full()``
is the telescope as it runs (96 active antennas, 16 subbands).
Every corruption is a toggle so a test can isolate one effect.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path

import astropy.units as u

from dsa110_resources import constants as C
from dsa110_resources.simulation.uvh5_writer import check_file_options

__all__ = ["SimulationConfig"]

#: A declination seen in real data; the default pointing.
DEFAULT_DECLINATION = 54.57 * u.deg


@dataclass
class SimulationConfig:
    """Options of the synthetic DSA-110 (see module docstring).

    Sky: ``catalog_file`` (a sky catalog, see :mod:`dsa110_resources.catalogs`)
    or a synthetic NVSS-like one (``n_sources`` in the field of each tile, or
    the NVSS density when None). ``calibrators`` are added at their real
    positions. Only sources whose apparent (beam-weighted, band-centre) flux is
    at least ``prediction_flux_cut`` enter the visibilities; the rest are listed
    in the truth as excluded, so a recovery test knows what it should find.
    """

    n_active_antennas: int = C.N_ACTIVE_ANTENNAS
    active_stations: tuple[int, ...] | None = None  # override the default spread
    subbands: tuple[int, ...] = tuple(range(C.N_SUBBANDS))
    declination: u.Quantity = DEFAULT_DECLINATION  # pointing dec of date
    seed: int = 0
    station_file: Path | None = None  # None: nominal layout from arm geometry

    # sky
    catalog_file: Path | None = None
    n_sources: int | None = None  # synthetic sources per tile field; None: NVSS density
    source_density: u.Quantity = 50.0 / u.deg**2  # NVSS-like, above catalog_min_flux
    catalog_min_flux: u.Quantity = 2.5 * u.mJy
    counts_slope: float = 0.9  # N(>S) propto S^-slope
    field_radius: u.Quantity = 5.0 * u.deg  # catalog and prediction radius about the meridian point
    prediction_flux_cut: u.Quantity = 0.0 * u.mJy  # apparent flux below which sources are skipped
    calibrators: tuple[str, ...] | None = None  # None: every default calibrator with a known flux
    n_variable_sources: int = 0  # ESE light curves injected on bright catalog sources

    # instrument
    primary_beam: bool = True
    #: The dish response: "airy" or the path of a measured E-field beam file
    #: (imaging.primary_beam.MeasuredBeam). The pipeline uses its own
    #: configured model, so a test can give the two different beams.
    beam: str = "airy"
    noise: bool = True
    sefd: u.Quantity = C.SEFD
    gains: bool = False
    gain_amplitude_scatter: float = 0.1  # fractional rms of |g|
    gain_drift: float = 0.02  # fractional |g| change per hour (random sign per antenna)
    gain_phase_drift: u.Quantity = 10.0 * u.deg / u.hour
    delays: bool = False
    delay_scatter: u.Quantity = 2.0 * u.ns
    bandpass: bool = False
    n_dead_antennas: int = 0
    rfi: bool = False
    rfi_amplitude: u.Quantity = 200.0 * u.Jy
    n_zeroed_channels: int = 0
    missing_subband: int | None = None

    # files
    timestamp_jitter: u.Quantity = 3.0 * u.s  # max per-file name jitter within a tile
    #: "correlator" (real files: extendable, auto-chunked 4-D datasets appended
    #: per integration) or "contiguous" (what pyuvdata writes); see uvh5_writer.
    file_layout: str = "correlator"
    #: Header variant seen in real files: "hadec", "extra-2000", "header-2000", "pyuvdata3".
    header_style: str = "hadec"
    extra: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.declination = u.Quantity(self.declination, u.deg)
        self.subbands = tuple(int(s) for s in self.subbands)
        for s in self.subbands:
            if not 0 <= s < C.N_SUBBANDS:
                raise ValueError(f"subband {s} outside 0..{C.N_SUBBANDS - 1}")
        if self.active_stations is not None:
            self.active_stations = tuple(int(s) for s in self.active_stations)
            self.n_active_antennas = len(self.active_stations)
        if not 2 <= self.n_active_antennas <= C.N_STATIONS:
            raise ValueError(f"n_active_antennas must be 2..{C.N_STATIONS}")
        if self.n_dead_antennas >= self.n_active_antennas:
            raise ValueError("n_dead_antennas must leave some live antennas")
        if self.missing_subband is not None and self.missing_subband not in self.subbands:
            raise ValueError(f"missing_subband {self.missing_subband} is not among subbands {self.subbands}")
        check_file_options(self.file_layout, self.header_style)
        if self.station_file is not None:
            self.station_file = Path(self.station_file)
        if self.catalog_file is not None:
            self.catalog_file = Path(self.catalog_file)

    @classmethod
    def tiny(cls, **overrides) -> SimulationConfig:
        """Unit-test scale: 6 antennas (E-W, N-S, an outrigger), sb00 and sb15, a few sources."""
        base = dict(n_active_antennas=6, subbands=(0, 15), n_sources=5, field_radius=4.0 * u.deg)
        base.update(overrides)
        return cls(**base)

    @classmethod
    def full(cls, **overrides) -> SimulationConfig:
        """Telescope scale: 96 active antennas, 16 subbands, NVSS-density sky.

        Sources fainter than 5 mJy apparent are skipped in the visibilities
        (they are 1/500 of the per-visibility noise and ~20x the tile image
        noise only when summed); this keeps a tile under the 60 s budget.
        """
        base = dict(prediction_flux_cut=5.0 * u.mJy)
        base.update(overrides)
        return cls(**base)

    def replace(self, **changes) -> SimulationConfig:
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict:
        """JSON-ready form (for the truth files)."""
        out = {}
        for f in dataclasses.fields(self):
            v = getattr(self, f.name)
            if isinstance(v, u.Quantity):
                v = {"value": float(v.value), "unit": v.unit.to_string()}
            elif isinstance(v, Path):
                v = str(v)
            elif isinstance(v, tuple):
                v = list(v)
            out[f.name] = v
        return out
