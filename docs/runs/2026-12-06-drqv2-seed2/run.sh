#!/bin/bash
# docs/baselines.md DrQv2 row, seed 2 to 120k frames (the "rises on seed 2" run measured again)
source /work/main/.venv/bin/activate
export OMP_NUM_THREADS=1
cd /work/scratch/drqv2s2
git -C /work/main rev-parse HEAD > commit.txt
/usr/bin/time -f "%e s wall" nice -n 5 bcvlr run --method drqv2 --task reacher_easy --seed 2 \
  --config /work/main/config/drqv2.yaml --set seed_frames=2000 --set batch_size=64 \
  --set hidden_dim=256 --set feature_dim=32 --set replay_size=120000 --set threads=1 \
  --budget 120000 --eval-every 10000 --eval-episodes 20 --runs-root runs --no-progress > log.drqv2 2>&1
echo done > finished
