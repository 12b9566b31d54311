#!/usr/bin/env bash
# Device check for #4: GPU update speed (ours, and ours vs the authors'), then a long
# latent-action pretraining on attempt 12's seed-0 features (probe every 250 updates).
# Env: STEPS (benchmark median over), LA_UPDATES, LA_TIMEOUT, OUT
set -u
export PYTHONUNBUFFERED=1
STEPS=${STEPS:-20}; LA_UPDATES=${LA_UPDATES:-6000}; LA_TIMEOUT=${LA_TIMEOUT:-240}
nvidia-smi --query-gpu=name,memory.total,driver_version,clocks.max.sm --format=csv 2>&1
python3 -c "import torch,numpy,sys;print(sys.version.split()[0], torch.__version__, numpy.__version__, torch.cuda.is_available())"
nproc
python3 -m pip install -q --no-index --no-deps --no-compile --target /tmp/adeps .gpu/whl/*.whl 2>&1 | tail -n 2
t0=$(date +%s)
for t in finger_spin coinrun metaworld_drawer_open; do
  timeout 60 python3 -m benchmarks.bcvlr --task $t --steps $STEPS 2>&1 | tee -a $OUT/bench.txt
done
timeout 40 python3 -m benchmarks.bcvlr --task metaworld_drawer_open@gripperPOV --config config/bcvlr/mini_ft.yaml --steps $STEPS 2>&1 | tee -a $OUT/bench.txt
echo "benchmarks took $(( $(date +%s) - t0 )) s"
t0=$(date +%s)
timeout 90 python3 -m benchmarks.bcvlr_reference --authors-repo .gpu/authors --authors-deps /tmp/adeps --task finger_spin --steps $STEPS 2>&1 | tee $OUT/reference.txt
echo "reference took $(( $(date +%s) - t0 )) s"
t0=$(date +%s)
timeout $LA_TIMEOUT python3 -c "from bcvlr.cli import main; raise SystemExit(main())" pretrain-actions \
  --task metaworld_drawer_open@gripperPOV --seed 0 --videos .gpu/videos_sub --config config/bcvlr/mini_ft.yaml \
  --set latent_actions.updates=$LA_UPDATES --set latent_actions.probe_every=250 \
  --features .gpu/features_s0.pt --out /tmp/pa --no-progress > $OUT/probe.log 2>&1
echo "pretrain-actions rc $? took $(( $(date +%s) - t0 )) s"
cp /tmp/pa/metrics.csv $OUT/probe_metrics.csv 2>/dev/null
tail -n 5 $OUT/probe.log
grep probe/ /tmp/pa/metrics.csv | tail -n 60
