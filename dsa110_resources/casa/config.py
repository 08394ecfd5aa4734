"""Offline CASA configuration, owned by the project.

CASA reads a *site* config named by ``CASASITECONFIG`` before the user's
``~/.casa/config.py``. We write our own site config (data from the
``casadata`` package; measures from the operator's ``DSA110_MEASURES_DIR``
when set, see ``measures.py``; auto-updates off, logs out of the working
directory) and point the variable at it, so ``import casatasks`` never edits
a home directory and never touches the network. This must happen before the first
``import casatools``; ``dsa110_resources/__init__`` does it on import.
"""

from __future__ import annotations

import os
from pathlib import Path

from ..local_state import local_state_dir
from .measures import configured_measures_dir

_TEMPLATE = '''\
# Written by dsa110_resources.casa.config; regenerated when it differs.
import casadata
measurespath = {measurespath}
datapath = {datapath}
measures_auto_update = False
data_auto_update = False
skipnetworkcheck = True
nologger = True
log2term = False
logfile = {logfile!r}
cachedir = {cachedir!r}
'''


def casa_config_dir() -> Path:
    """Where the project's CASA config and default log live (``DSA110_CASA_DIR`` wins)."""
    return local_state_dir("casa", "DSA110_CASA_DIR")


def ensure_casa_environment() -> Path:
    """Write the site config if needed and point CASA at it. Idempotent, cheap."""
    directory = casa_config_dir()
    directory.mkdir(parents=True, exist_ok=True)
    config = directory / "casasiteconfig.py"
    measures = configured_measures_dir()
    text = _TEMPLATE.format(
        logfile=str(directory / "casa.log"), cachedir=str(directory / "cache"),
        measurespath="casadata.datapath" if measures is None else repr(str(measures)),
        datapath="[casadata.datapath]" if measures is None else f"[{str(measures)!r}, casadata.datapath]",
    )
    if not config.exists() or config.read_text() != text:
        tmp = config.with_suffix(f".tmp{os.getpid()}")
        tmp.write_text(text)
        os.replace(tmp, config)
    os.environ["CASASITECONFIG"] = str(config)
    return config
