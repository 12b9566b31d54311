"""w alone (forward and backward) and eq. 2 from f's table, with the WorldModelUNet.forward of
another commit against today's, alternated update by update (median of STEPS, 1 thread).

    git show 3c38457:bcvlr/nets/unet.py > /tmp/unet_old.py
    OMP_NUM_THREADS=1 PYTHONPATH=. python docs/runs/2026-12-08-wm-input/wm_input_speed.py \
        /tmp/unet_old.py TASK [CONFIG]
"""

import importlib.util
import os
import statistics
import sys
import time

import torch

import bcvlr.method.bcvlr as bcvlr
from bcvlr.config import load_config
from bcvlr.nets import unet
from bcvlr.tasks import get_task

torch.set_num_threads(1)
spec = importlib.util.spec_from_file_location("unet_old", sys.argv[1])
old = importlib.util.module_from_spec(spec)
spec.loader.exec_module(old)
forwards = {"old": old.WorldModelUNet.forward, "new": unet.WorldModelUNet.forward}
task = get_task(sys.argv[2])
config = sys.argv[3] if len(sys.argv) > 3 else None
cfg = load_config(bcvlr.Config, config, [], base=bcvlr.default_config(task))
la = cfg.latent_actions
shape = (3 * task.frame_stack, 64, 64)
learner = bcvlr.LatentActionLearner(cfg, bcvlr.build_encoder(cfg, shape), torch.device("cpu"))
feats = torch.randn(la.batch_size, la.window, *learner.encoder.feature_shape)
w_input = feats[:, :-1].flatten(1, 2)
z = torch.randn(la.batch_size, la.latent_dim, requires_grad=True)
steps = {
    "eq. 2 from f's table": lambda: learner.update_on_features(feats),
    "w forward+backward": lambda: learner.model.world_model(w_input, z).square().mean().backward(),
}
times = {(k, name): [] for k in forwards for name in steps}
for i in range(int(os.environ.get("STEPS", 6)) + 1):
    for k, forward in forwards.items():
        unet.WorldModelUNet.forward = forward
        for name, fn in steps.items():
            t0 = time.perf_counter()
            fn()
            if i:  # the first round warms up
                times[(k, name)].append(time.perf_counter() - t0)
print(f"# {task.name}, {config or 'paper sizes'}, features {learner.encoder.feature_shape}, "
      f"batch {la.batch_size}, torch {torch.__version__}, load {os.getloadavg()[0]:.2f}")
for name in steps:
    o, n = (statistics.median(times[(k, name)]) for k in forwards)
    print(f"{name:22} before {o * 1e3:8.1f} ms  now {n * 1e3:8.1f} ms  before/now {o / n:.3f}")
