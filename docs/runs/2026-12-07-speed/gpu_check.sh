#!/usr/bin/env bash
# Prepared for a session with a GPU (issue #29; not run yet): each BCV-LR stage's update rate at
# the paper's sizes in fp32 and bf16, real batches (frames held on the GPU) against synthetic
# ones, and theirs / ours on the GPU for both of the authors' codes. ~6 min on an H200.
# Before: copy the reacher_easy videos to .gpu/videos, the authors' checkouts to
# .gpu/authors/{BCV-LR,BCV-LR-discrete} and their dependencies (wheels for the device's
# Python) to .gpu/whl; run with carry [".gpu"]:
#   bash docs/runs/2026-12-07-speed/gpu_check.sh
set -u
export PYTHONUNBUFFERED=1
OUT=${OUT:-/tmp/out}
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv 2>&1
python3 -c "import torch, sys; print(sys.version.split()[0], torch.__version__, torch.cuda.is_available())"
python3 -m pip install -q --no-index --no-deps --no-compile --target /tmp/adeps .gpu/whl/*.whl 2>&1 | tail -n 2
for p in fp32 bf16; do
  timeout 150 python3 -m benchmarks.bcvlr --task reacher_easy --steps 20 --videos .gpu/videos \
    --set precision=$p 2>&1 | tee "$OUT/bench_$p.txt"
done
for repo in BCV-LR BCV-LR-discrete; do
  for p in fp32 bf16; do
    timeout 100 python3 -m benchmarks.bcvlr_reference --authors-repo ".gpu/authors/$repo" \
      --authors-deps /tmp/adeps --steps 20 --precision $p 2>&1 | tee "$OUT/reference_${repo}_$p.txt"
  done
done
