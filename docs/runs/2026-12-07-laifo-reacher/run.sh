#!/bin/bash
# docs/baselines.md LAIfO glance row measured again with today's default (actor_trunk: critic):
# config/laifo.yaml at 100k frames (the paper's Table 2 budget), reacher_easy expert videos
# (40 episodes, 20k transitions). bash run.sh SEED
source /work/main/.venv/bin/activate
export OMP_NUM_THREADS=1
cd /work/scratch/laifo
S=$1
git -C /work/main rev-parse HEAD > commit$S.txt
/usr/bin/time -f "%e s wall" nice -n 5 bcvlr run --method laifo --task reacher_easy --seed $S \
  --videos /work/scratch/reacher/videos --config /work/main/config/laifo.yaml \
  --set replay_size=100000 --set checkpoint_every=2500 --budget 100000 \
  --eval-every 10000 --eval-episodes 20 --runs-root runs --no-progress > log.laifo_$S 2>&1
echo done > finished$S
