"""Module-level CASA steps, run in a child process by ``casa.run_casa``.

Each function imports casatasks itself (the parent never does), takes and
returns plain picklable values, and raises on any CASA failure: casatasks
often log a SEVERE message and return None/False instead of raising, which
the old pipeline mistook for success. Every solve checks that its table
exists and holds rows before returning.
"""

from __future__ import annotations

import os
from pathlib import Path


def casa_version() -> str:
    import casatools

    return casatools.version_string()


def _require_table(path: str, what: str) -> int:
    import casatools

    if not os.path.isdir(path):
        raise RuntimeError(f"{what} produced no table at {path}")
    tb = casatools.table()
    tb.open(path)
    try:
        n = tb.nrows()
    finally:
        tb.close()
    if n == 0:
        raise RuntimeError(f"{what} wrote an empty table {path} (no solutions)")
    return n


def flag_rfi(ms: str, mode: str = "tfcrop", datacolumn: str = "data") -> dict:
    """CASA fallback RFI flagging (tfcrop or rflag) on cross-correlations."""
    import casatasks

    if mode not in ("tfcrop", "rflag"):
        raise ValueError(f"unknown CASA flagging mode {mode!r}")
    kwargs = dict(vis=ms, mode=mode, datacolumn=datacolumn, antenna="*&*", action="apply",
                  flagbackup=False, display="", extendflags=False)
    if mode == "tfcrop":
        kwargs.update(timecutoff=4.0, freqcutoff=3.0, freqfit="poly", maxnpieces=7, ntime="scan")
    else:
        kwargs.update(timedevscale=5.0, freqdevscale=5.0, ntime="scan")
    casatasks.flagdata(**kwargs)
    summary = casatasks.flagdata(vis=ms, mode="summary", antenna="*&*")
    return {"flagged": float(summary["flagged"]), "total": float(summary["total"])}


def ft_components(ms: str, components: list[dict], cl_path: str) -> None:
    """MODEL_DATA via a CASA component list and ``ft`` (used to verify our DFT)."""
    import casatasks
    import casatools

    cl = casatools.componentlist()
    for comp in components:
        cl.addcomponent(dir=comp["dir"], flux=comp["flux"], fluxunit="Jy", freq=comp["freq"],
                        shape="point", spectrumtype="spectral index", index=comp.get("index", 0.0))
    cl.rename(cl_path)
    cl.close()
    casatasks.ft(vis=ms, complist=cl_path, usescratch=True)


def gaincal(ms: str, caltable: str, **kwargs) -> dict:
    """``casatasks.gaincal`` (K, G) with the common defaults of our solves."""
    import casatasks

    casatasks.gaincal(vis=ms, caltable=caltable, **kwargs)
    rows = _require_table(caltable, f"gaincal gaintype={kwargs.get('gaintype')}")
    return {"rows": rows, "casa_version": casa_version()}


def bandpass(ms: str, caltable: str, **kwargs) -> dict:
    import casatasks

    casatasks.bandpass(vis=ms, caltable=caltable, **kwargs)
    return {"rows": _require_table(caltable, "bandpass"), "casa_version": casa_version()}


def applycal(ms: str, gaintable: list[str], interp: list[str], calwt: bool = True,
             flagbackup: bool = False) -> dict:
    import casatasks

    for table in gaintable:
        if not Path(table).is_dir():
            raise FileNotFoundError(f"caltable to apply does not exist: {table}")
    casatasks.applycal(vis=ms, gaintable=gaintable, interp=interp, calwt=[calwt] * len(gaintable),
                       applymode="calflag", flagbackup=flagbackup)
    return {"applied": list(gaintable)}


def solve_chain(steps: list[dict]) -> list[dict]:
    """Several solves in one CASA process (one interpreter start instead of one per
    table). Each step: {"task": "gaincal" | "bandpass", "vis", "caltable", **kwargs};
    a step's ``gaintable`` names tables of earlier steps. Stops at the first failure."""
    tasks = {"gaincal": gaincal, "bandpass": bandpass}
    results = []
    for step in steps:
        step = dict(step)
        task = tasks[step.pop("task")]
        results.append(task(step.pop("vis"), step.pop("caltable"), **step))
    return results


def standard_fluxes(names: list[str], standard: str, epoch_iso: str, freqs_hz: list[float],
                    prefix: str) -> dict[str, list[float]]:
    """Stokes-I flux (Jy) of flux-standard calibrators at each frequency: CASA's
    FluxStandard (what ``setjy`` uses), through ``imager.predictcomp``."""
    return {name: _standard_flux(name, standard, epoch_iso, freqs_hz, f"{prefix}{i}_")
            for i, name in enumerate(names)}


def _standard_flux(name: str, standard: str, epoch_iso: str, freqs_hz: list[float], prefix: str) -> list[float]:
    import casatools

    im, me, cl = casatools.imager(), casatools.measures(), casatools.componentlist()
    epoch = me.epoch("UTC", epoch_iso.replace("-", "/", 2))
    path = im.predictcomp(name, standard, epoch, [float(f) for f in freqs_hz], prefix)
    if not path or not os.path.isdir(path):
        raise RuntimeError(f"CASA has no {standard} model for {name}")
    cl.open(path)
    try:
        spectrum = cl.getcomponent(0)["spectrum"]
    finally:
        cl.close(False)
    if "ival" in spectrum:  # tabular: one value per requested frequency
        values = [float(v) for v in spectrum["ival"]]
    else:
        raise RuntimeError(f"unexpected spectrum from predictcomp for {name}: {spectrum.get('type')}")
    if len(values) != len(freqs_hz):
        raise RuntimeError(f"predictcomp gave {len(values)} fluxes for {len(freqs_hz)} frequencies ({name})")
    return values
