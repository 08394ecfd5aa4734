#!/usr/bin/env bash
# The main command: installs what it needs, then runs the embedded demo
# (a simulated telescope feed into ./data, SQLite). Arguments go to `dsa110 demo`.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/bootstrap.sh
exec .venv/bin/dsa110 demo "$@"
