"""Seconds per DMC feature-pretraining update (FeatureLearner.update, paper sizes, 1 thread,
median of 5 after one), of whichever bcvlr is first on the path: run from a worktree at the
commit before 7e403a5 and from one at 7e403a5, alternately.

    for w in BEFORE AFTER BEFORE AFTER; do (cd $w && PYTHONPATH=$w OMP_NUM_THREADS=1 \
        python /path/to/feature_update_time.py); done
"""

import statistics
import time

import torch

from bcvlr.config import load_config
from bcvlr.method import bcvlr
from bcvlr.tasks import get_task


def main() -> None:
    torch.set_num_threads(1)
    task = get_task("finger_spin")
    cfg = load_config(bcvlr.Config, None, base=bcvlr.default_config(task))
    learner = bcvlr.FeatureLearner(cfg, (9, 64, 64), torch.device("cpu"))
    obs = torch.randint(0, 256, (cfg.features.batch_size, 2, 9, 64, 64), dtype=torch.uint8)
    times = []
    for i in range(6):
        t0 = time.perf_counter()
        learner.update(obs, i)
        times.append(time.perf_counter() - t0)
    print(f"{bcvlr.__file__.split('/bcvlr/')[0]}: {statistics.median(times[1:]):.3f} s/update")


if __name__ == "__main__":
    main()
