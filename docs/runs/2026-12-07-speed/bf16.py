"""bf16 autocast on this CPU: seconds per update of our feature and latent-action updates at
the paper's DMC sizes, fp32 against `precision: bf16`, alternated (median of 3 after one each).

    OMP_NUM_THREADS=1 python docs/runs/2026-12-07-speed/bf16.py [task]
"""

import statistics
import sys
import time

import torch

from bcvlr.config import load_config
from bcvlr.method import bcvlr
from bcvlr.tasks import get_task


def alternated(steps, n: int = 3) -> list[float]:
    times: list[list[float]] = [[] for _ in steps]
    for i in range(n + 1):
        for k, step in enumerate(steps):
            t0 = time.perf_counter()
            step()
            if i:
                times[k].append(time.perf_counter() - t0)
    return [statistics.median(t) for t in times]


def main() -> None:
    torch.set_num_threads(1)
    task = get_task(sys.argv[1] if len(sys.argv) > 1 else "finger_spin")
    shape, cpu = (3 * task.frame_stack, 64, 64), torch.device("cpu")
    learners = {}
    for precision in ("fp32", "bf16"):
        cfg = load_config(bcvlr.Config, None, [f"precision={precision}"],
                          base=bcvlr.default_config(task))  # fmt: skip
        torch.manual_seed(0)
        learners[precision] = (bcvlr.FeatureLearner(cfg, shape, cpu),
                               bcvlr.LatentActionLearner(cfg, bcvlr.build_encoder(cfg, shape), cpu))  # fmt: skip
    obs = torch.randint(0, 256, (cfg.features.batch_size, 2, *shape), dtype=torch.uint8)
    la = cfg.latent_actions
    win = torch.randint(0, 256, (la.batch_size, la.window, *shape), dtype=torch.uint8)
    stages = {
        "feature pretraining": [lambda f=learners[p][0]: f.update(obs, 0) for p in ("fp32", "bf16")],
        "latent-action pretraining": [lambda f=learners[p][1]: f.update(win) for p in ("fp32", "bf16")],
    }
    for name, steps in stages.items():
        fp32, bf16 = alternated(steps)
        print(f"{task.name} {name}: fp32 {fp32:.3f} s, bf16 {bf16:.3f} s, x{fp32 / bf16:.2f}", flush=True)


if __name__ == "__main__":
    main()
