"""Where the project keeps machine-local state (configs, parsed-table caches).

Inside the virtual environment, so a fresh checkout writes nothing in the home
directory; the user cache directory when the environment is read-only. An
environment variable can name the place instead.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path


def local_state_dir(name: str, env_var: str | None = None) -> Path:
    """A writable directory for ``name`` (created)."""
    if env_var and (env := os.environ.get(env_var)):
        directory = Path(env).expanduser().resolve()
        directory.mkdir(parents=True, exist_ok=True)
        return directory
    candidate = Path(sys.prefix) / "var" / f"dsa110-{name}"
    try:
        candidate.mkdir(parents=True, exist_ok=True)
        if os.access(candidate, os.W_OK):
            return candidate
    except OSError:
        pass
    fallback = Path.home() / ".cache" / "dsa110" / name
    fallback.mkdir(parents=True, exist_ok=True)
    return fallback
