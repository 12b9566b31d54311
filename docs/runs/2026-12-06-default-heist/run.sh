#!/bin/bash
# The embedded default's heist jobs at main's HEAD, on a fresh clone: are its values unchanged?
set -e
cd /work/scratch/default-heist
rm -rf T && git clone -q /work/main T && cd T
git rev-parse HEAD > ../commit.txt
sed -e "s/^tasks: \[reacher_hard, heist, metaworld_reach\]/tasks: [heist]/" -e "s/^  prebuilt: {reacher_hard: assets\/experts\/reacher_hard}/  prebuilt: {}/" config/config.yaml > ../heist.yaml
grep -q "^tasks: \[heist\]" ../heist.yaml
export OMP_NUM_THREADS=1
/usr/bin/time -f "%e s wall" nice -n 10 bash scripts/main.sh --configfile ../heist.yaml --cores 1 > ../main.log 2>&1
