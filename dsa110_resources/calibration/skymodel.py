"""Sky models in MODEL_DATA: catalog point sources seen through the tile's beam.

Two kinds of model feed the solves:

* a calibrator (at its transit tile), from the calibrator list: the flux
  standards with CASA's Perley-Butler 2017 spectrum on the observation date
  (:mod:`dsa110_resources.catalogs.flux_standards`), others with their power
  law; catalog field sources may be added;
* every catalog source whose apparent (beam-weighted) flux is above a limit,
  for gains between calibrator transits.

Each source's flux density follows its catalog spectrum and is attenuated by
the drift-averaged primary beam of the tile (the Airy model of
:mod:`dsa110_resources.imaging.primary_beam`, averaged over the tile's
integrations at each frequency), because the solver compares the model with
data that saw the source through that beam. The Stokes convention is
I = (XX + YY) / 2, so a source of apparent flux S gives XX = YY = S.

MODEL_DATA is written directly with python-casacore (no CASA ``ft``): a
vectorised DFT over the MS's own UVW, phase centre and channel frequencies,
in the MS sign convention

    V(u, v, w; nu) = sum_k S_k(nu) exp(+2 pi i nu/c (u l_k + v m_k + w (n_k - 1)))

with the MS's UVW (antenna 1 minus antenna 2 in pyuvdata's terms). The sign
is CASA's: checked against ``ft`` with a component list to 1e-6 Jy, see the
integration tests; the textbook minus sign would mirror the model. The phase is linear in frequency, so each row's spectrum is built by a
complex recurrence (one multiply per channel, re-anchored every block of
channels so rounding never accumulates) in compiled code.

A source with no flux, zero flux or a flux that is not finite is an error:
the old pipeline silently modelled 2.5 Jy and left MODEL_DATA all zeros; both
are refused here. Every model returns a provenance dict recording what went
in (sources, fluxes, beam factors, limits, catalog), stored with the tables.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import astropy.units as u
import numba
import numpy as np
from astropy.coordinates import SkyCoord

from dsa110_resources import constants as C
from dsa110_resources.catalogs import DEFAULT_CALIBRATORS, Calibrator, SkyCatalog, get_calibrator
from dsa110_resources.catalogs.flux_standards import FLUX_STANDARD, standard_spectrum
from dsa110_resources.tileinfo import TileInfo
from dsa110_resources.imaging.primary_beam import DriftScanBeam

__all__ = [
    "ModelError",
    "SkyModelSources",
    "beam_attenuation",
    "calibrator_model",
    "catalog_model",
    "predict_model",
    "sources_in_beam",
]

SPEED_OF_LIGHT = 299_792_458.0
#: Frequencies at which the drift-averaged beam is evaluated exactly
#: (interpolated linearly between them; the beam is smooth in frequency).
BEAM_FREQ_SAMPLES = 16
#: Rows per DFT/putcol chunk (~100 MB of MODEL_DATA at 768 x 2).
ROW_CHUNK = 8192
#: Channels between exact re-anchors of the phase recurrence.
ANCHOR_EVERY = 64
#: Sources whose drift-averaged response is below this are outside the beam.
DEFAULT_BEAM_FLOOR = 0.01


class ModelError(ValueError):
    """A sky model that must not be used (no flux, zero flux, nothing in the beam)."""


@dataclass(frozen=True)
class SkyModelSources:
    """Point sources with their flux at each MS channel (already beam-attenuated)."""

    names: list[str]
    coords: SkyCoord
    intrinsic_flux: np.ndarray  # (n_src, n_chan) Jy, catalog spectrum
    beam: np.ndarray  # (n_src, n_chan) drift-averaged power response
    freqs_hz: np.ndarray  # (n_chan,)

    @property
    def apparent_flux(self) -> np.ndarray:
        return self.intrinsic_flux * self.beam


def _check_fluxes(names, flux_jy) -> None:
    flux_jy = np.asarray(flux_jy, float)
    bad = ~np.isfinite(flux_jy) | (flux_jy <= 0)
    if np.any(bad):
        which = ", ".join(str(n) for n in np.asarray(names, object)[np.any(bad.reshape(len(names), -1), axis=1)])
        raise ModelError(f"sky model sources without a usable flux (missing, zero or not finite): {which}")


def tile_beam(obs: TileInfo, freq_hz: float, time_samples: int = C.INTEGRATIONS_PER_FILE) -> DriftScanBeam:
    """The drift-averaged beam of a tile at one frequency."""
    return DriftScanBeam(pointing_mid=obs.phase_center, mid_time=obs.mid_time, start_time=obs.start_time,
                         end_time=obs.end_time, frequencies=np.atleast_1d(freq_hz) * u.Hz,
                         time_samples=time_samples, freq_samples=1)


def beam_attenuation(obs: TileInfo, coords: SkyCoord, freqs_hz: np.ndarray,
                     n_freq: int = BEAM_FREQ_SAMPLES) -> np.ndarray:
    """Drift-averaged Airy response (n_src, n_chan) at the MS channels."""
    coords = coords.reshape(-1) if coords.shape else coords.reshape(1)
    grid = np.linspace(freqs_hz.min(), freqs_hz.max(), n_freq) if n_freq > 1 else np.array([freqs_hz.mean()])
    samples = np.stack([tile_beam(obs, f).response(coords) for f in grid], axis=-1)  # (n_src, n_freq)
    if len(grid) == 1:
        return np.repeat(samples, len(freqs_hz), axis=1)
    return np.stack([np.interp(freqs_hz, grid, row) for row in samples])


def sources_in_beam(
    ms: str | Path,
    catalog: SkyCatalog,
    *,
    flux_limit: u.Quantity,
    beam_floor: float = DEFAULT_BEAM_FLOOR,
    search_radius: u.Quantity = 6 * u.deg,
) -> tuple[SkyCatalog, np.ndarray]:
    """Catalog sources whose band-centre apparent flux is at least ``flux_limit``.

    Returns the selection and each selected source's band-centre response.
    """
    obs = TileInfo.read(ms)
    near = catalog.cone(obs.phase_center, search_radius)
    if len(near) == 0:
        return near, np.zeros(0)
    _check_fluxes(near.name, near.flux_jy)
    response = tile_beam(obs, obs.ref_freq.to_value(u.Hz)).response(near.coords)
    apparent = near.flux_at(obs.ref_freq).to_value(u.Jy) * response
    keep = (response >= beam_floor) & (apparent >= flux_limit.to_value(u.Jy))
    return near.select(keep), response[keep]


def _as_sources(ms: Path, catalog: SkyCatalog, beam: bool,
                spectra: Mapping[str, np.ndarray] | None = None) -> tuple[TileInfo, SkyModelSources]:
    obs = TileInfo.read(ms)
    freqs = obs.freqs_hz
    if len(catalog) == 0:
        raise ModelError(f"empty sky model for {ms}: no sources to predict (MODEL_DATA would be all zeros)")
    _check_fluxes(catalog.name, catalog.flux_jy)
    intrinsic = catalog.flux_at(freqs * u.Hz).to_value(u.Jy)  # (n_src, n_chan)
    for i, name in enumerate(catalog.name):  # standard spectra replace the catalog power law
        if spectra and str(name) in spectra:
            intrinsic[i] = spectra[str(name)]
    _check_fluxes(catalog.name, intrinsic)
    coords = catalog.coords
    attenuation = beam_attenuation(obs, coords, freqs) if beam else np.ones_like(intrinsic)
    return obs, SkyModelSources([str(n) for n in catalog.name], coords, intrinsic, attenuation, freqs)


def _lmn(coords: SkyCoord, centre: SkyCoord) -> np.ndarray:
    """Direction cosines (l, m, n - 1) of sources about the phase centre (SIN projection)."""
    ra, dec = coords.icrs.ra.rad, coords.icrs.dec.rad
    ra0, dec0 = centre.icrs.ra.rad, centre.icrs.dec.rad
    dra = ra - ra0
    l = np.cos(dec) * np.sin(dra)
    m = np.sin(dec) * np.cos(dec0) - np.cos(dec) * np.sin(dec0) * np.cos(dra)
    n = np.sin(dec) * np.sin(dec0) + np.cos(dec) * np.cos(dec0) * np.cos(dra)
    return np.stack([np.atleast_1d(l), np.atleast_1d(m), np.atleast_1d(n) - 1.0], axis=-1)


@numba.njit(parallel=True, cache=True)
def _dft_rows(uvw, lmn1, flux, freqs, out):  # pragma: no cover - compiled
    """out[r, c] = sum_k flux[k, c] exp(+2 pi i f_c/c (uvw_r . lmn1_k)); uniform channels."""
    n_row, n_chan = out.shape
    n_src = lmn1.shape[0]
    df = freqs[1] - freqs[0] if n_chan > 1 else 0.0
    scale = 2.0 * np.pi / SPEED_OF_LIGHT
    for r in numba.prange(n_row):
        for c in range(n_chan):
            out[r, c] = 0.0
        for k in range(n_src):
            tau = scale * (uvw[r, 0] * lmn1[k, 0] + uvw[r, 1] * lmn1[k, 1] + uvw[r, 2] * lmn1[k, 2])
            step = np.cos(tau * df) + 1j * np.sin(tau * df)
            e = 0j
            for c in range(n_chan):
                if c % ANCHOR_EVERY == 0:
                    phase = tau * freqs[c]
                    e = np.cos(phase) + 1j * np.sin(phase)
                out[r, c] += flux[k, c] * e
                e *= step


def predict_visibilities(uvw: np.ndarray, lmn1: np.ndarray, flux: np.ndarray, freqs: np.ndarray) -> np.ndarray:
    """Model visibilities (n_row, n_chan) complex128 for point sources."""
    if len(freqs) > 1 and not np.allclose(np.diff(freqs), freqs[1] - freqs[0], rtol=1e-9, atol=1e-3):
        raise ModelError("channels are not uniformly spaced; the DFT recurrence needs a regular grid")
    out = np.empty((uvw.shape[0], len(freqs)), np.complex128)
    _dft_rows(np.ascontiguousarray(uvw, float), np.ascontiguousarray(lmn1, float),
              np.ascontiguousarray(flux, float), np.ascontiguousarray(freqs, float), out)
    return out


def _write_model(ms: Path, sources: SkyModelSources, centre: SkyCoord) -> dict:
    from casacore.tables import table

    lmn1 = _lmn(sources.coords, centre)
    flux = sources.apparent_flux
    peak = 0.0
    with table(str(ms), readonly=False, ack=False) as t:
        n_rows = t.nrows()
        n_pol = t.getcell("DATA", 0).shape[1]
        for start in range(0, n_rows, ROW_CHUNK):
            nrow = min(ROW_CHUNK, n_rows - start)
            uvw = t.getcol("UVW", startrow=start, nrow=nrow)
            vis = predict_visibilities(uvw, lmn1, flux, sources.freqs_hz).astype(np.complex64)
            peak = max(peak, float(np.abs(vis).max(initial=0.0)))
            t.putcol("MODEL_DATA", np.repeat(vis[:, :, None], n_pol, axis=2), startrow=start, nrow=nrow)
    if not peak > 0:
        raise ModelError(f"{ms}: predicted MODEL_DATA is all zeros")
    return {"n_rows": n_rows, "peak_model_jy": peak}


def predict_model(ms: str | Path, catalog: SkyCatalog, *, beam: bool = True, kind: str = "catalog",
                  extra: Mapping | None = None, spectra: Mapping[str, np.ndarray] | None = None) -> dict:
    """Write MODEL_DATA of ``ms`` from point sources; return the model's provenance.

    ``spectra`` (name -> flux per MS channel, Jy) replaces the catalog power
    law of the sources it names: the flux standards' CASA spectra.
    """
    ms = Path(ms)
    obs, sources = _as_sources(ms, catalog, beam, spectra)
    written = _write_model(ms, sources, obs.phase_center)
    mid = len(sources.freqs_hz) // 2
    return {
        "kind": kind,
        "ms": str(ms),
        "n_sources": len(sources.names),
        "sources": [
            {
                "name": name,
                "ra_deg": float(sources.coords[i].ra.deg),
                "dec_deg": float(sources.coords[i].dec.deg),
                "flux_jy_ref": float(catalog.flux_jy[i]),
                "ref_freq_hz": float(catalog.ref_freq.to_value(u.Hz)),
                "spectral_index": float(catalog.spectral_index[i]),
                "flux_model": (f"{FLUX_STANDARD} (CASA FluxStandard)" if spectra and name in spectra
                               else "catalog power law"),
                "intrinsic_flux_jy_mid_band": float(sources.intrinsic_flux[i, mid]),
                "beam_mid_band": float(sources.beam[i, mid]),
                "apparent_flux_jy_mid_band": float(sources.apparent_flux[i, mid]),
            }
            for i, name in enumerate(sources.names)
        ],
        "total_apparent_flux_jy_mid_band": float(sources.apparent_flux[:, mid].sum()),
        "beam": (
            f"drift-averaged Airy (D={C.DISH_DIAMETER}), {C.INTEGRATIONS_PER_FILE} time samples, "
            f"{BEAM_FREQ_SAMPLES} frequencies" if beam else "none"
        ),
        "phase_centre_deg": [float(obs.phase_center.ra.deg), float(obs.phase_center.dec.deg)],
        "stokes_convention": "XX = YY = S (I = (XX+YY)/2)",
        "method": "casacore DFT into MODEL_DATA",
        **written,
        **(dict(extra) if extra else {}),
    }


def calibrator_model(ms: str | Path, calibrator: str | Calibrator,
                     calibrators: Mapping[str, Calibrator] | None = None, *, beam: bool = True,
                     field_sources: SkyCatalog | None = None) -> dict:
    """MODEL_DATA from one calibrator, beam-attenuated: the flux standards'
    Perley-Butler 2017 spectrum on the observation date, else its power law.
    ``field_sources`` (already selected) are added to the model."""
    cal = resolve_calibrator(calibrator, calibrators)
    catalog = calibrator_as_catalog(cal)
    kind = "calibrator"
    if field_sources is not None and len(field_sources):
        catalog, kind = catalog.concatenate(field_sources), "calibrator+catalog"
    spectra, extra = None, {"calibrator": cal.name}
    if cal.standard is not None:
        obs = TileInfo.read(ms)
        spectra = {cal.name: standard_spectrum(cal.standard, obs.freqs_hz, obs.mid_time)}
        extra.update(flux_standard=FLUX_STANDARD, flux_epoch=obs.mid_time.utc.isot[:10])
    return predict_model(ms, catalog, beam=beam, kind=kind, extra=extra, spectra=spectra)


def resolve_calibrator(calibrator: str | Calibrator,
                       calibrators: Mapping[str, Calibrator] | None = None) -> Calibrator:
    """A Calibrator from a name (looked up in ``calibrators`` or the default list)."""
    if isinstance(calibrator, Calibrator):
        return calibrator
    return get_calibrator(calibrator, DEFAULT_CALIBRATORS if calibrators is None else dict(calibrators))


def calibrator_as_catalog(cal: Calibrator) -> SkyCatalog:
    """One calibrator as a one-row catalog; a missing or zero flux is an error."""
    if cal.flux is None or not np.isfinite(cal.flux.to_value(u.Jy)) or cal.flux.to_value(u.Jy) <= 0:
        raise ModelError(f"calibrator {cal.name} has no usable flux ({cal.flux}): supply a measured one")
    return SkyCatalog(
        np.array([cal.name], object), np.array([cal.coord.ra.deg]), np.array([cal.coord.dec.deg]),
        np.array([cal.flux.to_value(u.Jy)]), np.array([cal.spectral_index]), ref_freq=cal.ref_freq,
    )


def catalog_model(ms: str | Path, catalog: SkyCatalog, *, flux_limit: u.Quantity,
                  beam_floor: float = DEFAULT_BEAM_FLOOR, catalog_name: str | None = None) -> dict:
    """MODEL_DATA from catalog sources above ``flux_limit`` (apparent) inside the beam."""
    selected, _ = sources_in_beam(ms, catalog, flux_limit=flux_limit, beam_floor=beam_floor)
    if len(selected) == 0:
        raise ModelError(
            f"no catalog source in the beam of {ms} reaches {flux_limit.to(u.mJy):.1f} apparent: "
            "cannot build a sky model for a gain solve"
        )
    return predict_model(ms, selected, kind="catalog", extra={
        "catalog": catalog_name, "flux_limit_jy": float(flux_limit.to_value(u.Jy)), "beam_floor": beam_floor,
    })
