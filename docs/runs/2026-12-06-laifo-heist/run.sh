#!/bin/bash
# discrete LAIfO on heist, planner videos, paper defaults, 3 seeds sequential
source /work/main/.venv/bin/activate
export OMP_NUM_THREADS=1
cd /work/scratch/laifo-heist
for S in 0 1 2; do
  /usr/bin/time -v nice -n 10 bcvlr run --method laifo --task heist --seed $S \
    --videos /work/scratch/heist/videos --runs-root runs --no-progress --eval-episodes 256 --eval-every 100000 \
    > log.seed$S 2>&1
done
