#!/bin/bash
# BCO on drawer-open's default (corner) camera, 20k frames, seed 0, and the random policy
source /work/main/.venv/bin/activate
export OMP_NUM_THREADS=1
cd /work/scratch/bco-corner
T=metaworld_drawer_open
nice -n 5 bcvlr train-expert --task $T --out expert --no-progress > log.expert 2>&1
nice -n 5 bcvlr collect-videos --task $T --expert expert --steps 20000 --out videos --no-progress > log.videos 2>&1
E="--task $T --seed 0 --budget 20000 --eval-every 10000 --eval-episodes 20 --runs-root runs --no-progress"
/usr/bin/time -f "%e s wall" nice -n 5 bcvlr run --method bco $E --videos videos --config /work/main/config/bco.yaml > log.bco 2>&1 &
/usr/bin/time -f "%e s wall" nice -n 5 bcvlr run --method random $E > log.random 2>&1
wait
