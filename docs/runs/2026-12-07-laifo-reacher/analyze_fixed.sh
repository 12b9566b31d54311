#!/bin/bash
# prereg.txt's tests for fixed.sh 0 (the default after the actor-order fix), on its kept run files,
# and D along episodes on its last checkpoint (from the scratch run folder: checkpoints are not kept).
source /work/main/.venv/bin/activate
export OMP_NUM_THREADS=1
cd /work/main
D=docs/runs/2026-12-07-laifo-reacher
R=docs/runs/2026-12-06-reacher/random40k
Z=docs/runs/2026-12-07-still-reacher/zero40k
RUN=/work/scratch/laifo/runs-fixed/laifo/reacher_easy/seed0
mkdir -p $D/fixed && cp $RUN/metrics.csv $RUN/run.json $D/fixed/
python -m bcvlr.report.versus_random --method $D/fixed --baseline $R/seed* --label "LAIfO fixed" --baseline-label random > $D/fixed_vs_random.txt
python -m bcvlr.report.versus_random --method $D/fixed --baseline $Z/seed* --label "LAIfO fixed" --baseline-label zero > $D/fixed_vs_zero.txt
python -m bcvlr.report.rise $D/fixed > $D/fixed_rise.txt
python -m bcvlr.report.versus_random --method $D/fixed --baseline $D/own --label "LAIfO fixed" --baseline-label "LAIfO own" > $D/fixed_vs_own.txt
python -m bcvlr.report.versus_random --method $D/own --baseline $D/fixed --label "LAIfO own" --baseline-label "LAIfO fixed" > $D/own_vs_fixed.txt
nice -n 5 python $D/d_along_episodes.py $RUN /work/scratch/reacher/videos > $D/fixed_d_along_episodes.txt
tail -n 4 $D/fixed*.txt $D/own_vs_fixed.txt
