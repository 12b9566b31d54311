#!/usr/bin/env bash
# The main job: sets up the virtualenv if needed, then runs the embedded default on this machine.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
source "$ROOT/scripts/setup-env.sh"
cd "$ROOT"
# Until the workflow lands, the main job is a short real demo over every task's simulator.
bcvlr demo "$@"
