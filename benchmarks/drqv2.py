"""Update throughput of the DDPG/DrQv2 agent: the pixel baseline and the state-based expert.

    python -m benchmarks.drqv2 [--threads 1] [--updates 20] [--repeats 3]

One update = critic step (with the encoder for pixels) + actor step + target update on a
replay batch, sampling included. Pixels: 9x64x64 frames, random shifts, DrQv2's sizes
(batch 256, 1024 hidden). States: the expert's light setting (256 hidden, batch 256) and
LAIfO's recipe (1024 hidden, batch 1024) for comparison, on reacher's 6-d state.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import platform
import statistics
import time

import numpy as np
import torch

from baselines.drqv2 import Config, DDPGAgent, default_config, expert_config
from bcvlr.config import from_dict
from bcvlr.data.replay import ReplayBuffer

TASK = "reacher_easy"


def filled_buffer(cfg: Config, obs_shape: tuple[int, ...], rng: np.random.Generator,
                  steps: int = 2000) -> ReplayBuffer:  # fmt: skip
    pixels = cfg.obs == "pixels"
    buf = ReplayBuffer(steps + 10, obs_shape, 2, obs_dtype=np.uint8 if pixels else np.float32,
                       frame_stack=3 if pixels else 1, nstep=cfg.nstep)  # fmt: skip

    def obs() -> np.ndarray:
        if pixels:
            return rng.integers(0, 256, obs_shape, dtype=np.uint8)
        return rng.standard_normal(obs_shape).astype(np.float32)

    buf.add_first(obs())
    for _ in range(steps):
        buf.add(rng.uniform(-1, 1, 2), float(rng.random()), 1.0, obs())
    return buf


def updates_per_s(cfg: Config, obs_shape: tuple[int, ...], updates: int, repeats: int) -> float:
    rng = np.random.default_rng(0)
    agent = DDPGAgent(obs_shape, 2, cfg)
    buf = filled_buffer(cfg, obs_shape, rng)
    agent.update(buf.sample(cfg.batch_size, rng), 0)  # warm-up

    def once() -> float:
        t0 = time.perf_counter()
        for _ in range(updates):
            agent.update(buf.sample(cfg.batch_size, rng), 1000)
        return updates / (time.perf_counter() - t0)

    return statistics.median(once() for _ in range(repeats))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--updates", type=int, default=20)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    pixels = from_dict(Config, default_config(TASK) | {"device": "cpu"})
    expert = from_dict(Config, expert_config(TASK, "ddpg_states") | {"device": "cpu"})
    laifo = dataclasses.replace(expert, hidden_dim=1024, batch_size=1024)
    setups = [
        ("drqv2 pixels (b256, h1024)", pixels, (9, 64, 64), max(3, args.updates // 4)),
        ("ddpg states expert (b256, h256)", expert, (6,), args.updates * 10),
        ("ddpg states LAIfO (b1024, h1024)", laifo, (6,), args.updates),
    ]
    print(f"# {platform.node()} {platform.machine()} {os.cpu_count()} cores, torch "
          f"{torch.__version__}, {args.threads} thread(s), median of {args.repeats}")  # fmt: skip
    print(f"{'agent':34s} {'updates/s':>10s} {'ms/update':>10s}")
    for name, cfg, shape, n in setups:
        ups = updates_per_s(cfg, shape, n, args.repeats)
        print(f"{name:34s} {ups:10.2f} {1e3 / ups:10.1f}", flush=True)


if __name__ == "__main__":
    main()
