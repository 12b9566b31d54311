#!/bin/bash
# config/bco.yaml's lr choice measured: BCO on reacher_easy, seed 0, 40k frames, at lr 1e-3 instead of 3e-4
# (the comparison: docs/runs/2026-12-06-reacher/bco/seed0, the same command at the config's lr). One thread, niced.
source /work/main/.venv/bin/activate
export OMP_NUM_THREADS=1
mkdir -p /work/scratch/choices && cd /work/scratch/choices
git -C /work/main rev-parse HEAD >> commit-bco_reacher_lr1e-3.txt
/usr/bin/time -f "%e s wall" nice -n 5 bcvlr run --method bco --task reacher_easy --seed 0 \
  --videos /work/scratch/reacher/videos --config /work/main/config/bco.yaml --set lr=1e-3 --budget 40000 \
  --eval-episodes 50 --eval-every 20000 --runs-root runs-bco_reacher_lr1e-3 --no-progress > log.bco_reacher_lr1e-3 2>&1 \
  && echo done > finished-bco_reacher_lr1e-3
