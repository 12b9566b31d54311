#!/bin/bash
# ILPO latent-action diagnostic (diag_lpn.py) on the finished ILPO runs' LPNs, 2000 held-out and
# 2000 fit transitions each, sampling seed 0; niced, one thread, beside two long CPU experiments.
# No ILPO metaworld_reach run with pretrain/lpn/lpn.pt exists under /work/scratch (find below).
source /work/main/.venv/bin/activate
export OMP_NUM_THREADS=1
cd /work/main
D=docs/runs/2026-12-07-ilpo-diag
for S in 0 1; do
  nice -n 5 python $D/diag_lpn.py /work/scratch/starpilot/runs/ilpo/starpilot/seed$S \
    /work/scratch/starpilot/videos --transitions 2000 --seed 0 > $D/starpilot_seed$S.txt
done
nice -n 5 python $D/diag_lpn.py /work/scratch/reacher/runs/ilpo/reacher_easy/seed0 \
  /work/scratch/reacher/videos --transitions 2000 --seed 0 > $D/reacher_easy_seed0.txt
find /work/scratch -maxdepth 9 -name lpn.pt -path "*ilpo*" > $D/lpn_checkpoints_found.txt
