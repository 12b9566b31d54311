"""f's forward and backward on N frames with its input prepared as before 2026-12-07 (a float
copy, scaled copies, then a channels-last copy) and as now (uint8 to channels-last, one float
copy scaled in place), alternated 8 times, medians; the features are the same
(tests/nets/test_features.py, tests/reference/).

    OMP_NUM_THREADS=1 PYTHONPATH=. python docs/runs/2026-12-07-encoder-input/input_prep_speed.py TASK CONFIG|paper N
"""

import sys
import time

import torch

from bcvlr.config import load_config
from bcvlr.method import bcvlr
from bcvlr.method.bcvlr.model import build_encoder
from bcvlr.nets.features import FeatureEncoder
from bcvlr.tasks import get_task

torch.set_num_threads(1)
now = FeatureEncoder.forward


def before(self, obs):
    return self.net(obs.float() / 255.0 - 0.5)


task, config, n = get_task(sys.argv[1]), sys.argv[2], int(sys.argv[3])
cfg = load_config(bcvlr.Config, None if config == "paper" else config, [],
                  base=bcvlr.default_config(task))  # fmt: skip
shape = (3 * task.frame_stack, 64, 64)
f = build_encoder(cfg, shape)
obs = torch.randint(0, 256, (n, *shape), dtype=torch.uint8)
times = {"before": [], "now": []}
for _ in range(8):
    for name, forward in (("before", before), ("now", now)):
        FeatureEncoder.forward = forward
        t0 = time.perf_counter()
        f(obs).sum().backward()
        times[name].append(time.perf_counter() - t0)
med = {k: sorted(v)[len(v) // 2] for k, v in times.items()}
print(f"{task.name} {config} {n} frames: s per forward+backward {med['before']:.3f} before, "
      f"{med['now']:.3f} now, before/now {med['before'] / med['now']:.2f}")
