#!/bin/bash
# Open choices of docs/baselines.md whose 2026-11-25/26 runs were not kept, measured again on starpilot with the
# videos of docs/runs/2026-12-06-starpilot (its PPO expert's 50k transitions): bash run.sh [NAME...]
# upesv0-2: UPESV's default (the BCV-LR paper's reading) | ilpo_argmax: the reference's acting |
# ilpo_explored_argmax: ARN fit on explored transitions, argmax acting | bco_iid: BCO's I_pre without sticky actions |
# bco_first300: BCO's first IDM fit as long as the later ones; a trailing 1 (ilpo_argmax1, bco_iid1, bco_first3001):
# the same on seed 1 (run by name only). One at a time, one thread, niced.
source /work/main/.venv/bin/activate
export OMP_NUM_THREADS=1
cd /work/scratch/choices
V=/work/scratch/starpilot/videos
C=/work/main/config
E="--task starpilot --videos $V --no-progress"
declare -A CMD=(
  [upesv0]="--method upesv --seed 0 --config $C/upesv.yaml --eval-episodes 256"
  [upesv1]="--method upesv --seed 1 --config $C/upesv.yaml --eval-episodes 256"
  [upesv2]="--method upesv --seed 2 --config $C/upesv.yaml --eval-episodes 256"
  [ilpo_argmax]="--method ilpo --seed 0 --config $C/ilpo.yaml --eval-every 25600 --eval-episodes 128 --set arn.stochastic=false"
  [ilpo_explored_argmax]="--method ilpo --seed 0 --config $C/ilpo.yaml --eval-every 25600 --eval-episodes 128 --set arn.stochastic=false --set arn.fit_on=explored"
  [bco_iid]="--method bco --seed 0 --config $C/bco.yaml --eval-episodes 256 --eval-every 100000 --set sticky=0"
  [bco_first300]="--method bco --seed 0 --config $C/bco.yaml --eval-episodes 256 --eval-every 100000 --set idm_first_updates=300"
  [ilpo_argmax1]="--method ilpo --seed 1 --config $C/ilpo.yaml --eval-every 25600 --eval-episodes 128 --set arn.stochastic=false"
  [bco_iid1]="--method bco --seed 1 --config $C/bco.yaml --eval-episodes 256 --eval-every 100000 --set sticky=0"
  [bco_first3001]="--method bco --seed 1 --config $C/bco.yaml --eval-episodes 256 --eval-every 100000 --set idm_first_updates=300"
)
NAMES=${@:-upesv0 upesv1 upesv2 ilpo_argmax ilpo_explored_argmax bco_iid bco_first300}
for N in $NAMES; do
  [ -f finished-$N ] && continue
  git -C /work/main rev-parse HEAD >> commit-$N.txt
  /usr/bin/time -f "%e s wall" nice -n 5 bcvlr run $E ${CMD[$N]} --runs-root runs-$N > log.$N 2>&1 && echo done > finished-$N
done
