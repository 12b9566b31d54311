#!/usr/bin/env bash
# The test command: sets up the virtualenv if needed, then lint + the whole test suite.
# Test files run in parallel (pytest-xdist), a whole file per worker so that its module
# fixtures are built once, with one torch thread per worker: on the 2-core VM ~20 min of tests
# on an AMD EPYC (~23 with the install, 2026-12-07; ~14 on the Intel Xeon VM) instead of about
# twice that. BCVLR_TEST_WORKERS=0 runs them in one process (e.g. with -x or --pdb).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
source "$ROOT/scripts/setup-env.sh"
cd "$ROOT"
ruff check .
workers="${BCVLR_TEST_WORKERS:-$(python -c 'import os; print(min(4, len(os.sched_getaffinity(0))))')}"
export OMP_NUM_THREADS="${OMP_NUM_THREADS:-1}"
python -m pytest -n "$workers" --dist loadfile --durations=15 "$@"
