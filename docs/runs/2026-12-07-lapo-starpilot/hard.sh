#!/bin/bash
# LAPO-BC v4 with hard (argmax) BC targets, on the stages 1-2 of run.sh SEED (copied, so only stage 3 runs):
# bash hard.sh [SEED [SCHEDULE...]]; without arguments seed 0 with `rescaled` (the 2026-11-26 hard row's
# schedule), then `literal` (today's default). One thread, niced.
source /work/main/.venv/bin/activate
export OMP_NUM_THREADS=1
cd /work/scratch/starpilot
S=${1:-0}; shift
SCHEDS=${@:-rescaled literal}
git -C /work/main rev-parse HEAD >> commit-hard$S.txt
C=/work/main/config/lapo_mini.yaml
for SCHED in $SCHEDS; do
  R=runs-hard-$SCHED
  mkdir -p $R/lapo_bc/starpilot/seed$S
  [ -d $R/lapo_bc/starpilot/seed$S/pretrain ] || cp -r runs-lapo/lapo_bc/starpilot/seed$S/pretrain $R/lapo_bc/starpilot/seed$S/
  /usr/bin/time -f "%e s wall" nice -n 5 bcvlr run --method lapo_bc --task starpilot --seed $S --videos videos \
    --config $C --set latent_actions.updates=10000 --set policy.updates=2000 --set checkpoint_every=500 \
    --set online.schedule=$SCHED --set online.bc_targets=hard --eval-episodes 256 \
    --runs-root $R --no-progress > log.hard${S}_$SCHED 2>&1
done
echo done > finished-hard$S
