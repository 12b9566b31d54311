"""Feature pretraining's update at the paper's sizes with f's views as float32 (before: what
RandomShift returned) against uint8 views (now: f scales one float copy of its own),
alternated update by update (median of STEPS, 1 thread); first one update of each from the
same weights, batch and random stream, to show the same loss and weights.

    OMP_NUM_THREADS=1 PYTHONPATH=. python docs/runs/2026-12-08-feature-views/views_speed.py TASK
"""

import copy
import os
import statistics
import sys
import time

import torch

import bcvlr.method.bcvlr as bcvlr
from bcvlr.config import load_config
from bcvlr.nets.augment import RandomShift
from bcvlr.tasks import get_task

torch.set_num_threads(1)
task = get_task(sys.argv[1])
cfg = load_config(bcvlr.Config, None, [], base=bcvlr.default_config(task))
shape = (3 * task.frame_stack, 64, 64)
torch.manual_seed(0)
now = bcvlr.FeatureLearner(cfg, shape, torch.device("cpu"))
before = copy.deepcopy(now)
before.aug = RandomShift(cfg.features.shift_pad)  # float32 views
obs = torch.randint(0, 256, (cfg.features.batch_size, now.window, *shape), dtype=torch.uint8)
losses = []
for learner in (before, now):
    torch.manual_seed(1)
    losses.append(learner.update(obs, 0))
same = all(torch.equal(x, y) for x, y in zip(before.modules.state_dict().values(),
                                             now.modules.state_dict().values(), strict=True))
times: dict[str, list[float]] = {"before": [], "now": []}
for i in range(int(os.environ.get("STEPS", 4))):
    for name, learner in (("before", before), ("now", now)):
        t0 = time.perf_counter()
        learner.update(obs, i + 1)
        times[name].append(time.perf_counter() - t0)
b, n = (statistics.median(times[k]) for k in ("before", "now"))
print(f"# {task.name}, paper sizes, batch {cfg.features.batch_size}, torch {torch.__version__}, "
      f"load {os.getloadavg()[0]:.2f}")
print(f"first update: losses {losses[0]} / {losses[1]}, weights equal: {same}")
print(f"feature update  before {b * 1e3:8.0f} ms  now {n * 1e3:8.0f} ms  before/now {b / n:.3f}")
