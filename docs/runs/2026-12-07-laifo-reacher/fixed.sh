#!/bin/bash
# run.sh again after 78b7d6d (the actor's update on the trunk features from before the critic's
# step, as the reference's): today's default, the same seed, budget and videos: bash fixed.sh SEED
source /work/main/.venv/bin/activate
export OMP_NUM_THREADS=1
cd /work/scratch/laifo
S=$1
git -C /work/main rev-parse HEAD >> commit-fixed$S.txt
/usr/bin/time -f "%e s wall" nice -n 5 bcvlr run --method laifo --task reacher_easy --seed $S \
  --videos /work/scratch/reacher/videos --config /work/main/config/laifo.yaml \
  --set replay_size=100000 --set checkpoint_every=2500 --budget 100000 \
  --eval-every 10000 --eval-episodes 20 --runs-root runs-fixed --no-progress >> log.laifo_fixed_$S 2>&1
echo done > finished-fixed$S
