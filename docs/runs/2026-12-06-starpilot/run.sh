#!/bin/bash
# docs/baselines.md starpilot rows (PPO expert, BCO, random, ILPO, UPESV joint, LAPO-BC): the documented commands, runs kept
# Beside it, one thread, nice -n 5: the DrQv2 seed-2 run of docs/runs/2026-12-06-drqv2-seed2/run.sh.
# UPESV seed 2 was started by hand beside seeds 0-1 (the queue stopped first: its xargs was killed to run it at once); LAPO-BC (the last job) was not run, for time.
source /work/main/.venv/bin/activate
export OMP_NUM_THREADS=1
cd /work/scratch/starpilot
git -C /work/main rev-parse HEAD > commit.txt
X=experts/starpilot/seed0
/usr/bin/time -f "%e s wall" nice -n 5 bcvlr train-expert --task starpilot --kind ppo --seed 0 --out $X \
  --set budget=491520 --set eval_every=163840 --set checkpoint_every=2 --set torch_threads=1 --no-progress > log.expert 2>&1
[ -f videos/manifest.json ] || /usr/bin/time -f "%e s wall" nice -n 5 bcvlr collect-videos --task starpilot --expert $X --steps 50000 --out videos --no-progress > log.videos 2>&1
R="--runs-root runs --no-progress"
C=/work/main/config
{
for S in 0 1 2; do
  echo "bco$S bcvlr run --method bco --task starpilot --seed $S --videos videos --config $C/bco.yaml --eval-episodes 256 --eval-every 100000 $R"
done
for S in 0 1 2; do
  echo "random$S bcvlr run --method random --task starpilot --seed $S --eval-episodes 256 --eval-every 100000 --runs-root runs-random256 --no-progress"
done
for S in 0 1; do
  echo "ilpo$S bcvlr run --method ilpo --task starpilot --seed $S --videos videos --config $C/ilpo.yaml --eval-every 25600 --eval-episodes 128 $R"
  echo "random128_$S bcvlr run --method random --task starpilot --seed $S --eval-every 25600 --eval-episodes 128 --runs-root runs-random128 --no-progress"
done
for S in 0 1 2; do
  echo "upesv$S bcvlr run --method upesv --task starpilot --seed $S --videos videos --config $C/upesv_joint.yaml --eval-episodes 256 $R"
done
echo "lapobc0 bcvlr run --method lapo_bc --task starpilot --seed 0 --videos videos --config $C/lapo_mini.yaml --set latent_actions.updates=10000 --set policy.updates=2000 --set checkpoint_every=500 --eval-episodes 256 $R"
} > jobs.txt
while read -r NAME CMD; do echo "$NAME|$CMD"; done < jobs.txt | xargs -P 2 -I{} bash -c 'L="{}"; N="${L%%|*}"; C="${L#*|}"; /usr/bin/time -f "%e s wall" nice -n 5 $C > log.$N 2>&1'
echo done > finished
