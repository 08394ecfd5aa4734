"""Solves: delay (K, optional), bandpass (B) and complex gains (G) with CASA.

Each CASA task runs in its own child process (``casa.run_casa``): a CASA
abort or crash fails that step only, with the CASA log tail in the error.
Tables are written into a staging directory, checked, published atomically
to ``caltables/YYYY-MM-DD/<tile>.{kcal,bcal,gcal}`` and registered with their
validity windows, provenance and QA figures; a table is never published
without being registered (a pitfall of the old pipeline).

Sequence on a calibrator transit tile, and why:

* K (optional): per-antenna delays, solint inf. The bandpass solve absorbs
  delays channel by channel anyway, so K is only needed when phase slopes
  would matter downstream (facts: slopes < 3 deg make it optional).
* B: per channel, solint inf over the tile, ``solnorm`` so the mean amplitude
  is 1 and the flux scale lives in G, gaps of up to ``fillgaps`` flagged
  channels interpolated. The complex gains drift by < 1 deg within a tile,
  so no pre-bandpass phase solve is needed: B absorbs them at the tile epoch.
* Per-tile solves (K, B, and G with solint inf) read a time-averaged copy of
  the tile (:mod:`.averaging`): the same averages CASA would form, formed once
  in numpy instead of once per task, which is what keeps a full tile fast.
* G: amplitude and phase with K and B applied, per tile (solint inf) or per
  ``gain_solint`` (e.g. '60s'). Between transits :func:`solve_gains_on_sky_model`
  solves G on science tiles against the catalog sky model.

Reference antenna: by flagged fraction (:func:`choose_refant`), preferring a
healthy outrigger (DSA-103..117, long lever arm and independent of the core's
crosstalk), falling back to the least-flagged antenna of the array; the
ordered chain is passed to CASA so that a solution interval where the first
choice has no data falls back to the next.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import astropy.units as u

from dsa110_resources.casa import run_casa
from dsa110_resources.child_steps import step_limit
from dsa110_resources.catalogs import Calibrator, SkyCatalog
from dsa110_resources.tileinfo import TileInfo
from dsa110_resources.stores import layout
from dsa110_resources.stores.tiers import StorageTiers

from . import qa, registry, skymodel
from .gates import SolutionGates, enforce as enforce_gates
from .averaging import time_average_ms
from .flagging import FlagSummary, flag_fractions

log = logging.getLogger(__name__)

__all__ = [
    "NoReferenceAntenna",
    "SolveOptions",
    "SolveResult",
    "choose_refant",
    "solve_calibrator",
    "solve_gains_on_sky_model",
]

STEPS = "dsa110_resources.calibration.casa_steps"
#: DSA-110 outriggers (station numbers = MS antenna names), the preferred refants.
OUTRIGGERS = tuple(str(n) for n in range(103, 118))
#: Table type -> layout suffix.
SUFFIX = {"K": "kcal", "B": "bcal", "G": "gcal"}


class NoReferenceAntenna(RuntimeError):
    """No antenna has enough unflagged data to serve as reference."""


@dataclass(frozen=True)
class SolveOptions:
    """Solve parameters (defaults follow DSA-110 practice, see the facts file)."""

    delay: bool = False
    bandpass_minsnr: float = 3.0
    fillgaps: int = 3  # fill runs of <= 3 flagged channels in the bandpass
    gain_solint: str = "inf"  # per tile; '60s' for per-minute gains
    gain_minsnr: float = 3.0
    gaintype: str = "G"  # per polarisation (XX and YY separately); 'T' ties them
    minblperant: int = 4
    uvrange: str = ""
    refant_preference: tuple[str, ...] = OUTRIGGERS
    refant_max_flagged: float = 0.5  # an antenna flagged more than this is not a refant
    refant_chain_length: int = 4
    average_for_solve: bool = True  # solve per-tile tables on a time-averaged copy (averaging.py)
    policy: registry.ValidityPolicy = field(default_factory=registry.ValidityPolicy)
    gates: SolutionGates = field(default_factory=SolutionGates)  # a table failing them is retired
    timeout: float | None = None  # seconds per CASA step; None: child_steps.step_timeout(ms)

    def to_dict(self) -> dict:
        out = {k: v for k, v in self.__dict__.items() if k not in ("policy", "gates")}
        out["gates"] = {k: (dict(v) if isinstance(v, Mapping) else v) for k, v in self.gates.__dict__.items()}
        out["refant_preference"] = list(self.refant_preference)
        out["validity_hours"] = {
            "B": self.policy.bandpass.to_value(u.hour),
            "G": self.policy.gain.to_value(u.hour),
            "K": self.policy.delay.to_value(u.hour),
        }
        return out


@dataclass
class SolveResult:
    """What a solve produced: registered tables, refant, model and QA."""

    tile_id: str
    ms: str
    tables: dict[str, str]  # caltype -> published path
    table_ids: dict[str, int]  # caltype -> registry id
    refant: str
    refant_chain: list[str]
    qa: dict[str, dict]
    model: dict
    casa_version: str
    timings: dict[str, float] = field(default_factory=dict)
    rejected: dict[str, list[str]] = field(default_factory=dict)  # caltype -> why the QA gates retired it

    @property
    def usable(self) -> bool:
        return not self.rejected


def choose_refant(
    flag_summary: FlagSummary | Mapping[str, float],
    preference: Sequence[str] = OUTRIGGERS,
    *,
    max_flagged: float = 0.5,
    chain_length: int = 4,
) -> list[str]:
    """An ordered reference-antenna chain, best first.

    Ranked by the flagged fraction over channels where the array has data.
    Preferred antennas (in their given order of preference, least flagged
    first among equals) that are flagged less than ``max_flagged``; then every
    other usable antenna by increasing flagged fraction. Raises
    NoReferenceAntenna when no antenna qualifies.
    """
    if isinstance(flag_summary, FlagSummary):
        fractions = flag_summary.per_antenna_live or flag_summary.per_antenna
    else:
        fractions = dict(flag_summary)
    usable = {name: f for name, f in fractions.items() if f < max_flagged}
    if not usable:
        raise NoReferenceAntenna(
            f"no antenna is flagged less than {max_flagged:.0%} "
            f"(least flagged: {min(fractions.values(), default=1.0):.0%})"
        )
    rank = {name: i for i, name in enumerate(preference)}
    preferred = sorted((n for n in usable if n in rank), key=lambda n: (round(usable[n], 2), rank[n]))
    others = sorted((n for n in usable if n not in rank), key=lambda n: (usable[n], n))
    return (preferred + others)[:max(1, chain_length)]


def _live_antennas(summary: FlagSummary | Mapping[str, float]) -> list[str]:
    """Antennas with any unflagged cross-correlation data."""
    fractions = summary.per_antenna if isinstance(summary, FlagSummary) else summary
    return [name for name, f in fractions.items() if f < 1.0]


def _solve_input(ms: Path, stage: Path, options: SolveOptions, *, per_tile: bool) -> str:
    """The MS the solves read: a time-averaged copy for per-tile solves (see averaging.py)."""
    if options.average_for_solve and per_tile:
        return str(time_average_ms(ms, stage / f"{ms.stem}.avg.ms"))
    return str(ms)


def _published(tiers: StorageTiers, tile_id: str, caltype: str) -> Path:
    return tiers.product_path(layout.caltable_path(tile_id, SUFFIX[caltype]))


def _gaincal(ms: str, caltable: Path, workdir: Path, options: SolveOptions, **kwargs) -> dict:
    # 'flex': where the first refant has no data in an interval, use the next in the chain.
    return run_casa(f"{STEPS}:gaincal", ms, str(caltable), workdir=workdir,
                    timeout=step_limit(options.timeout, ms),
                    refantmode="flex", **kwargs)


def _common(options: SolveOptions, refants: list[str]) -> dict:
    """Selection and reference shared by the solves: cross-correlations only."""
    return dict(refant=",".join(refants), minblperant=options.minblperant, uvrange=options.uvrange,
                antenna="*&*")


def _register(db, path: Path, caltype: str, obs: TileInfo, *, ms: str, calibrator: str | None,
              refant: str, version: str, parameters: dict, qa_figures: dict, policy) -> int:
    return registry.register_table(
        db, path, caltype, obs.mid_time, policy=policy, source_ms=ms, source_tile_id=obs.tile_id,
        calibrator=calibrator, refant=refant, casa_version=version, parameters=parameters, qa=qa_figures,
    )


def solve_calibrator(
    ms: str | Path,
    calibrator: str | Calibrator,
    *,
    tiers: StorageTiers,
    db=None,
    flag_summary: FlagSummary | None = None,
    options: SolveOptions = SolveOptions(),
    calibrators: Mapping[str, Calibrator] | None = None,
    field_sources: SkyCatalog | None = None,
    tile_id: str | None = None,
) -> SolveResult:
    """Model the calibrator, solve (K,) B and G, publish and register the tables.

    ``flag_summary`` (from :func:`flag_ms`) ranks the reference antennas; it
    is measured from the MS when not given. ``field_sources``, if given, are
    added to the model (sources above a limit in the beam, already selected).
    """
    ms = Path(ms)
    obs = TileInfo.read(ms, tile_id)
    timings: dict[str, float] = {}
    t0 = time.perf_counter()
    cal = skymodel.resolve_calibrator(calibrator, calibrators)
    model = skymodel.calibrator_model(ms, cal, field_sources=field_sources)
    cal_name = model.get("calibrator")
    timings["model"] = time.perf_counter() - t0

    summary = flag_summary or flag_fractions(ms)
    chain = choose_refant(summary, options.refant_preference, max_flagged=options.refant_max_flagged,
                          chain_length=options.refant_chain_length)
    refant = chain[0]
    log.info("tile %s: reference antenna chain %s", obs.tile_id, chain)

    tables: dict[str, str] = {}
    ids: dict[str, int] = {}
    figures: dict[str, dict] = {}
    version = ""
    common = _common(options, chain)
    with tiers.staging(f"{obs.tile_id}-solve") as stage:
        work = stage / "casa"
        staged: dict[str, Path] = {}
        applied: list[str] = []
        t = time.perf_counter()
        solve_ms = _solve_input(ms, stage, options, per_tile=True)
        timings["average"] = time.perf_counter() - t
        gain_ms = solve_ms if options.gain_solint == "inf" else str(ms)
        # One CASA process for the chain: K -> B -> G, each with the earlier ones applied.
        steps = []
        if options.delay:
            staged["K"] = stage / f"{obs.tile_id}.kcal"
            steps.append(dict(task="gaincal", vis=solve_ms, caltable=str(staged["K"]), gaintype="K",
                              solint="inf", minsnr=options.bandpass_minsnr, gaintable=list(applied),
                              refantmode="flex", **common))
            applied.append(str(staged["K"]))
        staged["B"] = stage / f"{obs.tile_id}.bcal"
        steps.append(dict(task="bandpass", vis=solve_ms, caltable=str(staged["B"]), solint="inf",
                          combine="scan", bandtype="B", solnorm=True, minsnr=options.bandpass_minsnr,
                          fillgaps=options.fillgaps, gaintable=list(applied), **common))
        applied.append(str(staged["B"]))
        staged["G"] = stage / f"{obs.tile_id}.gcal"
        steps.append(dict(task="gaincal", vis=gain_ms, caltable=str(staged["G"]), gaintype=options.gaintype,
                          calmode="ap", solint=options.gain_solint, minsnr=options.gain_minsnr,
                          gaintable=list(applied), refantmode="flex", **common))
        t = time.perf_counter()
        outs = run_casa(f"{STEPS}:solve_chain", steps, workdir=work, timeout=step_limit(options.timeout, ms))
        version = outs[-1]["casa_version"]
        timings["solve_" + "".join(staged)] = time.perf_counter() - t

        t = time.perf_counter()
        live = _live_antennas(summary)
        for caltype, path in staged.items():
            figures[caltype] = qa.solution_qa(path, live)
        for caltype in ("K", "B", "G"):
            if caltype not in staged:
                continue
            final = tiers.publish(staged[caltype], layout.caltable_path(obs.tile_id, SUFFIX[caltype]))
            tables[caltype] = str(final)
        timings["publish"] = time.perf_counter() - t

    if db is not None:
        base = {"solve": options.to_dict(), "refant_chain": chain, "model": model,
                "flagged_fraction": summary.total if isinstance(summary, FlagSummary) else None}
        for caltype in ("K", "B", "G"):
            if caltype not in tables:
                continue
            parameters = dict(base, pre_applied=[tables[c] for c in ("K", "B") if c in tables and c != caltype
                                                  and ("K", "B", "G").index(c) < ("K", "B", "G").index(caltype)])
            if caltype in ("B", "G") and "K" in ids:
                parameters["delay_table_id"] = ids["K"]
            if caltype == "G" and "B" in ids:
                parameters["bandpass_table_id"] = ids["B"]
            ids[caltype] = _register(db, Path(tables[caltype]), caltype, obs, ms=str(ms), calibrator=cal_name,
                                     refant=refant, version=version, parameters=parameters,
                                     qa_figures=figures[caltype], policy=options.policy)
    rejected = _gate(db, ids, options)
    return SolveResult(obs.tile_id, str(ms), tables, ids, refant, chain, figures, model, version, timings,
                       rejected)


def _gate(db, ids: dict[str, int], options: SolveOptions) -> dict[str, list[str]]:
    """The QA gates on freshly registered tables: failures are retired before anything applies them."""
    if db is None or not ids:
        return {}
    failed = enforce_gates(db, ids, options.gates)
    by_id = {v: k for k, v in ids.items()}
    for tid, problems in failed.items():
        log.warning("table %s (%s) retired by the QA gates: %s", tid, by_id.get(tid, "dependent"), "; ".join(problems))
    return {by_id[tid]: problems for tid, problems in failed.items() if tid in by_id}


def solve_gains_on_sky_model(
    ms: str | Path,
    catalog: SkyCatalog,
    *,
    tiers: StorageTiers,
    db=None,
    bandpass: registry.SelectedTable | str | Path | None = None,
    delay: registry.SelectedTable | str | Path | None = None,
    flux_limit: u.Quantity = 10 * u.mJy,
    flag_summary: FlagSummary | None = None,
    options: SolveOptions = SolveOptions(),
    catalog_name: str | None = None,
    tile_id: str | None = None,
) -> SolveResult:
    """Hourly gains on a science tile: catalog sky model, B (and K) pre-applied.

    Without an explicit ``bandpass`` the registry (``db``) supplies the valid
    one nearest the tile, or on a day without a usable transit the newest one
    within the carry-forward limit (:func:`registry.bandpass_for_gains`); with
    neither, this refuses (NoValidCalibration).
    """
    ms = Path(ms)
    obs = TileInfo.read(ms, tile_id)
    timings: dict[str, float] = {}
    if bandpass is None:
        if db is None:
            raise registry.NoValidCalibration(registry.as_datetime(obs.mid_time),
                                              {"B": "no bandpass given and no registry to look one up in"})
        bandpass = registry.bandpass_for_gains(db, obs.mid_time, policy=options.policy)
        delay_id = bandpass.parameters.get("delay_table_id")
        if delay is None and delay_id is not None:
            delay = registry.lookup_table(db, "K", bandpass.solved_for, policy=options.policy)
    pre = [t for t in (delay, bandpass) if t is not None]
    pre_paths = [t.path if isinstance(t, registry.SelectedTable) else str(t) for t in pre]

    t = time.perf_counter()
    model = skymodel.catalog_model(ms, catalog, flux_limit=flux_limit, catalog_name=catalog_name)
    timings["model"] = time.perf_counter() - t

    summary = flag_summary or flag_fractions(ms)
    chain = choose_refant(summary, options.refant_preference, max_flagged=options.refant_max_flagged,
                          chain_length=options.refant_chain_length)
    with tiers.staging(f"{obs.tile_id}-gains") as stage:
        staged = stage / f"{obs.tile_id}.gcal"
        t = time.perf_counter()
        solve_ms = _solve_input(ms, stage, options, per_tile=options.gain_solint == "inf")
        timings["average"] = time.perf_counter() - t
        t = time.perf_counter()
        out = _gaincal(solve_ms, staged, stage / "casa", options, gaintype=options.gaintype, calmode="ap",
                       solint=options.gain_solint, minsnr=options.gain_minsnr, gaintable=pre_paths,
                       **_common(options, chain))
        timings["solve_G"] = time.perf_counter() - t
        figures = {"G": qa.solution_qa(staged, _live_antennas(summary))}
        final = str(tiers.publish(staged, layout.caltable_path(obs.tile_id, "gcal")))
    ids: dict[str, int] = {}
    if db is not None:
        parameters = {"solve": options.to_dict(), "refant_chain": chain, "model": model, "pre_applied": pre_paths}
        if isinstance(bandpass, registry.SelectedTable):
            parameters["bandpass_table_id"] = bandpass.id
            parameters["bandpass_age_hours"] = round(bandpass.age_hours, 3)
            parameters["bandpass_carried_forward"] = bandpass.carried_forward
        if isinstance(delay, registry.SelectedTable):
            parameters["delay_table_id"] = delay.id
        ids["G"] = _register(db, Path(final), "G", obs, ms=str(ms), calibrator=None, refant=chain[0],
                             version=out["casa_version"], parameters=parameters, qa_figures=figures["G"],
                             policy=options.policy)
    return SolveResult(obs.tile_id, str(ms), {"G": final}, ids, chain[0], chain, figures, model,
                       out["casa_version"], timings, _gate(db, ids, options))
