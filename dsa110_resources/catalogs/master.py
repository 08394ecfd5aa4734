"""The master source catalog: NVSS, with what VLASS and FIRST say about each source.

Every NVSS source (the survey at our frequency, with a beam close to ours) is
a row; finer surveys are matched to it within ``match_radius`` and *all*
their components inside that radius count: the summed flux is what the
coarser beam sees, the count says whether a finer beam splits the source.
From these each row gets:

- ``alpha``: spectral index from NVSS 1.4 GHz to VLASS 3 GHz (the summed
  VLASS flux), with its error; null without VLASS. The surveys are years
  apart, so a variable source's alpha is off: that is one more reason such a
  source makes a poor reference.
- ``compact`` / ``resolved``: positive evidence either way. Compact: the NVSS
  deconvolved major axis at most ``compact_major`` and, where a finer survey
  matched, one component no larger than ``hires_compact_major``. Resolved:
  an NVSS major axis above ``resolved_major``, several finer components, a
  large finer component, or FIRST recovering under ``first_flux_ratio_min``
  of the NVSS flux (the extended part resolved out). A source with no size
  measured anywhere is neither.
- ``isolated``: no other NVSS source within ``isolation_radius`` (three
  DSA-110 beams: outside the forced-fit box and the background annulus's
  inner edge). ``confused``: a neighbour at least ``confusion_fraction`` of the
  source's flux within ``confusion_radius``, close enough to bias its flux.
- ``reference``: compact, isolated, not confused, at least
  ``reference_min_flux``, and not flat or inverted where alpha is known
  (flat-spectrum cores scintillate: the sources ESE searches find vary).

Input files are the user's (no download): CSV, TSV or FITS, read with
per-survey column aliases that a column mapping overrides. The build records
each input's SHA-256, size, rows read and kept, and the columns used.
"""

from __future__ import annotations

import hashlib
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import astropy.units as u
import numpy as np
import pandas as pd
from astropy.coordinates import SkyCoord

from dsa110_resources.catalogs.crossmatch import nearest_neighbour_separation, pairs_within
from dsa110_resources.catalogs.sky import DEFAULT_SPECTRAL_INDEX, SkyCatalog, is_fits, read_text_table

__all__ = [
    "SURVEYS",
    "CatalogInput",
    "MasterOptions",
    "MasterBuild",
    "read_survey",
    "build_master_catalog",
    "store_master_catalog",
    "load_master_catalog",
    "master_sky_catalog",
]

#: Output fields of a survey table; ra, dec and flux are required.
FIELDS = ("name", "ra", "dec", "ra_err", "dec_err", "flux", "flux_err", "peak", "major", "minor", "pa")
REQUIRED = ("ra", "dec", "flux")
_UNITS = {"ra": u.deg, "dec": u.deg, "ra_err": u.arcsec, "dec_err": u.arcsec, "flux": u.Jy,
          "flux_err": u.Jy, "peak": u.Jy, "major": u.arcsec, "minor": u.arcsec, "pa": u.deg}

# Column aliases (lower case), first match wins: ours, then VizieR's, then the survey teams'.
_COMMON = {
    "name": ("name", "source_id", "source", "source_name", "component_name", "id"),
    "ra": ("ra_deg", "ra", "raj2000", "ra_j2000", "ra(2000)"),
    "dec": ("dec_deg", "dec", "dej2000", "decj2000", "dec_j2000", "dec(2000)"),
    "ra_err": ("ra_err_arcsec", "e_ra", "ra_err", "e_ra_arcsec"),
    "dec_err": ("dec_err_arcsec", "e_dec", "dec_err", "e_de", "e_dec_arcsec"),
    "flux": ("flux_jy", "flux_mjy", "total_flux", "int_flux", "fint", "s1.4", "flux"),
    "flux_err": ("flux_err_jy", "flux_err_mjy", "e_total_flux", "e_s1.4", "e_fint", "flux_err", "e_flux"),
    "peak": ("peak_jy", "peak_mjy", "peak_flux", "fpeak", "peak"),
    "major": ("dc_maj", "deconv_major", "major_arcsec", "majaxis", "maj", "major"),
    "minor": ("dc_min", "deconv_minor", "minor_arcsec", "minaxis", "min", "minor"),
    "pa": ("dc_pa", "pa_deg", "pa", "posang"),
}


@dataclass(frozen=True)
class Survey:
    """A survey's frequency, resolution, alias extras and the flux unit its tables use."""

    name: str
    freq: u.Quantity
    resolution: u.Quantity
    flux_unit: u.Unit = u.mJy
    aliases: dict[str, tuple[str, ...]] = field(default_factory=dict)

    def aliases_for(self, name: str) -> tuple[str, ...]:
        return self.aliases.get(name, ()) + _COMMON[name]


SURVEYS = {
    "nvss": Survey("nvss", 1.4 * u.GHz, 45 * u.arcsec, aliases={"name": ("nvss",)}),
    "first": Survey("first", 1.4 * u.GHz, 5.4 * u.arcsec, aliases={"name": ("first",)}),
    "vlass": Survey("vlass", 3.0 * u.GHz, 2.5 * u.arcsec),
}


@dataclass(frozen=True)
class CatalogInput:
    """One survey file: which survey, where, and how to read its columns.

    columns: field -> column name, overriding the aliases (fields: FIELDS).
    units: field -> unit string, for text tables (FITS column units win).
    """

    survey: str
    path: Path
    columns: dict[str, str] = field(default_factory=dict)
    units: dict[str, str] = field(default_factory=dict)

    def __post_init__(self):
        if self.survey not in SURVEYS:
            raise ValueError(f"unknown survey {self.survey!r}: one of {sorted(SURVEYS)}")
        unknown = sorted(set(self.columns) - set(FIELDS)) + sorted(set(self.units) - set(FIELDS))
        if unknown:
            raise ValueError(f"{self.path}: unknown field(s) {unknown} in the column mapping; fields: {FIELDS}")
        object.__setattr__(self, "path", Path(self.path))


@dataclass(frozen=True)
class MasterOptions:
    """Cross-match radius and flag thresholds (all recorded in the version row)."""

    match_radius: u.Quantity = 15 * u.arcsec
    compact_major: u.Quantity = 20 * u.arcsec  # NVSS deconvolved; the DSA-110 beam is ~75" x 48"
    resolved_major: u.Quantity = 40 * u.arcsec
    hires_compact_major: u.Quantity = 5 * u.arcsec  # FIRST/VLASS deconvolved major of a compact source
    first_flux_ratio_min: float = 0.6
    isolation_radius: u.Quantity = 225 * u.arcsec  # three DSA-110 beam majors
    confusion_radius: u.Quantity = 120 * u.arcsec
    confusion_fraction: float = 0.1
    reference_min_flux: u.Quantity = 20 * u.mJy
    reference_max_alpha: float = -0.3

    def as_dict(self) -> dict[str, Any]:
        out = {}
        for key, value in asdict(self).items():
            out[key] = {"value": float(value.value), "unit": str(value.unit)} if isinstance(value, u.Quantity) else value
        return out


@dataclass
class MasterBuild:
    """A built catalog not yet stored: the table, each input's provenance, the options."""

    sources: pd.DataFrame
    inputs: dict[str, dict[str, Any]]
    options: MasterOptions


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _read_file(path: Path) -> tuple[pd.DataFrame, dict[str, str]]:
    """The table and its column units (FITS only; text tables have none)."""
    if not path.is_file():
        raise FileNotFoundError(f"catalog file {path} does not exist")
    if is_fits(path):
        from astropy.table import Table

        try:
            table = Table.read(path, hdu=1)
        except Exception as exc:  # astropy raises several types for a bad file
            raise ValueError(f"{path}: not a readable FITS table ({exc})") from exc
        units = {c: str(table[c].unit) for c in table.colnames if table[c].unit is not None}
        columns = {c: np.asarray(table[c]) for c in table.colnames if table[c].ndim == 1}
        return pd.DataFrame(columns), units
    return read_text_table(path), {}


def _unit_for(field_name: str, column: str, survey: Survey, inp: CatalogInput, fits_units: dict) -> u.Unit:
    if column in fits_units:
        return u.Unit(fits_units[column], parse_strict="silent")
    if field_name in inp.units:
        return u.Unit(inp.units[field_name])
    low = column.lower()
    if field_name in ("flux", "flux_err", "peak"):
        if low.endswith("_jy"):
            return u.Jy
        return survey.flux_unit
    return _UNITS[field_name]


def _to_unit(values: np.ndarray, unit: u.Unit, target: u.Unit, where: str) -> np.ndarray:
    try:
        return (np.asarray(values, float) * unit).to_value(target)
    except (u.UnitsError, ValueError, TypeError) as exc:
        raise ValueError(f"{where}: cannot read as {target} ({exc})") from exc


def read_survey(inp: CatalogInput) -> tuple[pd.DataFrame, dict[str, Any]]:
    """A survey file as a table of FIELDS in standard units, plus its provenance.

    Rows without a finite position or a positive flux are dropped (counted in
    the provenance); a file with no such row, or without the required
    columns, is refused with the file named.
    """
    survey = SURVEYS[inp.survey]
    raw, fits_units = _read_file(inp.path)
    lower = {c.lower(): c for c in raw.columns}
    chosen: dict[str, str] = {}
    for name in FIELDS:
        if name in inp.columns:
            if inp.columns[name] not in raw.columns:
                raise ValueError(f"{inp.path}: mapped column {inp.columns[name]!r} for {name} is not in the file"
                                 f" (columns: {list(raw.columns)})")
            chosen[name] = inp.columns[name]
            continue
        hit = next((lower[a] for a in survey.aliases_for(name) if a in lower), None)
        if hit is not None:
            chosen[name] = hit
    missing = [f for f in REQUIRED if f not in chosen]
    if missing:
        raise ValueError(f"{inp.path}: no column for {missing} (columns: {list(raw.columns)});"
                         " give a column mapping, e.g. flux=S1.4")
    out = pd.DataFrame(index=raw.index)
    ra_raw, dec_raw = raw[chosen["ra"]], raw[chosen["dec"]]
    if not (pd.api.types.is_numeric_dtype(ra_raw) and pd.api.types.is_numeric_dtype(dec_raw)):  # sexagesimal "hh mm ss.s" / "+dd mm ss"
        try:
            coords = SkyCoord(ra_raw.astype(str).to_numpy(), dec_raw.astype(str).to_numpy(),
                              unit=(u.hourangle, u.deg))
        except ValueError as exc:
            raise ValueError(f"{inp.path}: cannot parse positions in {chosen['ra']}/{chosen['dec']} ({exc})") from exc
        out["ra"], out["dec"] = coords.ra.deg, coords.dec.deg
    else:
        for name in ("ra", "dec"):
            out[name] = _to_unit(raw[chosen[name]], _unit_for(name, chosen[name], survey, inp, fits_units),
                                 u.deg, f"{inp.path} column {chosen[name]}")
    for name in FIELDS[3:]:
        if name in chosen:
            unit = _unit_for(name, chosen[name], survey, inp, fits_units)
            out[name] = _to_unit(pd.to_numeric(raw[chosen[name]], errors="coerce"), unit, _UNITS[name],
                                 f"{inp.path} column {chosen[name]}")
        else:
            out[name] = np.nan
    out["name"] = raw[chosen["name"]].astype(str).str.strip() if "name" in chosen else None
    ok = np.isfinite(out["ra"]) & np.isfinite(out["dec"]) & (np.abs(out["dec"]) <= 90)
    ok &= np.isfinite(out["flux"]) & (out["flux"] > 0)
    kept = out[ok].reset_index(drop=True)
    if kept.empty:
        raise ValueError(f"{inp.path}: no row with a finite position and a positive flux ({len(raw)} rows read)")
    kept["ra"] = kept["ra"] % 360.0
    provenance = {
        "survey": inp.survey,
        "path": str(inp.path.resolve()),
        "sha256": _sha256(inp.path),
        "bytes": inp.path.stat().st_size,
        "rows_read": int(len(raw)),
        "rows_kept": int(len(kept)),
        "columns": chosen,
        "freq_hz": float(survey.freq.to_value(u.Hz)),
    }
    return kept, provenance


def _iau_names(ra: np.ndarray, dec: np.ndarray, prefix: str) -> np.ndarray:
    coords = SkyCoord(ra * u.deg, dec * u.deg)
    ra_s = coords.ra.to_string(u.hourangle, sep="", precision=1, pad=True)
    dec_s = coords.dec.to_string(sep="", precision=0, alwayssign=True, pad=True)
    names = np.array([f"{prefix} J{r}{d}" for r, d in zip(np.atleast_1d(ra_s), np.atleast_1d(dec_s))], dtype=object)
    # Two sources closer than the name's precision: suffix the later ones.
    seen: dict[str, int] = {}
    for i, n in enumerate(names):
        k = seen.get(n, 0)
        seen[n] = k + 1
        if k:
            names[i] = f"{n}_{k + 1}"
    return names


def _components(nvss_coords: SkyCoord, hires: pd.DataFrame | None, radius: u.Quantity) -> pd.DataFrame:
    """Per NVSS row: number, summed flux (and its error) and largest major axis of finer components."""
    n = len(nvss_coords)
    out = pd.DataFrame({"n": np.zeros(n, int), "flux": np.nan, "flux_err": np.nan, "max_major": np.nan})
    if hires is None or hires.empty:
        return out
    pairs = pairs_within(nvss_coords, SkyCoord(hires["ra"].to_numpy() * u.deg, hires["dec"].to_numpy() * u.deg),
                         radius)
    if pairs.empty:
        return out
    # A finer component belongs to its nearest NVSS source only.
    pairs = pairs.sort_values("separation_arcsec").drop_duplicates("catalog_index")
    j = pairs["catalog_index"].to_numpy(int)
    part = pd.DataFrame({
        "i": pairs["index"].to_numpy(int),
        "flux": hires["flux"].to_numpy()[j],
        "var": np.nan_to_num(hires["flux_err"].to_numpy()[j]) ** 2,
        "major": hires["major"].to_numpy()[j],
    })
    grouped = part.groupby("i")
    idx = grouped.size().index.to_numpy()
    out.loc[idx, "n"] = grouped.size().to_numpy()
    out.loc[idx, "flux"] = grouped["flux"].sum().to_numpy()
    err = np.sqrt(grouped["var"].sum().to_numpy())
    out.loc[idx, "flux_err"] = np.where(err > 0, err, np.nan)
    out.loc[idx, "max_major"] = grouped["major"].max().to_numpy()
    return out


def build_master_catalog(nvss: CatalogInput, *, vlass: CatalogInput | None = None,
                         first: CatalogInput | None = None,
                         options: MasterOptions = MasterOptions()) -> MasterBuild:
    """Read the inputs, cross-match and flag; nothing is written."""
    if nvss.survey != "nvss":
        raise ValueError(f"{nvss.path}: the base catalog must be NVSS, got survey {nvss.survey!r}")
    base, prov_nvss = read_survey(nvss)
    inputs = {"nvss": prov_nvss}
    extra = {}
    for key, inp in (("vlass", vlass), ("first", first)):
        if inp is not None:
            if inp.survey != key:
                raise ValueError(f"{inp.path}: given as {key} but declared survey {inp.survey!r}")
            extra[key], inputs[key] = read_survey(inp)
    coords = SkyCoord(base["ra"].to_numpy() * u.deg, base["dec"].to_numpy() * u.deg)
    names = base["name"].to_numpy(object) if base["name"].notna().all() else _iau_names(
        base["ra"].to_numpy(), base["dec"].to_numpy(), "NVSS")
    if len(set(names)) != len(names):
        dup = pd.Series(names).value_counts()
        raise ValueError(f"{nvss.path}: duplicate source names, e.g. {list(dup[dup > 1].index[:3])}")
    flux = base["flux"].to_numpy()
    flux_err = base["flux_err"].to_numpy()
    major = base["major"].to_numpy()

    v = _components(coords, extra.get("vlass"), options.match_radius)
    f = _components(coords, extra.get("first"), options.match_radius)
    ratio = np.log(SURVEYS["vlass"].freq / SURVEYS["nvss"].freq).to_value(u.one)
    with np.errstate(invalid="ignore", divide="ignore"):
        alpha = np.log(v["flux"].to_numpy() / flux) / ratio
        rel = np.hypot(np.nan_to_num(v["flux_err"].to_numpy() / v["flux"].to_numpy()),
                       np.nan_to_num(flux_err / flux))
        alpha_err = np.where(np.isfinite(alpha) & (rel > 0), rel / ratio, np.nan)

    hires_n = v["n"].to_numpy() + f["n"].to_numpy()
    hires_major = np.fmax(v["max_major"].to_numpy(), f["max_major"].to_numpy())
    nvss_major = major
    first_ratio = f["flux"].to_numpy() / flux
    resolved = (
        (np.nan_to_num(nvss_major) > options.resolved_major.to_value(u.arcsec))
        | (v["n"].to_numpy() > 1) | (f["n"].to_numpy() > 1)
        | (np.nan_to_num(hires_major) > options.hires_compact_major.to_value(u.arcsec))
        | ((f["n"].to_numpy() > 0) & (np.nan_to_num(first_ratio, nan=1.0) < options.first_flux_ratio_min))
    )
    nvss_small = np.isfinite(nvss_major) & (nvss_major <= options.compact_major.to_value(u.arcsec))
    hires_small = (hires_n == 0) | (
        (v["n"].to_numpy() <= 1) & (f["n"].to_numpy() <= 1)
        & (np.nan_to_num(hires_major) <= options.hires_compact_major.to_value(u.arcsec)))
    compact = nvss_small & hires_small & ~resolved

    nearest = nearest_neighbour_separation(coords).to_value(u.arcsec)
    isolated = nearest > options.isolation_radius.to_value(u.arcsec)
    confused = np.zeros(len(base), bool)
    near = pairs_within(coords, coords, options.confusion_radius)
    near = near[near["index"] != near["catalog_index"]]
    if not near.empty:
        i, j = near["index"].to_numpy(int), near["catalog_index"].to_numpy(int)
        bright = flux[j] >= options.confusion_fraction * flux[i]
        confused[np.unique(i[bright])] = True
    not_flat = ~(np.isfinite(alpha) & (alpha > options.reference_max_alpha))
    reference = (compact & isolated & ~confused & not_flat
                 & (flux >= options.reference_min_flux.to_value(u.Jy)))

    def opt(a):
        a = np.asarray(a, float)
        return np.where(np.isfinite(a), a, np.nan)

    sources = pd.DataFrame({
        "source_id": names.astype(str),
        "ra_deg": base["ra"].to_numpy(), "dec_deg": base["dec"].to_numpy(),
        "ra_err_arcsec": opt(base["ra_err"]), "dec_err_arcsec": opt(base["dec_err"]),
        "flux_jy": flux, "flux_err_jy": opt(flux_err),
        "major_arcsec": opt(major), "minor_arcsec": opt(base["minor"]), "pa_deg": opt(base["pa"]),
        "first_flux_jy": opt(f["flux"]), "first_n": f["n"].to_numpy(int),
        "vlass_flux_jy": opt(v["flux"]), "vlass_flux_err_jy": opt(v["flux_err"]), "vlass_n": v["n"].to_numpy(int),
        "alpha": opt(alpha), "alpha_err": opt(alpha_err),
        "nearest_arcsec": np.where(np.isfinite(nearest), nearest, np.nan),
        "compact": compact, "resolved": resolved, "isolated": isolated, "confused": confused,
        "reference": reference,
    })
    return MasterBuild(sources, inputs, options)


def store_master_catalog(db, build: MasterBuild, note: str | None = None, chunk: int = 20_000) -> int:
    """Write a build as a new version (one transaction); returns the version id."""
    from sqlalchemy import insert

    from dsa110_resources.db import MasterCatalogVersion, MasterSource

    table = build.sources
    with db.session() as s:
        version = MasterCatalogVersion(
            n_sources=len(table), n_reference=int(table["reference"].sum()),
            inputs=build.inputs, parameters=build.options.as_dict(), note=note,
        )
        s.add(version)
        s.flush()
        for start in range(0, len(table), chunk):  # chunks: 1.8M NVSS rows as dicts at once is GBs
            part = table.iloc[start:start + chunk].assign(version_id=version.id)
            s.execute(insert(MasterSource), part.astype(object).where(part.notna(), None).to_dict("records"))
        return version.id


def load_master_catalog(db, version: int | None = None, *, reference_only: bool = False,
                        center: SkyCoord | None = None, radius: u.Quantity | None = None) -> pd.DataFrame:
    """The master catalog (newest version unless given) as a DataFrame, optionally a cone of it.

    The cone is cut by a declination (indexed) and RA window in SQL and by
    separation here.
    Raises LookupError when no catalog was built.
    """
    from sqlalchemy import func, select

    from dsa110_resources.db import MasterCatalogVersion, MasterSource

    with db.session() as s:
        vid = version if version is not None else s.scalar(select(func.max(MasterCatalogVersion.id)))
        if vid is None:
            raise LookupError("no master catalog in the products database (run `dsa110 catalog build`)")
        query = select(MasterSource).where(MasterSource.version_id == vid)
        if reference_only:
            query = query.where(MasterSource.reference)
        if center is not None and radius is not None:
            r, dec = float(radius.to_value(u.deg)), float(center.dec.deg)
            query = query.where(MasterSource.dec_deg.between(dec - r, dec + r))
            if abs(dec) + r < 85.0:  # an RA window too, away from the poles (wrapping at 0/360)
                half = float(r / np.cos(np.deg2rad(abs(dec) + r)))
                lo, hi = (float(center.ra.deg) - half) % 360.0, (float(center.ra.deg) + half) % 360.0
                ra = MasterSource.ra_deg
                query = query.where(ra.between(lo, hi) if lo <= hi else (ra >= lo) | (ra <= hi))
        columns = [c.name for c in MasterSource.__table__.columns]
        rows = s.execute(query.with_only_columns(*[getattr(MasterSource, c) for c in columns])).all()
    table = pd.DataFrame(rows, columns=columns)
    if center is not None and radius is not None and len(table):
        sep = SkyCoord(table["ra_deg"].to_numpy() * u.deg, table["dec_deg"].to_numpy() * u.deg).separation(center)
        table = table[sep <= radius].reset_index(drop=True)
    return table


def master_sky_catalog(table: pd.DataFrame) -> SkyCatalog:
    """Rows of the master catalog as a SkyCatalog (what photometry and sky models read)."""
    alpha = table["alpha"].astype(float).to_numpy() if "alpha" in table else np.nan
    return SkyCatalog(
        table["source_id"].to_numpy(object), table["ra_deg"].to_numpy(float), table["dec_deg"].to_numpy(float),
        table["flux_jy"].to_numpy(float),
        np.where(np.isfinite(alpha), alpha, DEFAULT_SPECTRAL_INDEX),
        np.nan_to_num(table["major_arcsec"].astype(float).to_numpy()),
        np.nan_to_num(table["minor_arcsec"].astype(float).to_numpy()),
        np.nan_to_num(table["pa_deg"].astype(float).to_numpy()),
    )
