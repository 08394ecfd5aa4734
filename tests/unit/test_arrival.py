"""A file that will heal by itself (locked by its writer, still changing) or a corrupt one."""

from __future__ import annotations

import os
import time

import astropy.units as u

from dsa110_resources.conversion.arrival import not_yet_readable

#: h5py's messages, verbatim (h5py 3, HDF5 1.14).
LOCKED = BlockingIOError(11, "Unable to synchronously open file (unable to lock file, errno = 11, "
                             "error message = 'Resource temporarily unavailable')")
TRUNCATED = OSError("Unable to synchronously open file (truncated file: eof = 4096, "
                    "sblock->base_addr = 0, stored_eof = 726664)")


def _wrapped(cause: OSError, path) -> Exception:
    error = ValueError(f"{path}: not a readable HDF5 file ({cause})")
    error.path = path
    error.__cause__ = cause
    return error


def test_a_locked_file_is_not_yet_readable_a_truncated_one_is_corrupt(tmp_path):
    path = tmp_path / "2025-10-13T13:25:07_sb00.hdf5"
    path.write_bytes(b"x")
    old = time.time() - 3600
    os.utime(path, (old, old))  # its writer long gone
    assert "lock" in not_yet_readable(_wrapped(LOCKED, path), 30 * u.s)
    assert not_yet_readable(_wrapped(TRUNCATED, path), 30 * u.s) is None  # "sblock" is no lock
    os.utime(path)  # still being copied
    assert "changed" in not_yet_readable(_wrapped(TRUNCATED, path), 30 * u.s)
