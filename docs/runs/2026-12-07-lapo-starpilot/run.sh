#!/bin/bash
# docs/baselines.md LAPO-BC v4 rows (starpilot, 100k env steps, soft targets) measured again: bash run.sh SEED
# Seeds 0 and 1 ran side by side, beside docs/runs/2026-12-07-drqv2-seeds/run.sh 1 60000 (three jobs on two cores).
# Videos: the 50k transitions of docs/runs/2026-12-06-starpilot (videos/, from its PPO expert).
source /work/main/.venv/bin/activate
export OMP_NUM_THREADS=1
cd /work/scratch/starpilot
S=$1
git -C /work/main rev-parse HEAD > commit-lapo$S.txt
/usr/bin/time -f "%e s wall" nice -n 5 bcvlr run --method lapo_bc --task starpilot --seed $S --videos videos \
  --config /work/main/config/lapo_mini.yaml --set latent_actions.updates=10000 --set policy.updates=2000 \
  --set checkpoint_every=500 --eval-episodes 256 --runs-root runs-lapo --no-progress > log.lapobc$S 2>&1
echo done > finished-lapo$S
