#!/usr/bin/env bash
# Device check 2 for #4: the paper's Metaworld networks and batch sizes (Table 12), shortened
# budgets, on the 33-episode subset: does the latent-action probe improve?
set -u
export PYTHONUNBUFFERED=1
T=metaworld_drawer_open@gripperPOV
t0=$(date +%s)
timeout 150 python3 -c "from bcvlr.cli import main; raise SystemExit(main())" pretrain-features --task $T --seed 0 \
  --videos .gpu/videos_sub --set features.updates=6000 --out /tmp/pf --no-progress > $OUT/paper_features.log 2>&1
echo "pretrain-features rc $? took $(( $(date +%s) - t0 )) s"
cp /tmp/pf/metrics.csv $OUT/paper_features_metrics.csv 2>/dev/null
t0=$(date +%s)
timeout 230 python3 -c "from bcvlr.cli import main; raise SystemExit(main())" pretrain-actions --task $T --seed 0 \
  --videos .gpu/videos_sub --set features.updates=6000 --set latent_actions.updates=8000 \
  --set latent_actions.probe_every=500 --features /tmp/pf/features.pt --out /tmp/pa --no-progress > $OUT/paper_actions.log 2>&1
echo "pretrain-actions rc $? took $(( $(date +%s) - t0 )) s"
cp /tmp/pa/metrics.csv $OUT/paper_actions_metrics.csv 2>/dev/null
tail -n 3 $OUT/paper_features.log $OUT/paper_actions.log
grep -E "loss/contrastive" /tmp/pf/metrics.csv | awk 'NR%20==0'
grep -E "probe/(action_r2|beyond)|loss/world_model|perplex" /tmp/pa/metrics.csv | awk -F, '$1%1000==0'
