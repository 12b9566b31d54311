#!/bin/bash
# The same LAPO-BC / LAPO runs with the stage-3 schedule the 2026-11-26 measurements used (`online.schedule=rescaled`):
# each run folder starts with a copy of the stages 1-2 of its run.sh / mini.sh twin (same seed and settings, so they are reused).
# v4 seeds 0 and 1 side by side, then the 25.6k LAPO-BC and LAPO; one thread each, niced, nothing else running.
source /work/main/.venv/bin/activate
export OMP_NUM_THREADS=1
cd /work/scratch/starpilot
git -C /work/main rev-parse HEAD > commit-rescaled.txt
T="/usr/bin/time -f %e_s_wall nice -n 5"
C=/work/main/config/lapo_mini.yaml
for S in 0 1; do
  mkdir -p runs-rescaled/lapo_bc/starpilot/seed$S
  cp -r runs-lapo/lapo_bc/starpilot/seed$S/pretrain runs-rescaled/lapo_bc/starpilot/seed$S/
  $T bcvlr run --method lapo_bc --task starpilot --seed $S --videos videos --config $C --set latent_actions.updates=10000 \
    --set policy.updates=2000 --set checkpoint_every=500 --set online.schedule=rescaled --eval-episodes 256 \
    --runs-root runs-rescaled --no-progress > log.rescaled_lapobc$S 2>&1 &
done
wait
for M in lapo_bc lapo; do
  mkdir -p runs-rescaled-mini/$M/starpilot/seed0
  cp -r runs-mini/lapo_bc/starpilot/seed0/pretrain runs-rescaled-mini/$M/starpilot/seed0/
  $T bcvlr run --method $M --task starpilot --seed 0 --videos videos --config $C --set online.schedule=rescaled \
    --budget 25600 --eval-episodes 64 --runs-root runs-rescaled-mini --no-progress > log.rescaled_mini_$M 2>&1 &
done
wait
echo done > finished-rescaled
