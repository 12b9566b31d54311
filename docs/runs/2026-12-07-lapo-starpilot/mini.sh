#!/bin/bash
# docs/baselines.md LAPO measurements at 25.6k env steps (config/lapo_mini.yaml, "v3"), seed 0, measured again:
# LAPO-BC, then LAPO (rl) on LAPO-BC's stages 1-2 (copied into its run folder, so it skips them), and random seeds 0-2.
# Ran beside the two LAPO-BC v4 seeds of run.sh, after the DrQv2 seed-1 run had finished.
# Since 2026-12-07 the literal schedule at this budget is refused before any compute (lapo.check_run):
# the runs here predate that; rescaled.sh repeats them with online.schedule=rescaled.
source /work/main/.venv/bin/activate
export OMP_NUM_THREADS=1
cd /work/scratch/starpilot
git -C /work/main rev-parse HEAD > commit-mini.txt
R="--runs-root runs-mini --no-progress --budget 25600 --eval-episodes 64"
T="/usr/bin/time -f %e_s_wall nice -n 5"
$T bcvlr run --method lapo_bc --task starpilot --seed 0 --videos videos --config /work/main/config/lapo_mini.yaml $R > log.mini_lapobc 2>&1
mkdir -p runs-mini/lapo/starpilot/seed0
cp -r runs-mini/lapo_bc/starpilot/seed0/pretrain runs-mini/lapo/starpilot/seed0/
$T bcvlr run --method lapo --task starpilot --seed 0 --videos videos --config /work/main/config/lapo_mini.yaml $R > log.mini_lapo 2>&1
for S in 0 1 2; do
  $T bcvlr run --method random --task starpilot --seed $S $R > log.mini_random$S 2>&1
done
echo done > finished-mini
