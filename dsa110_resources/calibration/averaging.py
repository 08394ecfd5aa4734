"""A time-averaged, model-normalised copy of a tile for the per-tile solves.

CASA's bandpass and gaincal with ``solint='inf'`` divide the data by the
model and average the ratio over the whole tile before solving, but they do
it by streaming every row of DATA and MODEL_DATA through their VisBuffer
machinery, once per task: on a full tile (111,744 rows x 768 channels x
2 pols) that takes minutes on a shared 2-core machine. We form the same
average once, in numpy, into a small MS holding one row per baseline:

    DATA  = sum_t w V conj(M) / sum_t w |M|^2,   MODEL_DATA = 1,
    WEIGHT = sum_t w |M|^2  (per pol, channel-averaged)

Dividing by the model first is what keeps sources away from the phase
centre, which fringe during the tile, from decorrelating in the average;
the flux scale is carried by the model, exactly as in CASA's solve. The
solutions are checked against the simulator's truth in the tests.

Per-channel weights are not stored (the converter writes no
WEIGHT_SPECTRUM): a channel flagged in part of the tile keeps the row weight,
which only matters for channels flagged most of the tile.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

__all__ = ["time_average_ms"]


def time_average_ms(ms: str | Path, out: str | Path) -> Path:
    """Write ``out``: ``ms`` divided by its MODEL_DATA and averaged over all integrations."""
    from casacore.tables import table

    ms, out = Path(ms), Path(out)
    if out.exists():
        raise FileExistsError(out)
    with table(str(ms), ack=False) as t:
        a1 = t.getcol("ANTENNA1")
        a2 = t.getcol("ANTENNA2")
        times = t.getcol("TIME")
        n_ant = int(max(a1.max(), a2.max())) + 1
        keys, first, inverse = np.unique(a1.astype(np.int64) * n_ant + a2, return_index=True, return_inverse=True)
        n_bl = len(keys)
        shape = t.getcell("DATA", 0).shape
        vm = np.zeros((n_bl,) + shape, np.complex128)
        mm = np.zeros((n_bl,) + shape)
        uvw_sum = np.zeros((n_bl, 3))
        time_sum = np.zeros(n_bl)
        count = np.zeros(n_bl)
        # Rows of one integration hold each baseline once, so plain fancy-index
        # accumulation is safe per integration (no repeated indices).
        order = np.argsort(times, kind="stable")
        for rows in np.split(order, np.flatnonzero(np.diff(times[order])) + 1):
            start, stop = int(rows.min()), int(rows.max()) + 1
            if stop - start == len(rows):
                def get(c, start=start, stop=stop):
                    return t.getcol(c, startrow=start, nrow=stop - start)
                idx = inverse[start:stop]
            else:
                def get(c, rows=rows):
                    return np.stack([t.getcell(c, int(r)) for r in rows])
                idx = inverse[rows]
            flags = get("FLAG") | get("FLAG_ROW")[:, None, None]
            w = np.where(flags, 0.0, get("WEIGHT").astype(float)[:, None, :])
            model = get("MODEL_DATA")
            vm[idx] += w * get("DATA") * np.conj(model)
            mm[idx] += w * np.abs(model) ** 2
            uvw_sum[idx] += get("UVW")
            time_sum[idx] += get("TIME")
            count[idx] += 1
        interval = float(np.unique(times).size * t.getcell("INTERVAL", 0))
        selection = t.selectrows(np.sort(first))
        selection.copy(str(out), deep=True, valuecopy=True)
        selection.close()
    # The copy holds the first row of each baseline, in row order; map to it.
    copy_order = np.argsort(first)
    good = mm > 0
    ratio = np.zeros(vm.shape, np.complex64)
    np.divide(vm, mm, out=ratio, where=good, casting="unsafe")
    row_weight = mm.mean(axis=1)
    with table(str(out), readonly=False, ack=False) as avg:
        avg.putcol("DATA", ratio[copy_order])
        avg.putcol("MODEL_DATA", good[copy_order].astype(np.complex64))
        avg.putcol("FLAG", ~good[copy_order])
        avg.putcol("FLAG_ROW", np.all(~good, axis=(1, 2))[copy_order])
        avg.putcol("WEIGHT", row_weight[copy_order].astype(np.float32))
        sigma = np.zeros_like(row_weight)
        np.power(row_weight, -0.5, out=sigma, where=row_weight > 0)
        avg.putcol("SIGMA", sigma[copy_order].astype(np.float32))
        avg.putcol("UVW", (uvw_sum / count[:, None])[copy_order])
        mean_time = (time_sum / count)[copy_order]
        avg.putcol("TIME", mean_time)
        avg.putcol("TIME_CENTROID", mean_time)
        avg.putcol("INTERVAL", np.full(len(mean_time), interval))
        avg.putcol("EXPOSURE", np.full(len(mean_time), interval))
    return out
