#!/bin/bash
# Holding still (the zero action) beside the uniform random policy on every continuous task:
# seed 0, 50 episodes each, the same evaluation episodes for both. bash run.sh
source /work/main/.venv/bin/activate
export OMP_NUM_THREADS=1
mkdir -p /work/scratch/floors && cd /work/scratch/floors
git -C /work/main rev-parse HEAD > commit.txt
for T in point_mass_easy reacher_easy reacher_hard finger_spin ball_in_cup_catch cheetah_run_backward \
    jaco_reach_top_right jaco_reach_bottom_left walker_walk metaworld_reach metaworld_faucet_open \
    metaworld_faucet_close metaworld_drawer_open; do
  for P in zero uniform; do
    nice -n 15 bcvlr run --method random --set policy=$P --task $T --seed 0 --eval-episodes 50 \
      --runs-root runs-$P --no-progress > log.$P.$T 2>&1
  done
done
echo done > finished
