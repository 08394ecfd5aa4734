"""The heavy loops of the converter, compiled with numba.

``subband_into_block`` is the one pass over the visibilities: it takes one
subband file's slice of rows (file order: channels descending) and writes it,
rotated to the new phase centre, conjugated into the MS sign convention and
with its channels reversed, straight into its place in a block of MS rows
(channels ascending, all 768 side by side, the bytes the MS's tiled data
file holds). Flags go out packed eight to a byte (casacore's on-disk Bool
layout), and nsamples are reduced to per-row sums for WEIGHT on the way.
Nothing is copied twice: no full-tile nsamples array, no separate reversal.

The kernels release the GIL, so one block's kernel runs while the next
block is read from HDF5 (which holds the GIL) and the previous one is
written to disk.
"""

from __future__ import annotations

import math

import numba
import numpy as np

_TWO_PI_OVER_C = 2.0 * math.pi / 299792458.0
#: Channels between exact phase evaluations: one subband file.
CHANNELS_PER_BLOCK = 48


@numba.njit(nogil=True, cache=True, fastmath=False)
def subband_into_block(vis_in, flags_in, nsamples_in, delta_w, conj_row, freqs_desc,
                       out_vis, chan_start, out_flagbits, out_weight, out_spectrum):
    """One subband's rows into a block of MS rows, in place.

    ``vis_in, flags_in, nsamples_in``: (Nrows, Nsb, Npol) in file order
    (channels descending). ``freqs_desc``: (Nsb,) the file's frequencies.
    ``delta_w[r]``: w_new - w_old (metres, pyuvdata convention); the phase
    rotation is ``exp(-2 pi i delta_w f / c)``. ``conj_row[r]``: conjugate
    after rotating (False for rows whose antennas the MS swaps, which
    conjugates them back). Writes channels ``chan_start .. chan_start+Nsb``
    (ascending) of ``out_vis`` (Nrows, Nchan, Npol), the matching bits of
    ``out_flagbits`` (Nrows, Nchan*Npol/8; bit ``c*Npol+p``, least significant
    first), adds the nsamples sums to ``out_weight`` (Nrows, Npol) and, if
    ``out_spectrum`` has rows, nsamples per channel into it.

    The phase is linear in frequency: one exact sin/cos per row, then a
    complex recurrence across the (uniformly spaced) subband.
    """
    n_rows, n_sb, n_pol = vis_in.shape
    spectrum = out_spectrum.shape[0] > 0
    rots = np.empty(n_sb, dtype=np.complex128)
    bit0 = chan_start * n_pol
    for r in range(n_rows):
        k = -_TWO_PI_OVER_C * delta_w[r]
        ph = k * freqs_desc[0]
        rot = complex(math.cos(ph), math.sin(ph))
        rots[0] = rot
        if n_sb > 1:
            dph = k * (freqs_desc[n_sb - 1] - freqs_desc[0]) / (n_sb - 1)
            step = complex(math.cos(dph), math.sin(dph))
            for c in range(1, n_sb):
                rot = rot * step
                rots[c] = rot
        conj = conj_row[r]
        for c in range(n_sb):
            ca = chan_start + n_sb - 1 - c
            rt = rots[c]
            for p in range(n_pol):
                v = vis_in[r, c, p] * rt
                if conj:
                    v = v.conjugate()
                out_vis[r, ca, p] = v
                out_weight[r, p] += nsamples_in[r, c, p]
                if spectrum:
                    out_spectrum[r, ca, p] = nsamples_in[r, c, p]
        # Flags: bit (ca * n_pol + p) of the row, packed little-endian.
        for b in range(n_sb * n_pol):
            bit = bit0 + b
            ca_rel = b // n_pol
            c = n_sb - 1 - ca_rel
            p = b - ca_rel * n_pol
            byte = bit >> 3
            mask = np.uint8(1 << (bit & 7))
            if flags_in[r, c, p]:
                out_flagbits[r, byte] |= mask
            else:
                out_flagbits[r, byte] &= ~mask


@numba.njit(nogil=True, cache=True)
def finish_rows(out_flagbits, out_weight, n_present, flag_row):
    """Weights become means over present channels; FLAG_ROW where every bit is set."""
    n_rows, n_bytes = out_flagbits.shape
    for r in range(n_rows):
        full = True
        for b in range(n_bytes):
            if out_flagbits[r, b] != 255:
                full = False
                break
        flag_row[r] = full
        for p in range(out_weight.shape[1]):
            out_weight[r, p] = out_weight[r, p] / n_present if n_present > 0 else 0.0


def warm() -> None:
    """Compile (or load from numba's cache) every kernel signature the converter uses."""
    n, sb, pol = 2, 4, 2
    vis = np.zeros((n, sb, pol), np.complex64)
    flags = np.zeros((n, sb, pol), np.bool_)
    ns = np.ones((n, sb, pol), np.float32)
    bits = np.zeros((n, 2 * sb * pol // 8), np.uint8)
    weight = np.zeros((n, pol), np.float64)
    for spectrum in (np.zeros((0, 2 * sb, pol), np.float32), np.zeros((n, 2 * sb, pol), np.float32)):
        subband_into_block(vis, flags, ns, np.zeros(n), np.ones(n, np.bool_),
                           np.linspace(2e9, 1e9, sb), np.zeros((n, 2 * sb, pol), np.complex64),
                           0, bits, weight, spectrum)
    finish_rows(bits, weight, 1, np.zeros(n, np.bool_))
