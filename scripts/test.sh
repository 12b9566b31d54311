#!/usr/bin/env bash
# The test command: sets up the virtualenv if needed, then lint + the whole test suite.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
source "$ROOT/scripts/setup-env.sh"
cd "$ROOT"
ruff check .
python -m pytest --durations=15 "$@"
