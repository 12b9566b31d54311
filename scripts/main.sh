#!/usr/bin/env bash
# The main job: sets up the virtualenv if needed, then runs the embedded default workflow
# (config/config.yaml: experts -> videos -> BCV-LR and baselines -> tables and figures) on this
# machine with the local profile (profiles/default). Extra arguments go to snakemake, e.g.
#   bash scripts/main.sh -n                       # show the plan
#   bash scripts/main.sh --configfile config/test.yaml
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
source "$ROOT/scripts/setup-env.sh"
cd "$ROOT"
snakemake "$@"
