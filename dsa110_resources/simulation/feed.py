"""A live feed: tiles written into an incoming directory as the telescope would.

Each tile is simulated into a private staging directory, then its files are
moved into ``incoming`` (flat, or ``incoming/YYYY-MM-DD/``) one by one over a
short spread, in shuffled order, with an optional late file and an optional
duplicate (the same file delivered again under the same name). Every move is
an atomic rename within one filesystem (staging lives inside ``incoming`` as a
hidden directory), so a watcher never sees half a file. Tiles follow each
other at the real cadence (~309 s) divided by ``speedup``.
"""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path

import astropy.units as u
import numpy as np
from astropy.time import Time

from dsa110_resources import constants as C
from dsa110_resources.simulation.config import SimulationConfig
from dsa110_resources.simulation.tile import load_layout, tile_start_times, write_tile
from dsa110_resources.conversion.phasing import meridian_centre
from dsa110_resources.simulation.sky import build_sky

__all__ = ["deliver_file", "run_feed"]


def deliver_file(src: Path, dest_dir: Path) -> Path:
    dest_dir.mkdir(parents=True, exist_ok=True)
    dest = dest_dir / src.name
    tmp = dest_dir / f".{src.name}.part"
    shutil.copyfile(src, tmp)
    os.replace(tmp, dest)
    return dest


def run_feed(
    incoming: str | Path,
    start_time: Time,
    n_tiles: int,
    config: SimulationConfig,
    *,
    speedup: float = 1.0,
    spread: u.Quantity = 10 * u.s,
    date_sharded: bool = True,
    late_probability: float = 0.0,
    late_delay: u.Quantity = 60 * u.s,
    duplicate_probability: float = 0.0,
    truth_dir: str | Path | None = None,
    sleep=time.sleep,
    log=print,
) -> list:
    """Simulate ``n_tiles`` tiles and deliver them into ``incoming`` in (scaled) real time.

    Truth files and the sky catalog (``sky_catalog.csv``) go to ``truth_dir``
    (default ``incoming/../truth``), never into incoming, so a sensor only sees
    subband files. Returns the tile truths.
    """
    incoming = Path(incoming)
    incoming.mkdir(parents=True, exist_ok=True)
    staging = incoming / ".simulator-staging"
    truth_dir = Path(truth_dir) if truth_dir else incoming.parent / "truth"
    truth_dir.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng([config.seed, 5])
    starts = tile_start_times(start_time, n_tiles)
    layout = load_layout(config)
    centres = meridian_centre(starts + C.TILE_DURATION / 2, config.declination, layout.reference)
    sky = build_sky(config, centres, starts)
    # The sky as a catalog, the way an operator supplies NVSS: the pipeline's
    # sky models and photometry read it (truth fluxes stay in the truth files).
    sky.catalog.write_csv(truth_dir / "sky_catalog.csv")
    cadence = C.TILE_DURATION.to_value(u.s) / speedup
    spread_s = spread.to_value(u.s) / speedup
    truths = []
    pending_late: list[tuple[float, Path, Path]] = []
    for start in starts:
        t_begin = time.monotonic()
        tile_stage = staging / start.to_datetime().strftime("%Y%m%dT%H%M%S")
        truth = write_tile(tile_stage, start, config, sky, layout=layout, run_epoch=starts[0])
        dest_dir = incoming / start.to_datetime().strftime("%Y-%m-%d") if date_sharded else incoming
        files = list(truth.files.values())
        rng.shuffle(files)
        offsets = np.sort(rng.uniform(0.0, spread_s, len(files)))
        delivered = 0.0
        for off, f in zip(offsets, files):
            if rng.uniform() < late_probability:
                pending_late.append((time.monotonic() + late_delay.to_value(u.s) / speedup, f, dest_dir))
                continue
            sleep(max(0.0, off - delivered))
            delivered = off
            log(f"deliver {deliver_file(f, dest_dir)}")
            if rng.uniform() < duplicate_probability:
                log(f"duplicate {deliver_file(f, dest_dir)}")
        for name in (truth.json_path, truth.npz_path):
            shutil.copyfile(name, truth_dir / name.name)
        truths.append(truth)
        # deliver late files whose time has come, then wait for the next tile
        now = time.monotonic()
        for item in [p for p in pending_late if p[0] <= now]:
            log(f"late {deliver_file(item[1], item[2])}")
            pending_late.remove(item)
        sleep(max(0.0, cadence - (time.monotonic() - t_begin)))
    for due, f, d in sorted(pending_late, key=lambda p: p[0]):
        sleep(max(0.0, due - time.monotonic()))
        log(f"late {deliver_file(f, d)}")
    shutil.rmtree(staging, ignore_errors=True)
    return truths
