#!/bin/bash
# The same as run.sh with the actor's own trunk (actor_trunk: own, LAIfO's default before
# 2026-12-06), side by side with run.sh on the other core: bash own.sh SEED
source /work/main/.venv/bin/activate
export OMP_NUM_THREADS=1
cd /work/scratch/laifo
S=$1
git -C /work/main rev-parse HEAD > commit-own$S.txt
/usr/bin/time -f "%e s wall" nice -n 5 bcvlr run --method laifo --task reacher_easy --seed $S \
  --videos /work/scratch/reacher/videos --config /work/main/config/laifo.yaml \
  --set replay_size=100000 --set checkpoint_every=2500 --set actor_trunk=own --budget 100000 \
  --eval-every 10000 --eval-episodes 20 --runs-root runs-own --no-progress > log.laifo_own_$S 2>&1
echo done > finished-own$S
