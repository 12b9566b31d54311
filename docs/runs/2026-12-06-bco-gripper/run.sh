#!/bin/bash
# docs/experiments.md "BCO on the same view learns": the same commands, runs kept this time
source /work/main/.venv/bin/activate
export OMP_NUM_THREADS=1
cd /work/scratch/bco-drawer
git -C /work/main rev-parse HEAD > commit.txt
T=metaworld_drawer_open@gripperPOV
nice -n 10 bcvlr train-expert --task $T --out expert --no-progress > log.expert 2>&1
nice -n 10 bcvlr collect-videos --task $T --expert expert --steps 20000 --out videos --no-progress > log.videos 2>&1
for S in 0 1 2; do
  /usr/bin/time -f "%e s wall" nice -n 10 bcvlr run --method bco --task $T --seed $S --videos videos \
    --config /work/main/config/bco.yaml --set "channels=[16,32,32]" --set hidden=256 --budget 50000 \
    --eval-every 10000 --eval-episodes 20 --runs-root runs --no-progress > log.seed$S 2>&1
done
/usr/bin/time -f "%e s wall" nice -n 10 bcvlr run --method random --task $T --seed 0 --budget 50000 \
  --eval-every 10000 --eval-episodes 20 --runs-root runs --no-progress > log.random0 2>&1
