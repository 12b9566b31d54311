#!/bin/bash
# docs/baselines.md reacher_easy rows (BCO, UPESV joint, ILPO, random): the documented commands, runs kept.
# Started beside, before it (one thread each, nice -n 5):
#   bcvlr train-expert --task reacher_easy --seed 0 --out /work/scratch/experts/reacher_easy/seed0
#   bcvlr run --method drqv2 ... (docs/baselines.md, "DrQv2 learning check", seed 0)
# ILPO was stopped at its start (22:52) to leave room for a CI check, and xargs then ended the queue;
# ILPO and the two random20k20 runs were run after it, by hand, with the commands listed below.
source /work/main/.venv/bin/activate
export OMP_NUM_THREADS=1
cd /work/scratch/reacher
X=/work/scratch/experts/reacher_easy/seed0
while [ ! -f $X/expert.json ]; do sleep 20; done
git -C /work/main rev-parse HEAD > commit.txt
[ -f videos/manifest.json ] || nice -n 5 bcvlr collect-videos --task reacher_easy --expert $X --steps 20000 --out videos --no-progress > log.videos 2>&1
R="--runs-root runs --no-progress"
C=/work/main/config
{
echo "evalexpert bcvlr evaluate-expert --task reacher_easy --expert $X --episodes 50 --seed 12345"
for S in 0 1 2 3 4 5 6 7 8 9; do
  echo "bco$S bcvlr run --method bco --task reacher_easy --seed $S --videos videos --config $C/bco.yaml --budget 40000 --eval-episodes 50 --eval-every 20000 $R"
done
for S in 0 1 2 3 4 5 6 7 8 9; do
  echo "random40k$S bcvlr run --method random --task reacher_easy --seed $S --budget 40000 --eval-episodes 50 --eval-every 20000 --runs-root runs-random40k --no-progress"
done
for S in 0 1; do
  echo "upesv$S bcvlr run --method upesv --task reacher_easy --seed $S --videos videos --config $C/upesv_joint.yaml --budget 20000 --eval-episodes 50 --eval-every 20000 $R"
done
echo "random20k50_0 bcvlr run --method random --task reacher_easy --seed 0 --budget 20000 --eval-episodes 50 --eval-every 20000 --runs-root runs-random20k50 --no-progress"
echo "ilpo0 bcvlr run --method ilpo --task reacher_easy --seed 0 --videos videos --config $C/ilpo.yaml --budget 20000 --eval-every 10000 --eval-episodes 20 $R"
for S in 0 1; do
  echo "random20k20_$S bcvlr run --method random --task reacher_easy --seed $S --budget 20000 --eval-episodes 20 --eval-every 10000 --runs-root runs-random20k20 --no-progress"
done
} > jobs.txt
while read -r NAME CMD; do echo "$NAME|$CMD"; done < jobs.txt | xargs -P 2 -I{} bash -c 'L="{}"; N="${L%%|*}"; C="${L#*|}"; /usr/bin/time -f "%e s wall" nice -n 5 $C > log.$N 2>&1'
echo done > finished
