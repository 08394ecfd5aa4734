#!/usr/bin/env bash
# Install everything the project needs, idempotently: a virtual environment in
# .venv with the pinned packages from pyproject.toml, and (as root, via apt)
# WSClean and AOFlagger. Re-running is cheap: pip runs only when pyproject.toml
# changed since the last successful install.
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON=${PYTHON:-python3.11}
command -v "$PYTHON" >/dev/null 2>&1 || PYTHON=python3

if [ ! -x .venv/bin/python ]; then
  echo "bootstrap: creating .venv with $($PYTHON --version)"
  "$PYTHON" -m venv .venv
fi

stamp=.venv/.dsa110-installed
want=$(sha256sum pyproject.toml | cut -d' ' -f1)
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ] || ! .venv/bin/python -c "import dsa110_resources" 2>/dev/null; then
  echo "bootstrap: installing pinned Python packages (first time: a few minutes)"
  .venv/bin/python -m pip install --quiet --upgrade pip
  .venv/bin/python -m pip install --quiet -e ".[test]"
  echo "$want" > "$stamp"
fi

missing=()
command -v wsclean >/dev/null 2>&1 || missing+=(wsclean)
command -v aoflagger >/dev/null 2>&1 || missing+=(aoflagger)
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "bootstrap: installing ${missing[*]} from Debian packages"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
  else
    echo "bootstrap: ${missing[*]} not found; install the Debian packages (sudo apt-get install ${missing[*]})" >&2
    exit 1
  fi
fi
