"""The simulator against independent calculations (pyuvdata, astropy, h5py)."""

import re

import astropy.units as u
import h5py
import numpy as np
import pytest
from astropy.coordinates import AltAz, SkyCoord
from astropy.time import Time
from scipy.special import j1

from dsa110_resources import constants as C
from dsa110_resources.catalogs import SkyCatalog
from dsa110_resources.simulation import (
    ESELightCurve,
    SimulationConfig,
    calibrator_transit_start,
    read_truth,
    synthetic_nvss_catalog,
    write_tile,
    write_tiles,
)
from dsa110_resources.simulation.feed import run_feed
from uvh5_reference import read_with_pyuvdata

START = Time("2025-10-13T13:25:00", scale="utc")


_read = read_with_pyuvdata


@pytest.fixture(scope="module")
def one_source_tile(tmp_path_factory):
    """One 2 Jy source ~1 deg from the pointing, no noise, no corruptions."""
    out = tmp_path_factory.mktemp("one")
    cfg = SimulationConfig.tiny(noise=False, calibrators=(), seed=3)
    from dsa110_resources.conversion.phasing import meridian_centre

    centre = meridian_centre(START + C.TILE_DURATION / 2, cfg.declination)
    src = SkyCoord(centre.ra + 0.8 * u.deg, centre.dec - 0.5 * u.deg)
    sky = SkyCatalog(["test"], [src.ra.deg], [src.dec.deg], [2.0], [-0.7])
    truth = write_tile(out, START, cfg, sky)
    return truth, src, cfg


def test_file_format(one_source_tile):
    truth, _, cfg = one_source_tile
    assert sorted(truth.files) == [0, 15]
    pattern = re.compile(C.SUBBAND_FILE_PATTERN)
    for sb, path in truth.files.items():
        m = pattern.fullmatch(path.name)
        assert m and int(m["subband"]) == sb
        assert abs((Time(m["timestamp"]) - START).to_value(u.s)) <= 3.5  # jittered
        with h5py.File(path) as f:
            h = f["Header"]
            assert h["uvw_array"].dtype == np.float32
            assert f["Data/visdata"].dtype == np.complex64
            assert f["Data/nsamples"].dtype == np.float32 and f["Data/flags"].dtype == bool
            # The correlator's layout: extendable, auto-chunked, 4-D (legacy spw axis).
            for name in ("visdata", "flags", "nsamples"):
                dset = f["Data"][name]
                assert dset.shape == (24 * 21, 1, 48, 2) and dset.maxshape == (None, 1, 48, 2)
                assert dset.chunks is not None and dset.chunks[0] < dset.shape[0]
            assert f["Data/visdata"].chunks == (128, 1, 12, 1)
            for name in ("time_array", "uvw_array", "ant_1_array"):
                assert h[name].maxshape[0] is None
            assert h["phase_type"][()] == b"drift" and "phase_center_catalog" not in h
            ek = h["extra_keywords"]
            assert ek["phase_center_epoch"][()] == b"HADEC"
            assert ek["ha_phase_center"][()] == 0.0
            assert ek["phase_center_dec"][()] == pytest.approx(cfg.declination.to_value(u.rad))
            assert "fs_table" in ek and "applied_delays_ns" in ek
        uv = _read(path)
        assert uv.Nants_telescope == 117 and uv.Nants_data == 6
        assert uv.Nbls == 21 and uv.Ntimes == 24 and uv.Nfreqs == 48
        assert list(uv.polarization_array) == [-5, -6]
        assert np.all(uv.channel_width < 0) and np.all(np.diff(uv.freq_array) < 0)
        assert np.allclose(np.unique(uv.integration_time), C.INTEGRATION_TIME.to_value(u.s))
        assert np.any(uv.ant_1_array == uv.ant_2_array)  # autos present
        assert uv.phase_center_catalog[0]["cat_type"] == "driftscan"
    top = _read(truth.files[0]).freq_array.max() + C.CHANNEL_WIDTH.to_value(u.Hz) / 2
    bottom = _read(truth.files[15]).freq_array.min() - C.CHANNEL_WIDTH.to_value(u.Hz) / 2
    assert top == pytest.approx(C.BAND_HIGH.to_value(u.Hz)) and bottom == pytest.approx(C.BAND_LOW.to_value(u.Hz))


def test_uvw_matches_pyuvdata(one_source_tile):
    uv = _read(one_source_tile[0].files[0])
    stored = uv.uvw_array.copy()
    uv.set_uvws_from_antenna_positions()
    assert np.allclose(stored, uv.uvw_array, atol=1e-3)


def test_visibilities_match_independent_phase(one_source_tile):
    """V = S(nu) A(theta, nu) exp(+2 pi i b.(s - s0)/lambda), b = ant2 - ant1, with s, s0
    from astropy AltAz and b from pyuvdata's ENU antenna positions."""
    truth, src, cfg = one_source_tile
    uv = _read(truth.files[0])
    loc = uv.telescope.location
    antpos, antnum = uv.telescope.get_enu_antpos(), uv.telescope.antenna_numbers
    pos = {n: antpos[i] for i, n in enumerate(antnum)}
    times = Time(np.unique(uv.time_array), format="jd")
    aa = src.transform_to(AltAz(obstime=times, location=loc))
    s = np.stack([np.sin(aa.az.rad) * np.cos(aa.alt.rad), np.cos(aa.az.rad) * np.cos(aa.alt.rad), np.sin(aa.alt.rad)], -1)
    pc = uv.phase_center_catalog[0]
    s0 = np.array([np.sin(pc["cat_lon"]) * np.cos(pc["cat_lat"]), np.cos(pc["cat_lon"]) * np.cos(pc["cat_lat"]), np.sin(pc["cat_lat"])])
    freqs = uv.freq_array
    lam = 299792458.0 / freqs
    theta = np.arccos(np.clip(s @ s0, -1, 1))
    x = np.pi * 4.65 * np.sin(theta)[:, None] / lam[None]
    beam = (2 * j1(x) / x) ** 2
    flux = 2.0 * (freqs / 1.4e9) ** -0.7
    tidx = np.searchsorted(np.unique(uv.time_array), uv.time_array)
    b = np.array([pos[a2] - pos[a1] for a1, a2 in zip(uv.ant_1_array, uv.ant_2_array)])
    delay = np.einsum("ij,ij->i", b, s[tidx] - s0)
    expected = flux[None] * beam[tidx] * np.exp(2j * np.pi * delay[:, None] / lam[None])
    cross = uv.ant_1_array != uv.ant_2_array
    got = uv.data_array[cross, :, 0]
    assert np.allclose(got, expected[cross], rtol=0, atol=2e-6 * np.abs(expected).max())
    assert np.array_equal(uv.data_array[..., 0], uv.data_array[..., 1])  # XX = YY = S


def test_pyuvdata_phase_to_source_gives_real_visibilities(one_source_tile):
    """pyuvdata's own phasing to the source must remove all phase (sign convention)."""
    truth, src, _ = one_source_tile
    uv = _read(truth.files[15])
    uv.uvw_array = uv.uvw_array.astype(float)
    uv.phase(ra=src.ra.rad, dec=src.dec.rad, cat_name="src")
    cross = uv.ant_1_array != uv.ant_2_array
    d = uv.data_array[cross]
    assert np.abs(np.angle(d)).max() < 1e-3


@pytest.fixture(scope="module")
def noise_tile(tmp_path_factory):
    out = tmp_path_factory.mktemp("noise")
    cfg = SimulationConfig.tiny(n_active_antennas=10, calibrators=(), seed=5)
    return write_tile(out, START, cfg, SkyCatalog.empty())


def test_noise_matches_sefd(noise_tile):
    uv = _read(noise_tile.files[0])
    sigma = C.SEFD.to_value(u.Jy) / np.sqrt(2 * C.CHANNEL_WIDTH.to_value(u.Hz) * C.INTEGRATION_TIME.to_value(u.s))
    cross = uv.ant_1_array != uv.ant_2_array
    d = uv.data_array[cross]
    for part in (d.real, d.imag):
        assert np.std(part) == pytest.approx(sigma, rel=0.05)
    assert noise_tile.meta["noise"]["sigma_vis_jy"] == pytest.approx(sigma)
    autos = uv.data_array[~cross]
    assert np.mean(autos.real) == pytest.approx(C.SEFD.to_value(u.Jy), rel=0.01)


def test_truth_roundtrip_and_corruptions(tmp_path):
    cfg = SimulationConfig.tiny(gains=True, delays=True, bandpass=True, rfi=True, n_dead_antennas=1,
                                n_zeroed_channels=4, missing_subband=15, subbands=(0, 7, 15), seed=9)
    truth = write_tile(tmp_path, START, cfg)
    back = read_truth(truth.json_path)
    assert back.meta["tile_id"] == truth.tile_id and back.meta["sources"] == truth.meta["sources"]
    for k, v in truth.arrays.items():
        assert np.array_equal(back.arrays[k], v)
    assert sorted(back.files) == [0, 7] and back.meta["missing_subbands"] == [15]
    assert len(back.meta["rfi"]) == len(C.KNOWN_RFI_FREQUENCIES) and len(back.meta["antennas"]["dead"]) == 1
    assert back.arrays["gains"].shape == (6, 24, 2) and back.arrays["bandpass"].shape == (6, 768, 2)
    # zeroed channels are exactly zero where they fall in written subbands
    band = back.arrays["band_freqs_hz"]
    for sb, path in back.files.items():
        uv = _read(path)
        for bi in back.meta["zeroed_channels"]["band_index"]:
            hit = np.flatnonzero(np.isclose(uv.freq_array, band[bi]))
            if len(hit):
                assert np.all(uv.data_array[:, hit] == 0)


def test_gains_applied_as_documented(tmp_path):
    """V_ab = g_a conj(g_b) V_sky with the truth gains (no noise, no sky but autos)."""
    cfg = SimulationConfig.tiny(gains=True, noise=False, calibrators=(), seed=2)
    truth = write_tile(tmp_path, START, cfg, SkyCatalog.empty())
    uv = _read(truth.files[0])
    g = truth.arrays["gains"]
    idx = {n: i for i, n in enumerate(truth.arrays["antenna_numbers"])}
    autos = uv.ant_1_array == uv.ant_2_array
    tidx = np.searchsorted(np.unique(uv.time_array), uv.time_array)
    a = np.array([idx[x] for x in uv.ant_1_array[autos]])
    expected = C.SEFD.to_value(u.Jy) * np.abs(g[a, tidx[autos], 0]) ** 2
    assert np.allclose(uv.data_array[autos, :, 0].real, expected[:, None], rtol=1e-5)


def test_synthetic_counts_and_calibrator_transit():
    centre = SkyCoord(120 * u.deg, 54 * u.deg)
    cat = synthetic_nvss_catalog(centre, 3 * u.deg, seed=1)
    area = 2 * np.pi * (1 - np.cos(np.deg2rad(3))) * np.rad2deg(1) ** 2
    assert len(cat) / area == pytest.approx(50, rel=0.15)
    assert np.mean(cat.spectral_index) == pytest.approx(-0.7, abs=0.05)
    n10 = np.sum(cat.flux_jy > 0.010)
    assert n10 / len(cat) == pytest.approx(4**-0.9, rel=0.2)  # N(>S) ~ S^-0.9
    start, dec = calibrator_transit_start("3C286", START)
    from dsa110_resources.conversion.phasing import meridian_centre

    mc = meridian_centre(start + C.TILE_DURATION / 2, dec)
    assert mc.separation(SkyCoord(202.7845 * u.deg, 30.5092 * u.deg)) < 1 * u.arcsec


def test_ese_light_curve_shape():
    lc = ESELightCurve(t0_mjd=60000.0, duration_days=30.0, depth=0.3, caustic=0.15)
    t = Time(60000.0 + np.array([-100.0, 0.0, 15.0]), format="mjd")
    f = lc.factor(t)
    assert f[0] == pytest.approx(1.0) and f[1] == pytest.approx(0.7, abs=1e-6)
    assert f[2] > 1.0  # caustic shoulder at the dip edge


def test_multi_day_variable_run(tmp_path):
    cfg = SimulationConfig.tiny(noise=False, n_sources=5, n_variable_sources=1, subbands=(0,), seed=4)
    truths = write_tiles(tmp_path, START, 1, cfg, n_days=3)
    assert len(truths) == 3 and (tmp_path / "sky_catalog.csv").exists()
    (name,) = truths[0].meta["light_curves"]
    scales = [next(s["flux_scale"] for s in t.sources if s["name"] == name) for t in truths]
    assert len(set(np.round(scales, 6))) > 1  # flux varies between epochs


def test_feed_delivers_atomically(tmp_path):
    incoming = tmp_path / "incoming"
    cfg = SimulationConfig.tiny(noise=False, subbands=(0, 15))
    run_feed(incoming, START, 2, cfg, speedup=1e6, duplicate_probability=1.0, truth_dir=tmp_path / "truth",
             sleep=lambda s: None, log=lambda m: None)
    files = sorted(p.name for p in incoming.rglob("*.hdf5"))
    assert len(files) == 4 and all(re.fullmatch(C.SUBBAND_FILE_PATTERN, f) for f in files)
    assert not list(incoming.rglob(".*"))  # no temp files or staging left
    assert len(list((tmp_path / "truth").glob("*_truth.json"))) == 2


def test_cli_help_documents_every_option():
    from click.testing import CliRunner

    from dsa110_resources.cli import main

    result = CliRunner().invoke(main, ["simulate", "--help"])
    assert result.exit_code == 0
    for opt in ("--preset", "--n-antennas", "--dec", "--sources", "--catalog", "--calibrator", "--noise",
                "--gains", "--delays", "--bandpass", "--dead-antennas", "--rfi", "--zeroed-channels",
                "--missing-subband", "--seed", "--station-file", "--feed", "--incoming", "--speedup"):
        assert opt in result.output


def test_cli_writes_tiles(tmp_path):
    from click.testing import CliRunner

    from dsa110_resources.cli import main

    result = CliRunner().invoke(main, ["simulate", str(tmp_path), "--ntiles", "2", "--no-noise", "--subbands", "0"])
    assert result.exit_code == 0, result.output
    assert len(list(tmp_path.glob("*_sb00.hdf5"))) == 2
