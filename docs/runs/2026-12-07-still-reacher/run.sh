#!/bin/bash
# The zero-action policy on reacher_easy with the random floor's command (docs/runs/2026-12-06-reacher/
# random40k: 10 seeds, 50 episodes at 40k frames), so both are scored on the same evaluation episodes.
source /work/main/.venv/bin/activate
export OMP_NUM_THREADS=1
mkdir -p /work/scratch/still && cd /work/scratch/still
git -C /work/main rev-parse HEAD > commit.txt
for S in 0 1 2 3 4 5 6 7 8 9; do
  nice -n 5 bcvlr run --method random --set policy=zero --task reacher_easy --seed $S --budget 40000 \
    --eval-episodes 50 --eval-every 20000 --runs-root runs --no-progress > log.zero$S 2>&1
done
echo done > finished
