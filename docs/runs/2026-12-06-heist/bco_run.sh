#!/bin/bash
# BCO on heist with the planner's videos (issue #28): the heist table's protocol
source /work/main/.venv/bin/activate
export OMP_NUM_THREADS=1
cd /work/scratch/bco-heist
git -C /work/main rev-parse HEAD > commit.txt
for S in 0 1 2; do
  /usr/bin/time -f "%e s wall" nice -n 10 bcvlr run --method bco --task heist --seed $S --videos /work/scratch/heist/videos \
    --config /work/main/config/bco.yaml --eval-episodes 256 --eval-every 100000 --runs-root runs --no-progress > log.seed$S 2>&1
done
