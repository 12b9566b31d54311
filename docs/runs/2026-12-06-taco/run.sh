#!/bin/bash
# docs/baselines.md "TACO, Measured (CPU, reduced)": the same commands, runs kept this time
source /work/main/.venv/bin/activate
export OMP_NUM_THREADS=1
cd /work/scratch/taco6k
git -C /work/main rev-parse HEAD > commit.txt
SETS="--set seed_frames=2000 --set batch_size=64 --set hidden_dim=256 --set feature_dim=32 --set replay_size=20000 --set threads=1 --set log_every=250"
E="--task reacher_easy --seed 0 --budget 6000 --eval-every 2000 --eval-episodes 5 --runs-root runs --no-progress"
for M in taco drqv2; do
  /usr/bin/time -f "%e s wall, %U s user" nice -n 10 bcvlr run --method $M $E --config /work/main/config/$M.yaml $SETS > log.$M 2>&1
done
/usr/bin/time -f "%e s wall" nice -n 10 bcvlr run --method random $E > log.random 2>&1
