"""Point-source sky catalogs: one in-memory table, CSV and FITS readers.

A :class:`SkyCatalog` holds sources as parallel numpy arrays (name, RA, Dec,
flux density at the reference frequency, spectral index, optional Gaussian
shape). Readers map the column names used by common catalogs (NVSS, our CSV)
to these fields, so calibration and photometry read operator-supplied files
and the simulator's synthetic catalog through the same code.

CSV format written by :meth:`SkyCatalog.write_csv` (one header row)::

    name,ra_deg,dec_deg,flux_jy,spectral_index,major_arcsec,minor_arcsec,pa_deg

``flux_jy`` is the flux density at ``ref_freq`` (1.4 GHz unless a
``# ref_freq_hz=...`` comment line precedes the header); S(nu) = flux_jy *
(nu/ref_freq)**spectral_index. Shape columns are optional (0 = point).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import astropy.units as u
import numpy as np
from astropy.coordinates import SkyCoord

__all__ = ["REFERENCE_FREQUENCY", "SkyCatalog", "read_catalog", "read_csv", "read_fits"]

#: Catalog fluxes refer to 1.4 GHz (NVSS) unless a file says otherwise.
REFERENCE_FREQUENCY = 1.4 * u.GHz
DEFAULT_SPECTRAL_INDEX = -0.7

# Column aliases (lower case) -> field; first match wins.
_ALIASES = {
    "name": ("name", "source", "source_name", "nvss", "id"),
    "ra_deg": ("ra_deg", "ra", "raj2000", "ra(2000)", "ra_j2000"),
    "dec_deg": ("dec_deg", "dec", "dej2000", "decj2000", "dec(2000)", "dec_j2000"),
    "flux_jy": ("flux_jy", "s1.4_jy", "flux", "int_flux_jy"),
    "flux_mjy": ("flux_mjy", "s1.4", "s1_4", "int_flux_mjy", "peak_mjy"),
    "spectral_index": ("spectral_index", "alpha", "si"),
    "major_arcsec": ("major_arcsec", "maj", "major", "major ax", "major_ax"),
    "minor_arcsec": ("minor_arcsec", "min", "minor", "minor ax", "minor_ax"),
    "pa_deg": ("pa_deg", "pa", "posangle", "position_angle"),
}


@dataclass
class SkyCatalog:
    """Sources with positions (ICRS, J2000), flux at ``ref_freq`` and spectral index."""

    name: np.ndarray
    ra_deg: np.ndarray
    dec_deg: np.ndarray
    flux_jy: np.ndarray
    spectral_index: np.ndarray
    major_arcsec: np.ndarray | None = None
    minor_arcsec: np.ndarray | None = None
    pa_deg: np.ndarray | None = None
    ref_freq: u.Quantity = field(default_factory=lambda: REFERENCE_FREQUENCY)

    def __post_init__(self) -> None:
        n = len(self.ra_deg)
        self.name = np.asarray(self.name, dtype=object)
        self.ra_deg = np.asarray(self.ra_deg, dtype=float) % 360.0
        self.dec_deg = np.asarray(self.dec_deg, dtype=float)
        self.flux_jy = np.asarray(self.flux_jy, dtype=float)
        self.spectral_index = np.broadcast_to(np.asarray(self.spectral_index, float), (n,)).copy()
        for attr in ("major_arcsec", "minor_arcsec", "pa_deg"):
            val = getattr(self, attr)
            setattr(self, attr, np.zeros(n) if val is None else np.asarray(val, float))
        for attr in ("name", "dec_deg", "flux_jy", "major_arcsec", "minor_arcsec", "pa_deg"):
            if len(getattr(self, attr)) != n:
                raise ValueError(f"column {attr} has {len(getattr(self, attr))} rows, expected {n}")
        if np.any(np.abs(self.dec_deg) > 90):
            raise ValueError("declination outside [-90, 90] deg")
        if np.any(~np.isfinite(self.flux_jy)):
            raise ValueError("catalog has sources with no flux: a model with no flux is an error")

    def __len__(self) -> int:
        return len(self.ra_deg)

    @classmethod
    def empty(cls) -> SkyCatalog:
        return cls(np.array([], object), np.array([]), np.array([]), np.array([]), np.array([]))

    @property
    def coords(self) -> SkyCoord:
        return SkyCoord(self.ra_deg * u.deg, self.dec_deg * u.deg, frame="icrs")

    @property
    def flux(self) -> u.Quantity:
        return self.flux_jy * u.Jy

    def flux_at(self, freq: u.Quantity) -> u.Quantity:
        """Flux density at ``freq``: shape (n_sources, *freq.shape)."""
        ratio = (np.atleast_1d(freq) / self.ref_freq).to_value(u.one)
        out = self.flux_jy[:, None] * ratio[None, :] ** self.spectral_index[:, None]
        return out.reshape((len(self),) + np.shape(freq)) * u.Jy

    def select(self, mask) -> SkyCatalog:
        """A new catalog with the rows selected by a boolean mask or index array."""
        return SkyCatalog(
            self.name[mask], self.ra_deg[mask], self.dec_deg[mask], self.flux_jy[mask],
            self.spectral_index[mask], self.major_arcsec[mask], self.minor_arcsec[mask],
            self.pa_deg[mask], ref_freq=self.ref_freq,
        )

    def cone(self, center: SkyCoord, radius: u.Quantity) -> SkyCatalog:
        """Sources within ``radius`` of ``center``."""
        if len(self) == 0:
            return self
        return self.select(self.coords.separation(center) <= radius)

    def brighter_than(self, flux: u.Quantity) -> SkyCatalog:
        return self.select(self.flux_jy >= flux.to_value(u.Jy))

    def concatenate(self, other: SkyCatalog) -> SkyCatalog:
        if not u.isclose(self.ref_freq, other.ref_freq):
            other = SkyCatalog(
                other.name, other.ra_deg, other.dec_deg,
                other.flux_at(self.ref_freq).to_value(u.Jy), other.spectral_index,
                other.major_arcsec, other.minor_arcsec, other.pa_deg, ref_freq=self.ref_freq,
            )
        cat = lambda a, b: np.concatenate([a, b])  # noqa: E731
        return SkyCatalog(
            cat(self.name, other.name), cat(self.ra_deg, other.ra_deg), cat(self.dec_deg, other.dec_deg),
            cat(self.flux_jy, other.flux_jy), cat(self.spectral_index, other.spectral_index),
            cat(self.major_arcsec, other.major_arcsec), cat(self.minor_arcsec, other.minor_arcsec),
            cat(self.pa_deg, other.pa_deg), ref_freq=self.ref_freq,
        )

    def to_records(self) -> list[dict]:
        """JSON-ready rows (used by the simulator's truth files)."""
        return [
            {
                "name": str(self.name[i]),
                "ra_deg": float(self.ra_deg[i]),
                "dec_deg": float(self.dec_deg[i]),
                "flux_jy": float(self.flux_jy[i]),
                "spectral_index": float(self.spectral_index[i]),
                "major_arcsec": float(self.major_arcsec[i]),
                "minor_arcsec": float(self.minor_arcsec[i]),
                "pa_deg": float(self.pa_deg[i]),
            }
            for i in range(len(self))
        ]

    def write_csv(self, path: str | Path) -> Path:
        """Write the documented CSV format (atomically: temp name then rename)."""
        import pandas as pd

        path = Path(path)
        tmp = path.with_name(f".{path.name}.tmp")
        df = pd.DataFrame(self.to_records())
        if len(df) == 0:
            df = pd.DataFrame(columns=list(_ALIASES)[:3] + ["flux_jy", "spectral_index", "major_arcsec", "minor_arcsec", "pa_deg"])
        with tmp.open("w", newline="") as fh:
            fh.write(f"# ref_freq_hz={self.ref_freq.to_value(u.Hz):.1f}\n")
            df.to_csv(fh, index=False, float_format="%.10g")
        tmp.replace(path)
        return path


def _pick(columns: dict[str, str], field_name: str) -> str | None:
    for alias in _ALIASES[field_name]:
        if alias in columns:
            return columns[alias]
    return None


def _from_table(get, columns: list[str], ref_freq: u.Quantity, source: str) -> SkyCatalog:
    """Build a catalog from a column getter, resolving aliases."""
    lower = {c.strip().lower(): c for c in columns}
    ra_c, dec_c = _pick(lower, "ra_deg"), _pick(lower, "dec_deg")
    if ra_c is None or dec_c is None:
        raise ValueError(f"{source}: no RA/Dec columns among {columns}")
    flux_c = _pick(lower, "flux_jy")
    if flux_c is not None:
        flux = np.asarray(get(flux_c), float)
    elif (mjy_c := _pick(lower, "flux_mjy")) is not None:
        flux = np.asarray(get(mjy_c), float) / 1e3
    else:
        raise ValueError(f"{source}: no flux column among {columns}: refusing to invent fluxes")
    n = len(flux)
    name_c = _pick(lower, "name")
    names = np.asarray(get(name_c), dtype=str) if name_c else np.array([f"S{i:06d}" for i in range(n)])
    si_c = _pick(lower, "spectral_index")
    alpha = np.asarray(get(si_c), float) if si_c else np.full(n, DEFAULT_SPECTRAL_INDEX)
    alpha = np.where(np.isfinite(alpha), alpha, DEFAULT_SPECTRAL_INDEX)

    def opt(field_name):
        c = _pick(lower, field_name)
        if c is None:
            return None
        v = np.asarray(get(c), float)
        return np.where(np.isfinite(v), v, 0.0)

    return SkyCatalog(
        names, np.asarray(get(ra_c), float), np.asarray(get(dec_c), float), flux, alpha,
        opt("major_arcsec"), opt("minor_arcsec"), opt("pa_deg"), ref_freq=ref_freq,
    )


#: Text tables separated by tabs; anything else that is not FITS is CSV.
TSV_SUFFIXES = (".tsv", ".tab")
FITS_SUFFIXES = (".fits", ".fit", ".fits.gz")


def is_fits(path: str | Path) -> bool:
    return str(path).lower().endswith(FITS_SUFFIXES)


def read_text_table(path: str | Path):
    """A CSV or TSV table (by suffix; ``#`` lines are comments) as a DataFrame.

    Errors name the file: an unreadable or empty table is bad input.
    """
    import pandas as pd

    path = Path(path)
    sep = "\t" if path.suffix.lower() in TSV_SUFFIXES else ","
    try:
        df = pd.read_csv(path, comment="#", sep=sep, skipinitialspace=True)
    except (pd.errors.EmptyDataError, pd.errors.ParserError, UnicodeDecodeError) as exc:
        raise ValueError(f"{path}: not a readable {'TSV' if sep != ',' else 'CSV'} table ({exc})") from exc
    df.columns = [str(c).strip() for c in df.columns]
    return df


def read_csv(path: str | Path) -> SkyCatalog:
    """Read a CSV (or TSV) sky catalog (our format, or any with aliased column names).

    A leading ``# ref_freq_hz=<value>`` comment sets the reference frequency.
    """
    path = Path(path)
    ref_freq = REFERENCE_FREQUENCY
    with path.open() as fh:
        first = fh.readline()
    if first.startswith("#") and "ref_freq_hz=" in first:
        ref_freq = float(first.split("ref_freq_hz=")[1].split()[0]) * u.Hz
    df = read_text_table(path)
    return _from_table(lambda c: df[c].to_numpy(), list(df.columns), ref_freq, str(path))


def read_fits(path: str | Path, hdu: int = 1) -> SkyCatalog:
    """Read a FITS binary-table catalog (e.g. an NVSS extract).

    Columns are resolved by alias (RA/DEC in degrees; flux in Jy, or mJy via
    e.g. ``S1.4``). Units in the table header override the alias guess for
    flux (mJy vs Jy) and shape (deg vs arcsec).
    """
    from astropy.table import Table

    table = Table.read(path, hdu=hdu)

    def get(c):
        col = table[c]
        unit = getattr(col, "unit", None)
        data = np.asarray(col)
        if unit is not None:
            try:
                q = data * u.Unit(unit)
                if q.unit.physical_type == "spectral flux density":
                    return q.to_value(u.Jy) * (1e3 if c.lower() in _ALIASES["flux_mjy"] else 1.0)
                if q.unit.physical_type == "angle":
                    target = u.deg if c.lower() in _ALIASES["ra_deg"] + _ALIASES["dec_deg"] + _ALIASES["pa_deg"] else u.arcsec
                    return q.to_value(target)
            except (ValueError, u.UnitsError):
                pass
        return data

    return _from_table(get, list(table.colnames), REFERENCE_FREQUENCY, str(path))


def read_catalog(path: str | Path) -> SkyCatalog:
    """Read a sky catalog, choosing the reader from the file extension."""
    path = Path(path)
    if is_fits(path):
        return read_fits(path)
    return read_csv(path)
