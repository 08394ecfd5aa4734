"""The subband reader on every storage layout, checked against h5py's own reads."""

from __future__ import annotations

import warnings
from pathlib import Path

import h5py
import numpy as np
import pytest
from astropy.time import Time

from dsa110_resources.conversion import InvalidSubbandFile, find_tiles, read_header
from dsa110_resources.conversion.uvh5_reader import SubbandSlabReader
from dsa110_resources.simulation import SimulationConfig, write_tile
from dsa110_resources.simulation.faults import external_dataset_copy

TYPES = {"visdata": np.complex64, "flags": np.bool_, "nsamples": np.float32}


def _write_file(path: Path, n_rows: int, chunks, legacy: bool, rng, **options) -> dict:
    """A file holding only what the slab reader needs, with random content."""
    arrays = {
        "visdata": (rng.standard_normal((n_rows, 48, 2)) + 1j * rng.standard_normal((n_rows, 48, 2))
                    ).astype(np.complex64),
        "flags": rng.random((n_rows, 48, 2)) < 0.3,
        "nsamples": rng.random((n_rows, 48, 2)).astype(np.float32),
    }
    with h5py.File(path, "w") as f:
        data = f.create_group("Data")
        for name, values in arrays.items():
            stored = values[:, None] if legacy else values
            data.create_dataset(name, data=stored, chunks=chunks(stored.shape) if chunks else None, **options)
    return arrays


class _Header:  # the fields SubbandSlabReader reads
    def __init__(self, path: Path, n_rows: int, legacy: bool):
        self.path, self.n_blts, self.n_freqs, self.n_pols = path, n_rows, 48, 2
        self.data_shape = (n_rows, 1, 48, 2) if legacy else (n_rows, 48, 2)


@pytest.mark.parametrize("chunks, legacy, options, path_kind", [
    (lambda s: (128, 1, 12, 1), True, {}, "chunks"),           # the correlator's chunks
    (lambda s: (100, 1, 7, 2), True, {}, "chunks"),            # chunks that fit nothing
    (lambda s: (37, 48, 1), False, {}, "chunks"),              # 3-D chunked
    (None, False, {}, "contiguous"),                           # pyuvdata's layout
    (lambda s: (128, 1, 12, 1), True, {"compression": "gzip"}, "hdf5"),  # filters: HDF5 decodes
])
def test_slabs_match_h5py(tmp_path, chunks, legacy, options, path_kind):
    rng = np.random.default_rng(1)
    n_rows = 1000  # not a multiple of any chunk or slab
    path = tmp_path / "f.hdf5"
    truth = _write_file(path, n_rows, chunks, legacy, rng, **options)
    reader = SubbandSlabReader(_Header(path, n_rows, legacy))
    try:
        assert set(reader.paths.values()) == {path_kind}
        for slab in (256, 333):
            buffers = [np.full((slab, 48, 2), 7, dtype=TYPES[n]) for n in TYPES]
            for start in range(0, n_rows, slab):
                stop = min(n_rows, start + slab)
                reader.read(start, stop, *buffers)
                for name, buffer in zip(TYPES, buffers):
                    assert np.array_equal(buffer[:stop - start], truth[name][start:stop]), (name, start)
    finally:
        reader.close()


def test_partly_written_chunks_read_as_fill_value(tmp_path):
    """A chunk never written holds HDF5's fill value; the chunk path must not invent bytes."""
    path = tmp_path / "f.hdf5"
    with h5py.File(path, "w") as f:
        for name, dtype in TYPES.items():
            dset = f.create_dataset(f"Data/{name}", (512, 1, 48, 2), dtype=dtype, chunks=(128, 1, 12, 1))
            dset[:128] = 1  # rows 128.. never written
    reader = SubbandSlabReader(_Header(path, 512, legacy=True))
    try:
        assert set(reader.paths.values()) == {"hdf5"}
        buffers = [np.full((512, 48, 2), 7, dtype=TYPES[n]) for n in TYPES]
        reader.read(0, 512, *buffers)
        for buffer in buffers:
            assert np.all(buffer[:128] == 1) and not np.any(buffer[128:])
    finally:
        reader.close()


@pytest.fixture(scope="module")
def tiny_file(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("tiny")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        write_tile(out, Time("2025-10-13T13:25:00"), SimulationConfig.tiny(subbands=(0,)))
    return next(iter(find_tiles(out)[0].files.values())).path


def test_external_dataset_refused(tiny_file, tmp_path):
    """Bytes of another file on the host must never reach a Measurement Set."""
    secret = tmp_path / "secret.bin"
    secret.write_bytes(b"host secret " * 100_000)
    hostile = external_dataset_copy(tiny_file, tmp_path / "2025-10-13T13:25:00_sb00.hdf5", secret)
    with pytest.raises(InvalidSubbandFile, match="external") as info:
        read_header(hostile)
    assert str(hostile) in str(info.value)


def test_virtual_dataset_refused(tiny_file, tmp_path):
    hostile = tmp_path / "2025-10-13T13:25:00_sb00.hdf5"
    with h5py.File(tiny_file) as src, h5py.File(hostile, "w") as dst:
        src.copy("Header", dst)
        for name in ("flags", "nsamples"):
            src.copy(f"Data/{name}", dst, name=f"Data/{name}")
        vis = src["Data/visdata"]
        layout = h5py.VirtualLayout(shape=vis.shape, dtype=vis.dtype)
        layout[...] = h5py.VirtualSource(str(tiny_file), "Data/visdata", shape=vis.shape)
        dst["Data"].create_virtual_dataset("visdata", layout)
    with pytest.raises(InvalidSubbandFile, match="virtual"):
        read_header(hostile)


@pytest.mark.parametrize("style", ["hadec", "extra-2000", "header-2000", "pyuvdata3"])
def test_header_styles_give_the_same_header(tmp_path, style):
    config = SimulationConfig.tiny(subbands=(3,), header_style=style, seed=2)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        write_tile(tmp_path, Time("2025-10-13T13:25:00"), config)
    header = read_header(next(iter(find_tiles(tmp_path)[0].files.values())).path)
    assert np.rad2deg(header.declination_rad) == pytest.approx(config.declination.value, abs=1e-9)
    assert header.freqs_hz.shape == (48,) and np.all(np.diff(header.freqs_hz) < 0)
    assert np.allclose(np.abs(header.channel_width_hz), 244140.625)  # one writer stored |width|
    assert header.uvw_m.dtype == np.float64 and header.time_jd.size == header.n_blts
