"""Update throughput of LAIfO's DMC agent: one D step + DrQv2's critic/actor step on D's reward,
expert windows and a replay batch sampled (the work of one update in a `bcvlr run`).

    python -m benchmarks.laifo --videos VIDEOS [--config config/laifo.yaml] [--set k=v ...]
        [--updates 30] [--repeats 3] [--threads 1]

VIDEOS: a reacher_easy expert-video dataset (the update samples its windows). Runs against
the code on PYTHONPATH, so the same command times another commit's checkout.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import time

import numpy as np
import torch

from baselines import laifo
from bcvlr.config import load_config
from bcvlr.data import VideoDataset
from benchmarks.drqv2 import filled_buffer

TASK = "reacher_easy"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--videos", required=True)
    parser.add_argument("--config", default="config/laifo.yaml")
    parser.add_argument("--set", action="append", default=[], dest="overrides")
    parser.add_argument("--updates", type=int, default=30)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    base = laifo.default_config(TASK) | {"device": "cpu"}
    cfg = load_config(laifo.Config, args.config, args.overrides, base=base)
    videos = VideoDataset(args.videos)
    obs_shape = tuple(videos.stacked_shape)
    torch.manual_seed(0)
    agent = laifo.LAIfOAgent(obs_shape, 2, cfg, videos, seed=0)
    rng = np.random.default_rng(0)
    buffer = filled_buffer(cfg, obs_shape, rng)
    agent.update(agent.sample(buffer, rng), 10_000)  # warm-up

    def once() -> float:
        t0 = time.perf_counter()
        for _ in range(args.updates):
            agent.update(agent.sample(buffer, rng), 10_000)
        return args.updates / (time.perf_counter() - t0)

    ups = statistics.median(once() for _ in range(args.repeats))
    print(f"# {platform.node()} {os.cpu_count()} cores, torch {torch.__version__}, "
          f"{args.threads} thread(s), median of {args.repeats} x {args.updates} updates")  # fmt: skip
    print(f"laifo {args.config} {' '.join(args.overrides)}: {ups:.2f} updates/s, "
          f"{1e3 / ups:.0f} ms/update")  # fmt: skip


if __name__ == "__main__":
    main()
