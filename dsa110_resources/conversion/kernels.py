"""The heavy loops of the converter, compiled with numba.

``subband_into_block`` is the one pass over the visibilities: it takes one
subband file's slice of rows (file order: channels descending) and writes it,
rotated to the new phase centre, conjugated into the MS sign convention and
with its channels reversed, straight into its place in a block of MS rows
(channels ascending, all 768 side by side, the bytes the MS's tiled data
file holds). Flags go out packed eight to a byte (casacore's on-disk Bool
layout), and nsamples are reduced to per-row sums for WEIGHT on the way.
Nothing is copied twice: no full-tile nsamples array, no separate reversal.
A non-finite visibility (NaN or Inf from a faulty correlator) is written as
zero and flagged, and counted: left in, one NaN poisons every image and
calibration solution it touches. An exact zero (data the correlator dropped)
is flagged too, so flagging before calibration need not read DATA again
(the MS says so: ms_writer.ZEROS_FLAGGED).

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
    (ascending) of ``out_vis`` (Nrows, Nchan, Npol), the matching bytes of
    ``out_flagbits`` (Nrows, Nchan*Npol/8; bit ``c*Npol+p``, least significant
    first; the subband's bits must start and end on byte boundaries), adds
    the nsamples sums to ``out_weight`` (Nrows, Npol) and, if
    ``out_spectrum`` has rows, nsamples per channel into it. Exact zeros
    are flagged. Returns the number of non-finite visibilities (written as
    0 and flagged).

    The phase is linear in frequency: one exact sin/cos per row, then a
    complex recurrence across the (uniformly spaced) subband.
    """
    n_rows, n_sb, n_pol = vis_in.shape
    spectrum = out_spectrum.shape[0] > 0
    rot_re = np.empty(n_sb, dtype=np.float64)
    rot_im = np.empty(n_sb, dtype=np.float64)
    wsum = np.empty(n_pol, dtype=np.float64)
    bad = np.zeros((n_sb, n_pol), dtype=np.bool_)  # this row's non-finite cells
    n_bad = 0
    top = chan_start + n_sb - 1  # ascending index of file channel 0
    byte0 = (chan_start * n_pol) // 8
    n_bytes = (n_sb * n_pol) // 8
    for r in range(n_rows):
        k = -_TWO_PI_OVER_C * delta_w[r]
        ph = k * freqs_desc[0]
        re, im = math.cos(ph), math.sin(ph)
        rot_re[0], rot_im[0] = re, im
        if n_sb > 1:
            dph = k * (freqs_desc[n_sb - 1] - freqs_desc[0]) / (n_sb - 1)
            s_re, s_im = math.cos(dph), math.sin(dph)
            for c in range(1, n_sb):
                re, im = re * s_re - im * s_im, re * s_im + im * s_re
                rot_re[c], rot_im[c] = re, im
        sign = -1.0 if conj_row[r] else 1.0
        for p in range(n_pol):
            wsum[p] = 0.0
        row_bad = False
        for c in range(n_sb):
            ca = top - c
            cr, ci = rot_re[c], rot_im[c]
            for p in range(n_pol):
                v = vis_in[r, c, p]
                vr, vi = np.float64(v.real), np.float64(v.imag)
                if vr == 0.0 and vi == 0.0:  # dropped by the correlator: no data
                    out_vis[r, ca, p] = 0j
                    bad[c, p] = True
                    row_bad = True
                elif math.isfinite(vr) and math.isfinite(vi):
                    out_vis[r, ca, p] = complex(vr * cr - vi * ci, sign * (vr * ci + vi * cr))
                    bad[c, p] = False
                else:
                    out_vis[r, ca, p] = 0j
                    bad[c, p] = True
                    row_bad = True
                    n_bad += 1
                wsum[p] += nsamples_in[r, c, p]
        for p in range(n_pol):
            out_weight[r, p] += wsum[p]
        if spectrum:
            for c in range(n_sb):
                for p in range(n_pol):
                    out_spectrum[r, top - c, p] = nsamples_in[r, c, p]
        # Flags: bit (ca * n_pol + p) of the row, packed least significant first.
        for j in range(n_bytes):
            value = 0
            for i in range(8):
                b = 8 * j + i  # bit within the subband, ascending channels
                ca_rel = b // n_pol
                c, p = n_sb - 1 - ca_rel, b - ca_rel * n_pol
                if flags_in[r, c, p] or (row_bad and bad[c, p]):
                    value |= 1 << i
            out_flagbits[r, byte0 + j] = value
    return n_bad


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



@numba.njit(nogil=True, cache=True)
def scatter_chunks(chunks, position, row0, chan0, pol0, chunk_rows, chunk_chans, chunk_pols,
                   start, out):
    """Copy HDF5 chunks (C order, ``(chunk_rows, chunk_chans, chunk_pols)`` each,
    the k-th at ``chunks[position[k]:]``, its first element at row ``row0[k]``,
    channel ``chan0[k]``, pol ``pol0[k]`` of the dataset) into the rows
    ``start .. start + len(out)`` of ``out`` (rows, Nfreqs, Npols; C-contiguous).
    Parts of a chunk outside ``out`` (other rows, the padding past the
    dataset's edge) are skipped. Flat indices and per-chunk bounds found once:
    ~2x faster than 3-D indexing with per-element tests."""
    n_rows, n_chans, n_pols = out.shape
    flat = out.reshape(-1)
    row_stride = n_chans * n_pols
    chunk_row = chunk_chans * chunk_pols
    for k in range(position.size):
        i0 = max(0, start - row0[k])
        i1 = min(chunk_rows, start + n_rows - row0[k])
        j1 = min(chunk_chans, n_chans - chan0[k])
        q1 = min(chunk_pols, n_pols - pol0[k])
        first = (row0[k] - start) * row_stride + chan0[k] * n_pols + pol0[k]
        for i in range(i0, i1):
            src = position[k] + i * chunk_row
            dst = first + i * row_stride
            for j in range(j1):
                for q in range(q1):
                    flat[dst + j * n_pols + q] = chunks[src + j * chunk_pols + q]
