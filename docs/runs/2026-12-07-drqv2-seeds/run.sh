#!/bin/bash
# docs/baselines.md DrQv2 row, one seed measured again (the documented command): bash run.sh SEED FRAMES
# Seed 1 (60000) ran beside docs/runs/2026-12-07-lapo-starpilot/run.sh 0 and 1 (three jobs on two cores).
source /work/main/.venv/bin/activate
export OMP_NUM_THREADS=1
cd /work/scratch/drqv2s134
S=$1; B=$2
git -C /work/main rev-parse HEAD > commit$S.txt
/usr/bin/time -f "%e s wall" nice -n 5 bcvlr run --method drqv2 --task reacher_easy --seed $S \
  --config /work/main/config/drqv2.yaml --set seed_frames=2000 --set batch_size=64 \
  --set hidden_dim=256 --set feature_dim=32 --set replay_size=$B --set threads=1 \
  --budget $B --eval-every 10000 --eval-episodes 20 --runs-root runs --no-progress > log.drqv2_$S 2>&1
echo done > finished$S
