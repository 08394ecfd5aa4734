"""Flagging before any solve: zeros, RFI, and what fraction was lost where.

Order, and why:

1. Exact zeros and non-finite values (dropped correlator data, missing
   subbands) are flagged first, so RFI detection never sees them as "quiet"
   data: by the converter as it writes the MS (its ``DSA110_ZEROS_FLAGGED``
   keyword; DATA need not be read again), else here with casacore.
2. RFI on cross-correlations with AOFlagger's SumThreshold, through the Debian
   ``aoflagger`` command line (its Python bindings are not importable from the
   venv, and the CLI reads the MS natively). The strategy below is the generic
   AOFlagger strategy tuned for a DSA-110 tile, which is short in time
   (24 integrations) and long in frequency (768 channels): no time
   downsampling, a short time kernel for the smooth background fit, and
   existing flags kept (and excluded from detection). When the CLI is
   missing or fails, CASA ``flagdata`` tfcrop then rflag run instead (in a
   child process), and the summary says which flagger ran.
3. Autocorrelations are not flagged (they stay useful for bandpass monitoring)
   but are kept out of solves by the solve selection (cross-correlations only)
   and out of the statistics here.

The flagged fraction per antenna and per channel (cross-correlations, both
polarisations) is returned for the products database and the QA gates, and
is what the reference-antenna choice ranks by.
"""

from __future__ import annotations

import logging
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from scipy.sparse import csr_matrix

from dsa110_resources.casa import CasaTaskError, run_casa
from dsa110_resources.child_steps import run_tool, step_limit

log = logging.getLogger(__name__)

__all__ = ["FlagOptions", "FlagSummary", "flag_fractions", "flag_ms", "flag_zeros", "AOFLAGGER_STRATEGY"]

ROW_CHUNK = 16384
AOFLAGGER = "aoflagger"

#: AOFlagger strategy for 24 integrations x 768 channels (Lua, AOFlagger >= 3.0).
AOFLAGGER_STRATEGY = """\
-- DSA-110 tile strategy (written by dsa110_resources.calibration.flagging).
-- Generic AOFlagger 2020 strategy, tuned for 24 integrations x 768 channels:
-- frequency-only downsampling, a short time kernel, detection on Stokes I.
aoflagger.require_min_version("3.0")

function execute(input)
  -- Detect on Stokes I (XX+YY): half the work of per-pol detection, and
  -- narrowband RFI shows in both feeds; the mask is applied to XX and YY.
  local flag_polarizations = { "I" }
  local base_threshold = {base_threshold}
  local iteration_count = 3
  local threshold_factor_step = 2.0
  local transient_threshold_factor = 1.0
  local freq_downsample = 3

  local copy_of_input = input:copy()
  for ipol, polarization in ipairs(flag_polarizations) do
    local data = input:convert_to_polarization(polarization)
    data = data:convert_to_complex("amplitude")
    local original_data = data:copy()
    for i = 1, iteration_count - 1 do
      local threshold_factor = math.pow(threshold_factor_step, iteration_count - i)
      local sumthr_level = threshold_factor * base_threshold
      aoflagger.sumthreshold_masked(data, original_data, sumthr_level,
                                    sumthr_level * transient_threshold_factor, true, true)
      local chdata = data:copy()
      aoflagger.threshold_timestep_rms(data, 3.5)
      aoflagger.threshold_channel_rms(chdata, 3.0 * threshold_factor, true)
      data:join_mask(chdata)
      data:set_visibilities(original_data)
      data:join_mask(original_data)
      -- smooth background: 768 channels -> 256, all 24 integrations kept
      local resized = aoflagger.downsample(data, 1, freq_downsample, true)
      aoflagger.low_pass_filter(resized, 7, 21, 2.5, 5.0)
      aoflagger.upsample(resized, data, 1, freq_downsample)
      local tmp = original_data - data
      tmp:set_mask(data)
      data = tmp
    end
    aoflagger.sumthreshold_masked(data, original_data, base_threshold,
                                  base_threshold * transient_threshold_factor, true, true)
    input:join_mask(data)
  end
  aoflagger.scale_invariant_rank_operator_masked(input, copy_of_input, 0.2, 0.2)
  aoflagger.threshold_timestep_rms(input, 4.0)
  input:flag_nans()
end
"""


@dataclass(frozen=True)
class FlagOptions:
    """How to flag a tile (defaults are the pipeline's)."""

    zeros: bool = True
    rfi: str = "aoflagger"  # aoflagger | tfcrop | rflag | none
    fallback: tuple[str, ...] = ("tfcrop", "rflag")  # CASA modes if AOFlagger cannot run
    base_threshold: float = 1.0  # AOFlagger sensitivity (lower flags more)
    threads: int = 2
    column: str = "DATA"
    timeout: float | None = None  # seconds per flagger; None: child_steps.step_timeout(ms)


@dataclass
class FlagSummary:
    """Flagged fractions after flagging (cross-correlations only)."""

    total: float
    per_antenna: dict[str, float]  # antenna name -> fraction of its cross-correlation data
    per_channel: np.ndarray  # (n_chan,)
    per_antenna_live: dict[str, float] = field(default_factory=dict)  # over channels with any data
    zeros_flagged: int = 0
    rfi_method: str = "none"
    rfi_error: str | None = None
    before: float | None = None
    timings: dict[str, float] = field(default_factory=dict)

    def to_dict(self) -> dict:
        return {
            "total": self.total,
            "before": self.before,
            "per_antenna": self.per_antenna,
            "per_antenna_live": self.per_antenna_live,
            "per_channel": [round(float(x), 5) for x in self.per_channel],
            "zeros_flagged": self.zeros_flagged,
            "rfi_method": self.rfi_method,
            "rfi_error": self.rfi_error,
            "timings": self.timings,
        }


def flag_zeros(ms: str | Path, column: str = "DATA", keep: bool = False) -> tuple[int, np.ndarray | None]:
    """Flag visibilities that are exactly zero or not finite.

    Returns how many were newly flagged and, with ``keep``, the whole FLAG
    column as it now stands (to OR back in after AOFlagger, see flag_ms).
    """
    from casacore.tables import table

    newly = 0
    kept = None
    with table(str(ms), readonly=False, ack=False) as t:
        if keep:
            kept = np.empty((t.nrows(),) + t.getcell("FLAG", 0).shape, bool)
        for start in range(0, t.nrows(), ROW_CHUNK):
            n = min(ROW_CHUNK, t.nrows() - start)
            data = t.getcol(column, startrow=start, nrow=n)
            flags = t.getcol("FLAG", startrow=start, nrow=n)
            bad = (data == 0) | ~np.isfinite(data)
            add = bad & ~flags
            if add.any():
                newly += int(add.sum())
                flags |= bad
                t.putcol("FLAG", flags, startrow=start, nrow=n)
            if keep:
                kept[start:start + n] = flags
    return newly, kept


def flag_fractions(ms: str | Path, merge: np.ndarray | None = None) -> FlagSummary:
    """Flagged fractions of cross-correlations: total, per antenna, per channel.

    ``per_antenna_live`` counts only channels where the array has any data
    (a missing subband flags every antenna alike and says nothing about one).
    ``merge``: flags (the whole column) to OR into FLAG in the same pass.
    """
    from casacore.tables import table

    with table(f"{ms}::ANTENNA", ack=False) as ant:
        names = list(ant.getcol("NAME"))
    n_ant = len(names)
    flagged = None  # (n_ant, n_chan) flagged pol-samples per antenna and channel
    samples = np.zeros(n_ant)  # pol-samples per antenna per channel
    with table(str(ms), readonly=merge is None, ack=False) as t:
        for start in range(0, t.nrows(), ROW_CHUNK):
            n = min(ROW_CHUNK, t.nrows() - start)
            a1 = t.getcol("ANTENNA1", startrow=start, nrow=n)
            a2 = t.getcol("ANTENNA2", startrow=start, nrow=n)
            flags = t.getcol("FLAG", startrow=start, nrow=n)
            if merge is not None and np.any(merge[start:start + n] & ~flags):
                flags |= merge[start:start + n]
                t.putcol("FLAG", flags, startrow=start, nrow=n)
            flags |= t.getcol("FLAG_ROW", startrow=start, nrow=n)[:, None, None]
            cross = a1 != a2
            f = flags[cross].sum(axis=2, dtype=np.float32)  # (rows, chan)
            if flagged is None:
                flagged = np.zeros((n_ant, f.shape[1]))
            # antenna x row incidence (each cross row counts for both its antennas)
            rows = np.arange(f.shape[0])
            incidence = csr_matrix(
                (np.ones(2 * len(rows), np.float32),
                 (np.concatenate([a1[cross], a2[cross]]), np.concatenate([rows, rows]))),
                shape=(n_ant, len(rows)))
            flagged += incidence @ f
            samples += np.asarray(incidence.sum(axis=1)).ravel() * flags.shape[2]
    if flagged is None:
        return FlagSummary(total=1.0, per_antenna={}, per_channel=np.zeros(0))
    present = np.flatnonzero(samples > 0)
    per_channel = flagged[present].sum(axis=0) / samples[present].sum()
    live = per_channel < 1.0
    per_antenna = {names[i]: float(flagged[i].mean() / samples[i]) for i in present}
    per_antenna_live = {
        names[i]: float(flagged[i, live].mean() / samples[i]) if live.any() else 1.0 for i in present
    }
    return FlagSummary(total=float(per_channel.mean()), per_antenna=per_antenna, per_channel=per_channel,
                       per_antenna_live=per_antenna_live)


def _zeros_flagged_at_conversion(ms: Path) -> bool:
    """The converter flagged DATA's zeros and NaNs as it wrote them (no second scan needed)."""
    from casacore.tables import table

    from dsa110_resources.conversion.ms_writer import ZEROS_FLAGGED

    with table(str(ms), ack=False) as t:
        return bool(ZEROS_FLAGGED in t.keywordnames() and t.getkeyword(ZEROS_FLAGGED))


def _read_flags(ms: Path) -> np.ndarray:
    from casacore.tables import table

    with table(str(ms), ack=False) as t:
        return t.getcol("FLAG")


def _run_aoflagger(ms: Path, workdir: Path, options: FlagOptions) -> None:
    exe = shutil.which(AOFLAGGER)
    if exe is None:
        raise FileNotFoundError("aoflagger command not found on PATH")
    strategy = workdir / "dsa110-tile.lua"
    strategy.write_text(AOFLAGGER_STRATEGY.replace("{base_threshold}", repr(float(options.base_threshold))))
    cmd = [exe, "-strategy", str(strategy), "-column", options.column, "-j", str(options.threads),
           "-memory-read", str(ms)]
    done = run_tool(cmd, step=f"AOFlagger on {ms}", cwd=workdir, timeout=step_limit(options.timeout, ms))
    (workdir / "aoflagger.log").write_text(done.stdout + done.stderr)
    if done.returncode != 0:
        tail = "\n".join((done.stdout + done.stderr).strip().splitlines()[-15:])
        raise RuntimeError(f"aoflagger exited with {done.returncode}:\n{tail}")


def flag_ms(ms: str | Path, *, workdir: str | Path, options: FlagOptions = FlagOptions()) -> FlagSummary:
    """Flag zeros and RFI in ``ms`` in place; return the flagged fractions.

    AOFlagger failing is not fatal while a CASA fallback succeeds; the
    summary records the method used and the AOFlagger error.
    """
    ms, workdir = Path(ms), Path(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    timings: dict[str, float] = {}
    t0 = time.perf_counter()
    use_aoflagger = options.rfi == "aoflagger"
    if options.zeros and not (options.column == "DATA" and _zeros_flagged_at_conversion(ms)):
        zeros, earlier = flag_zeros(ms, options.column, keep=use_aoflagger)
    else:
        zeros, earlier = 0, (_read_flags(ms) if use_aoflagger else None)
    timings["zeros"] = time.perf_counter() - t0
    before = float(earlier.mean()) if earlier is not None else None

    t1 = time.perf_counter()
    method, error = "none", None
    methods = [options.rfi] if options.rfi != "none" else []
    if use_aoflagger:
        methods += list(options.fallback)
    for candidate in methods:
        try:
            if candidate == "aoflagger":
                _run_aoflagger(ms, workdir, options)
            else:
                run_casa("dsa110_resources.calibration.casa_steps:flag_rfi", str(ms), candidate,
                         options.column.lower(), workdir=workdir / f"casa-{candidate}",
                         timeout=step_limit(options.timeout, ms))
            method = candidate
            break
        except (OSError, RuntimeError, CasaTaskError) as exc:  # a time-limit kill is a RuntimeError
            error = f"{candidate}: {exc}"
            log.warning("RFI flagging with %s failed, trying the next method: %s", candidate, exc)
    if methods and method == "none":
        raise RuntimeError(f"every RFI flagger failed on {ms}; last error: {error}")
    timings["rfi"] = time.perf_counter() - t1

    t2 = time.perf_counter()
    # The AOFlagger 3.1 CLI rewrites FLAG from its own mask, dropping the
    # converter's and the zero flags: OR them back while counting.
    summary = flag_fractions(ms, merge=earlier if method == "aoflagger" else None)
    timings["statistics"] = time.perf_counter() - t2
    summary.zeros_flagged, summary.rfi_method, summary.before = zeros, method, before
    summary.rfi_error = error if method != options.rfi else None
    summary.timings = timings
    return summary
