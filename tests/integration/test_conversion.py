"""Tiles to Measurement Sets, checked on simulated tiles against independent code.

pyuvdata (read, phase, write_ms) and CASA measures are the references; the
converter's own phasing code is never used to check itself.
"""

from __future__ import annotations

import multiprocessing as mp
import os
import shutil
import subprocess
import warnings
from pathlib import Path

import astropy.units as u
import h5py
import numpy as np
import pytest
from astropy.time import Time
from casacore import tables as ct

from dsa110_resources import constants
from dsa110_resources.conversion import (
    ConversionOptions,
    TileQuarantined,
    ValidationLimits,
    convert_ready_tiles,
    convert_tile,
    convert_to_path,
    find_tiles,
)
from dsa110_resources.db import MeasurementSet, ProductsDB, SubbandFile, Tile
from dsa110_resources.simulation import SimulationConfig, write_tile
from dsa110_resources.stores import StorageTiers
from uvh5_reference import pointing_dec_rad, read_with_pyuvdata

START = Time("2025-10-13T13:25:00", scale="utc")
SPEED_OF_LIGHT = 299792458.0


def _simulate(directory: Path, config: SimulationConfig, start: Time = START, sky=None) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        write_tile(directory, start, config, sky=sky)
    return directory


@pytest.fixture(scope="module")
def semi_tile(tmp_path_factory) -> Path:
    """13 of 16 subbands (13, 14, 15 missing), 10 antennas, noise on."""
    config = SimulationConfig.tiny(n_active_antennas=10, subbands=tuple(range(13)), seed=3)
    return _simulate(tmp_path_factory.mktemp("semi"), config)


@pytest.fixture(scope="module")
def semi_ms(semi_tile, tmp_path_factory):
    group = find_tiles(semi_tile)[0]
    out = tmp_path_factory.mktemp("semi_ms") / "tile.ms"
    result = convert_to_path(group, out, fast_root=tmp_path_factory.mktemp("fast"))
    return group, result


def test_spectral_window_ascending_positive(semi_ms):
    _, result = semi_ms
    with ct.table(f"{result.ms_path}/SPECTRAL_WINDOW", ack=False) as spw:
        freqs = spw.getcell("CHAN_FREQ", 0)
        assert spw.nrows() == 1 and freqs.size == 768
        assert np.all(np.diff(freqs) > 0)
        assert freqs[0] == pytest.approx(1311.37e6, abs=0.01e6)
        assert freqs[-1] == pytest.approx(1498.63e6, abs=0.01e6)
        for col in ("CHAN_WIDTH", "EFFECTIVE_BW", "RESOLUTION"):
            assert np.all(spw.getcell(col, 0) > 0)
        assert spw.getcell("TOTAL_BANDWIDTH", 0) == pytest.approx(187.5e6)


def test_missing_subbands_flagged_and_zero(semi_ms):
    _, result = semi_ms
    assert result.missing_subbands == [13, 14, 15]
    with ct.table(str(result.ms_path), ack=False) as ms:
        flags, data = ms.getcol("FLAG"), ms.getcol("DATA")
    # sb13..15 are the lowest 3 x 48 channels of the ascending band.
    assert flags[:, :144].all() and not np.any(data[:, :144])
    assert not flags[:, 144:].all()
    assert np.count_nonzero(data[:, 144:]) > 0.99 * data[:, 144:].size


def test_ms_metadata(semi_ms):
    _, result = semi_ms
    ms = str(result.ms_path)
    with ct.table(f"{ms}/ANTENNA", ack=False) as ant:
        assert ant.nrows() == constants.N_STATIONS
        assert set(ant.getcol("MOUNT")) == {"ALT-AZ"}
        assert np.allclose(ant.getcol("DISH_DIAMETER"), 4.65)
        radius = np.linalg.norm(ant.getcol("POSITION"), axis=1)
        assert np.all(np.abs(radius - 6.37e6) < 0.03e6)  # ITRF, on the Earth's surface
    with ct.table(f"{ms}/OBSERVATION", ack=False) as obs:
        assert obs.getcell("TELESCOPE_NAME", 0) == "DSA-110"
    with ct.table(f"{ms}/FIELD", ack=False) as field:
        assert field.nrows() == 1
    with ct.table(ms, ack=False) as main:
        assert {"MODEL_DATA", "CORRECTED_DATA", "WEIGHT", "SIGMA"} <= set(main.colnames())
        times = np.unique(main.getcol("TIME"))
        assert times.size == constants.INTEGRATIONS_PER_FILE
        # MJD seconds at integration centres: the first centre is half an integration in.
        assert times[0] / 86400.0 == pytest.approx(START.mjd + 6.442451 / 86400, abs=2e-6)
        weight, sigma = main.getcol("WEIGHT"), main.getcol("SIGMA")
        assert np.all(weight > 0) and np.allclose(sigma, 1 / np.sqrt(weight))
        assert np.array_equal(main.getcol("CORRECTED_DATA", 0, 50), main.getcol("DATA", 0, 50))
        assert not np.any(main.getcol("MODEL_DATA", 0, 50))


def _pyuvdata_reference(group, ra, dec, out: Path):
    parts = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for path in group.paths:
            parts.append(read_with_pyuvdata(path))
        uv = parts[0]
        if len(parts) > 1:
            uv.fast_concat(parts[1:], axis="freq", inplace=True, run_check=False)
        raw = uv.copy()
        uv.phase(ra=ra, dec=dec, epoch="J2000", cat_name="mid")
        uv.write_ms(str(out), run_check=False)
    return raw, uv


def test_uvw_and_data_match_pyuvdata(semi_ms, tmp_path):
    """Same files through pyuvdata -> phase to the same centre -> write_ms."""
    group, result = semi_ms
    ra, dec = result.phase_centre.ra.rad, result.phase_centre.dec.rad
    raw, phased = _pyuvdata_reference(group, ra, dec, tmp_path / "pyuvdata.ms")
    with ct.table(str(result.ms_path), ack=False) as mine, \
            ct.table(str(tmp_path / "pyuvdata.ms"), ack=False) as ref:
        assert np.array_equal(mine.getcol("ANTENNA1"), ref.getcol("ANTENNA1"))
        assert np.array_equal(mine.getcol("ANTENNA2"), ref.getcol("ANTENNA2"))
        assert np.abs(mine.getcol("UVW") - ref.getcol("UVW")).max() < 1e-3  # 1 mm
        ours, theirs = mine.getcol("DATA"), ref.getcol("DATA")
    with ct.table(f"{result.ms_path}/SPECTRAL_WINDOW", ack=False) as spw:
        our_freqs = spw.getcell("CHAN_FREQ", 0)
    with ct.table(f"{tmp_path / 'pyuvdata.ms'}/SPECTRAL_WINDOW", ack=False) as spw:
        their_freqs = np.concatenate([spw.getcell("CHAN_FREQ", i) for i in range(spw.nrows())])
    theirs = theirs.reshape(theirs.shape[0], -1, theirs.shape[-1]) if theirs.ndim == 3 else theirs
    columns = np.searchsorted(our_freqs, their_freqs)
    assert np.allclose(our_freqs[columns], their_freqs)
    scale = np.abs(theirs).max()
    assert np.abs(ours[:, columns] - theirs).max() < 1e-5 * scale

    # The known rotation, from pyuvdata's own uvw, on the raw file samples.
    w_new = -ref_uvw_w(tmp_path / "pyuvdata.ms")
    dw = w_new - raw.uvw_array[:, 2]
    expect = np.conj(raw.data_array * np.exp(-2j * np.pi * dw[:, None, None]
                                             * raw.freq_array[None, :, None] / SPEED_OF_LIGHT))
    columns = np.searchsorted(our_freqs, raw.freq_array)
    assert np.abs(ours[:, columns] - expect).max() < 1e-5 * scale


def ref_uvw_w(ms: Path) -> np.ndarray:
    with ct.table(str(ms), ack=False) as t:
        return t.getcol("UVW")[:, 2]


@pytest.mark.casa
def test_field_is_mid_time_meridian_by_casa_measures(semi_ms):
    import casatools

    group, result = semi_ms
    with ct.table(f"{result.ms_path}/FIELD", ack=False) as field:
        ra, dec = field.getcell("PHASE_DIR", 0)[0]
    with ct.table(str(result.ms_path), ack=False) as ms:
        times = np.unique(ms.getcol("TIME"))
    mid = 0.5 * (times[0] + times[-1])
    pointing = pointing_dec_rad(group.paths[0])
    me, qa = casatools.measures(), casatools.quanta()
    site = constants.site_location()
    me.doframe(me.epoch("UTC", qa.quantity(mid, "s")))
    me.doframe(me.position("ITRF", *[qa.quantity(v, "m") for v in site.itrs.cartesian.xyz.to_value(u.m)]))
    j2000 = me.measure(me.direction("HADEC", qa.quantity(0, "rad"), qa.quantity(pointing, "rad")), "J2000")
    ra_ref, dec_ref = j2000["m0"]["value"], j2000["m1"]["value"]
    sep = np.arccos(np.clip(np.sin(dec) * np.sin(dec_ref)
                            + np.cos(dec) * np.cos(dec_ref) * np.cos(ra - ra_ref), -1, 1))
    assert np.rad2deg(sep) * 3600 < 1.0
    md = casatools.msmetadata()
    md.open(str(result.ms_path))
    try:
        assert md.nantennas() == constants.N_STATIONS
        assert md.nchan(0) == constants.N_CHANNELS
        assert md.nfields() == 1
    finally:
        md.close()
        md.done()


def test_rerun_replaces_and_killed_run_leaves_nothing(semi_tile, tmp_path):
    group = find_tiles(semi_tile)[0]
    fast, out = tmp_path / "fast", tmp_path / "out" / "tile.ms"
    ctx = mp.get_context("spawn")
    child = ctx.Process(target=_convert_then_die, args=(str(semi_tile), str(out), str(fast)))
    child.start()
    child.join(120)
    assert child.exitcode == -9
    assert not out.exists()
    # The tier policy stages in ``fast`` or (when the disk is short of the
    # margin) next to the output: the litter is in one of them...
    assert _litter(fast, out.parent)
    convert_to_path(group, out, fast_root=fast)
    assert not _litter(fast, out.parent)  # ...and swept
    first = (out / "table.dat").stat().st_ino
    convert_to_path(group, out, fast_root=fast)
    assert (out / "table.dat").stat().st_ino != first
    assert sorted(p.name for p in out.parent.iterdir()) == ["tile.ms"]


def _litter(*directories: Path) -> list[Path]:
    return [p for d in directories if d.is_dir() for p in d.iterdir()
            if p.name.startswith((".staging-", ".partial-", ".replaced-"))]


@pytest.mark.skipif(not Path("/dev/shm").is_dir(), reason="needs a tmpfs at /dev/shm")
def test_tmpfs_elsewhere_stages_on_product_filesystem(semi_tile, tmp_path):
    """With tmpfs on another filesystem, the MS is staged next to its final path
    (publish = rename, no copy); a killed run's litter there is swept too."""
    import tempfile

    from dsa110_resources.conversion import ConversionOptions
    from dsa110_resources.conversion.convert import choose_staging

    group = find_tiles(semi_tile)[0]
    out = tmp_path / "out" / "tile.ms"
    with tempfile.TemporaryDirectory(dir="/dev/shm") as shm:
        fast = Path(shm) / "fast"
        if os.stat(shm).st_dev == os.stat(tmp_path).st_dev:
            pytest.skip("/dev/shm is on the test's filesystem")
        tiers = StorageTiers(data_root=out.parent, fast_root=fast, stage_root=out.parent)
        chosen = choose_staging(tiers, out, 10**6)
        assert chosen.fast_root is None and chosen.stage_root == out.parent.resolve()
        assert choose_staging(tiers, out, 10**6, ConversionOptions(staging="fast")) == tiers
        ctx = mp.get_context("spawn")
        child = ctx.Process(target=_convert_then_die, args=(str(semi_tile), str(out), str(fast)))
        child.start()
        child.join(120)
        assert child.exitcode == -9 and not out.exists()
        assert _litter(out.parent) and not _litter(fast)
        result = convert_to_path(group, out, fast_root=fast)
        assert result.staging_root == out.parent.resolve()
        assert not _litter(fast, out.parent)
        assert sorted(p.name for p in out.parent.iterdir()) == ["tile.ms"]
        # MODEL_DATA costs no disk blocks until written; CORRECTED_DATA = DATA.
        assert result.disk_bytes < result.size_bytes
        with ct.table(str(out), ack=False) as ms:
            assert not np.any(ms.getcol("MODEL_DATA", 0, 100))
            assert np.array_equal(ms.getcol("CORRECTED_DATA"), ms.getcol("DATA"))


def test_power_durability_and_absent_mode(semi_tile, tmp_path):
    from dsa110_resources.conversion import ConversionOptions

    group = find_tiles(semi_tile)[0]
    result = convert_to_path(group, tmp_path / "p.ms", fast_root=tmp_path / "fast",
                             options=ConversionOptions(durability="power", model_data="absent",
                                                       weight_spectrum=True))
    assert "sync" in result.timings
    with ct.table(str(result.ms_path), ack=False) as ms:
        names = set(ms.colnames())
        assert "MODEL_DATA" not in names and "CORRECTED_DATA" not in names
        spectrum, flags = ms.getcol("WEIGHT_SPECTRUM"), ms.getcol("FLAG")
        weight = ms.getcol("WEIGHT")
    assert not spectrum[:, :144].any()  # the three missing subbands
    present = spectrum[:, 144:]
    assert np.allclose(weight, present.mean(axis=1), rtol=1e-5)
    assert flags[:, :144].all()


def _convert_then_die(directory: str, out: str, fast: str) -> None:
    import signal

    from dsa110_resources.conversion import ms_writer

    def killed(*_args, **_kwargs):
        os.kill(os.getpid(), signal.SIGKILL)

    ms_writer._write_subtables = killed  # die half-way through writing the MS
    convert_to_path(find_tiles(directory)[0], Path(out), fast_root=Path(fast))


def _break(kind: str, directory: Path) -> Path:
    victim = sorted(directory.glob("*_sb05.hdf5"))[0]
    if kind == "truncated":
        with open(victim, "r+b") as f:
            f.truncate(victim.stat().st_size // 2)
    elif kind == "corrupt":
        victim.write_bytes(b"this is not HDF5" * 1000)
    elif kind == "inconsistent":
        with h5py.File(victim, "r+") as h:
            h["Header/extra_keywords/phase_center_dec"][()] = np.deg2rad(16.27)
    return victim


@pytest.mark.parametrize("kind, message", [
    ("truncated", "not a readable HDF5 file"),
    ("corrupt", "not a readable HDF5 file"),
    ("inconsistent", "pointing declination"),
])
def test_bad_file_quarantines_tile_and_nothing_else_stops(semi_tile, tmp_path, kind, message):
    root = tmp_path / "data"
    incoming = root / "incoming"
    bad_dir, good_dir = incoming / "2025-10-13", incoming / "2025-10-14"
    shutil.copytree(semi_tile, bad_dir)
    victim = _break(kind, bad_dir)
    # A second, healthy tile one day later (same files, renamed).
    good_dir.mkdir()
    for f in semi_tile.glob("*.hdf5"):
        shutil.copy(f, good_dir / f.name.replace("2025-10-13", "2025-10-14"))
    tiers = StorageTiers(data_root=root, fast_root=tmp_path / "fast")
    db = ProductsDB.sqlite(root / "state" / "products.sqlite")
    # The healthy tile is a renamed copy: its names are a day off its data.
    relaxed = ConversionOptions(limits=ValidationLimits(name_time_tolerance=2 * u.day))
    outcomes = convert_ready_tiles(find_tiles(incoming), tiers, db=db, wait=0 * u.s, options=relaxed)
    bad_id, good_id = sorted(outcomes)
    error = outcomes[bad_id]
    assert isinstance(error, TileQuarantined)
    assert victim.name in str(error) and message in str(error)
    qdir = root / "quarantine" / "2025-10-13" / bad_id
    assert (qdir / "reason.txt").read_text().count(victim.name) >= 1
    assert (qdir / victim.name).exists() and not victim.exists()  # moved aside
    assert not (root / "ms" / "science" / "2025-10-13").exists()
    assert (root / "ms" / "science" / "2025-10-14" / f"{good_id}.ms").is_dir()
    with db.session() as s:
        assert s.get(Tile, bad_id).status == "quarantined"
        assert victim.name in s.get(Tile, bad_id).reason
        assert s.get(Tile, good_id).status == "converted"
        assert s.query(MeasurementSet).filter_by(tile_id=good_id).one().n_channels == 768
        assert s.query(SubbandFile).filter_by(status="invalid").count() <= 1


def test_late_and_duplicate_files_are_recorded_not_merged(semi_tile, tmp_path):
    from dsa110_resources.conversion import registry

    root = tmp_path / "data"
    incoming = root / "incoming"
    shutil.copytree(semi_tile, incoming)
    tiers = StorageTiers(data_root=root, fast_root=tmp_path / "fast")
    db = ProductsDB.sqlite(root / "state" / "products.sqlite")
    (group,) = find_tiles(incoming)
    registry.sync_groups(db, [group], wait=0 * u.s)
    convert_tile(group, tiers, db=db)
    # A straggler for sb13 and a second copy of sb02 arrive after conversion.
    src = sorted(incoming.glob("*_sb12.hdf5"))[0]
    shutil.copy(src, incoming / src.name.replace("_sb12", "_sb13"))
    dup = sorted(incoming.glob("*_sb02.hdf5"))[0]
    shutil.copy(dup, incoming / f"{group.tile_id}_sb02.hdf5" if dup.name[:19] != group.tile_id
                else incoming / dup.name.replace(dup.name[17:19], "59"))
    report = registry.sync_groups(db, find_tiles(incoming, known_tiles=registry.known_tile_ids(db)),
                                  wait=0 * u.s)
    assert len(report.late) + len(report.duplicates) == 2
    with db.session() as s:
        statuses = sorted(f.status for f in s.query(SubbandFile).filter(SubbandFile.status != "accepted"))
        assert statuses == ["late", "late"]
        assert s.get(Tile, group.tile_id).status == "converted"


@pytest.mark.slow
def test_point_source_lands_at_its_true_position(tmp_path):
    """An off-centre point source imaged by WSClean sits where it was simulated."""
    from astropy.io import fits
    from astropy.wcs import WCS

    from dsa110_resources.catalogs import SkyCatalog
    from dsa110_resources.simulation import sky as simsky
    from dsa110_resources.conversion.phasing import meridian_centre

    config = SimulationConfig.tiny(n_active_antennas=48, subbands=(4,), noise=False,
                                   primary_beam=False, seed=5)
    mid = START + 0.5 * constants.TILE_DURATION
    centre = meridian_centre(mid, config.declination)
    source = centre.directional_offset_by(40 * u.deg, 0.25 * u.deg)
    catalog = SkyCatalog(name=["offset"], ra_deg=[source.ra.deg], dec_deg=[source.dec.deg],
                         flux_jy=[5.0], spectral_index=[0.0])
    tile = _simulate(tmp_path / "in", config, sky=simsky.SkyModel(catalog))
    # Default options: CORRECTED_DATA = DATA, which WSClean images by default.
    result = convert_to_path(find_tiles(tile)[0], tmp_path / "t.ms", fast_root=tmp_path / "fast")
    name = tmp_path / "img"
    subprocess.run(["wsclean", "-quiet", "-size", "1024", "1024", "-scale", "2asec", "-niter", "200",
                    "-weight", "uniform", "-name", str(name), str(result.ms_path)],
                   check=True, cwd=tmp_path, capture_output=True, timeout=300)
    with fits.open(f"{name}-image.fits") as hdul:
        header, image = hdul[0].header, hdul[0].data[0, 0]
    wcs = WCS(header).celestial
    y, x = np.unravel_index(np.argmax(image), image.shape)
    # Sub-pixel peak by a parabola through the neighbours on each axis.
    dx = 0.5 * (image[y, x - 1] - image[y, x + 1]) / (image[y, x - 1] - 2 * image[y, x] + image[y, x + 1])
    dy = 0.5 * (image[y - 1, x] - image[y + 1, x]) / (image[y - 1, x] - 2 * image[y, x] + image[y + 1, x])
    found = wcs.pixel_to_world(x + dx, y + dy)
    beam = np.sqrt(header["BMAJ"] * header["BMIN"]) * 3600
    offset = found.separation(source).arcsec
    assert offset < 0.1 * beam, (offset, beam)


def test_without_template_or_direct_io_same_ms(semi_ms, tmp_path):
    """No tmpfs (so no cached skeleton) and buffered writes give the same MS."""
    from dsa110_resources.conversion import ConversionOptions

    group, result = semi_ms
    other = convert_to_path(group, tmp_path / "plain.ms", fast_root=None,
                            options=ConversionOptions(direct_io=False))
    assert_same_ms(result.ms_path, other.ms_path)
    assert other.flagged_fraction == result.flagged_fraction


def assert_same_ms(one: Path, other: Path) -> None:
    """Value for value: every main-table column, the field and the band."""
    with ct.table(str(one), ack=False) as a, ct.table(str(other), ack=False) as b:
        assert a.nrows() == b.nrows() and set(a.colnames()) == set(b.colnames())
        for column in ("DATA", "CORRECTED_DATA", "MODEL_DATA", "FLAG", "WEIGHT", "SIGMA", "UVW",
                       "TIME", "ANTENNA1", "ANTENNA2", "FLAG_ROW"):
            assert np.array_equal(a.getcol(column), b.getcol(column)), column
    for sub, columns in (("FIELD", ("PHASE_DIR",)), ("SPECTRAL_WINDOW", ("CHAN_FREQ", "CHAN_WIDTH")),
                         ("ANTENNA", ("POSITION", "NAME"))):
        with ct.table(f"{one}/{sub}", ack=False) as a, ct.table(f"{other}/{sub}", ack=False) as b:
            for column in columns:
                assert np.array_equal(a.getcol(column), b.getcol(column)), f"{sub}/{column}"


def test_every_layout_and_header_style_gives_the_same_ms(tmp_path):
    """The correlator's chunked files (each header variant seen in real files),
    pyuvdata's contiguous files and a compressed copy (HDF5's own reads) of the
    same simulated tile convert to the same MS, value for value."""
    variants = {"correlator-hadec": {}, "contiguous-pyuvdata3": dict(file_layout="contiguous",
                                                                     header_style="pyuvdata3"),
                "correlator-extra-2000": dict(header_style="extra-2000"),
                "correlator-header-2000": dict(header_style="header-2000")}
    results = {}
    for name, options in variants.items():
        config = SimulationConfig.tiny(n_active_antennas=8, subbands=(0, 7, 15), seed=11, **options)
        group = find_tiles(_simulate(tmp_path / name, config))[0]
        results[name] = convert_to_path(group, tmp_path / "ms" / f"{name}.ms", fast_root=tmp_path / "fast")
    compressed = tmp_path / "compressed"
    compressed.mkdir()
    for path in (tmp_path / "correlator-hadec").glob("*.hdf5"):
        with h5py.File(path) as src, h5py.File(compressed / path.name, "w") as dst:
            src.copy("Header", dst)
            for name in ("visdata", "flags", "nsamples"):
                dst.create_dataset(f"Data/{name}", data=src[f"Data/{name}"][()], compression="gzip")
    results["compressed"] = convert_to_path(find_tiles(compressed)[0], tmp_path / "ms" / "compressed.ms",
                                            fast_root=tmp_path / "fast")
    expected_paths = {"correlator-hadec": "chunks", "contiguous-pyuvdata3": "contiguous",
                      "correlator-extra-2000": "chunks", "correlator-header-2000": "chunks",
                      "compressed": "hdf5"}
    reference = results["correlator-hadec"]
    for name, result in results.items():
        assert result.read_paths == {expected_paths[name]: 9}, name
        assert_same_ms(reference.ms_path, result.ms_path)


def test_zeros_flagged_at_conversion_spare_the_flagging_scan(tmp_path):
    """Correlator-dropped (exactly zero) visibilities are flagged as the MS is
    written, the MS says so, and flagging before calibration trusts it; an MS
    without the keyword still gets its own scan."""
    from dsa110_resources.calibration import flag_ms
    from dsa110_resources.calibration.flagging import FlagOptions
    from dsa110_resources.conversion.ms_writer import ZEROS_FLAGGED

    config = SimulationConfig.tiny(n_active_antennas=6, n_zeroed_channels=6, seed=5, subbands=(0, 15))
    truth = write_tile(tmp_path / "raw", START, config)
    result = convert_to_path(find_tiles(tmp_path / "raw")[0], tmp_path / "tile.ms", fast_root=tmp_path / "fast")
    present = np.zeros(constants.N_CHANNELS, bool)
    for sb in config.subbands:
        present[constants.N_CHANNELS - (sb + 1) * 48:constants.N_CHANNELS - sb * 48] = True
    zeroed = [c for c in truth.meta["zeroed_channels"]["band_index"] if present[c]]
    assert zeroed
    with ct.table(str(result.ms_path), ack=False) as ms:
        assert ms.getkeyword(ZEROS_FLAGGED)
        flags = ms.getcol("FLAG")
    assert flags[:, zeroed].all()
    assert not flags[:, [c for c in np.flatnonzero(present) if c not in zeroed]].any()

    summary = flag_ms(result.ms_path, workdir=tmp_path / "flag", options=FlagOptions(rfi="none"))
    assert summary.zeros_flagged == 0  # nothing left to find
    assert np.all(summary.per_channel[zeroed] == 1.0)

    # Without the keyword (an MS from elsewhere) the scan runs and finds them.
    with ct.table(str(result.ms_path), readonly=False, ack=False) as ms:
        ms.removekeyword(ZEROS_FLAGGED)
        ms.putcol("FLAG", np.zeros_like(flags))
    summary = flag_ms(result.ms_path, workdir=tmp_path / "flag2", options=FlagOptions(rfi="none"))
    assert summary.zeros_flagged > 0 and np.all(summary.per_channel[zeroed] == 1.0)
