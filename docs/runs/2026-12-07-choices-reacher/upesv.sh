#!/bin/bash
# UPESV's default (the BCV-LR paper's reading) on reacher_easy, seeds 0 and 1, beside the joint variant's
# docs/runs/2026-12-06-reacher/upesv_joint (the same videos, budget and evaluation). One at a time, one thread, niced.
source /work/main/.venv/bin/activate
export OMP_NUM_THREADS=1
mkdir -p /work/scratch/choices && cd /work/scratch/choices
for S in 0 1; do
  [ -f finished-upesv_reacher$S ] && continue
  git -C /work/main rev-parse HEAD >> commit-upesv_reacher$S.txt
  /usr/bin/time -f "%e s wall" nice -n 5 bcvlr run --method upesv --task reacher_easy --seed $S \
    --videos /work/scratch/reacher/videos --config /work/main/config/upesv.yaml --budget 20000 \
    --eval-episodes 50 --eval-every 20000 --runs-root runs-upesv_reacher --no-progress > log.upesv_reacher$S 2>&1 \
    && echo done > finished-upesv_reacher$S
done
