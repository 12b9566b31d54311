#!/bin/bash
# docs/baselines.md "ILPO, Measured, metaworld_reach": the same commands, runs kept this time
source /work/main/.venv/bin/activate
export OMP_NUM_THREADS=1
cd /work/scratch/ilpo-reach
git -C /work/main rev-parse HEAD > commit.txt
nice -n 10 bcvlr train-expert --task metaworld_reach --out expert --no-progress > log.expert 2>&1
nice -n 10 bcvlr collect-videos --task metaworld_reach --expert expert --steps 10000 --out videos --no-progress > log.videos 2>&1
E="--task metaworld_reach --budget 20000 --eval-every 10000 --eval-episodes 20 --runs-root runs --no-progress"
/usr/bin/time -f "%e s wall" nice -n 10 bcvlr run --method ilpo --seed 0 $E --videos videos --config /work/main/config/ilpo.yaml --set arn.fit_on=explored > log.ilpo 2>&1
for S in 0 1; do
  /usr/bin/time -f "%e s wall" nice -n 10 bcvlr run --method random --seed $S $E > log.random$S 2>&1
done
