"""PPO throughput on this machine: env steps per second of rollout + update.

    python -m benchmarks.ppo [--task starpilot] [--num-steps 256] [--threads 2] [--repeats 1]

Times the code the runs execute (``baselines.ppo.collect`` and ``ppo_update``) at the paper
configuration (64 envs, IMPALA (16, 32, 32) + 256, 8 minibatches, 3 epochs). A smaller
``--num-steps`` gives a quicker, slightly noisier figure: both phases cost per sample.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import time

import torch

from baselines.ppo import Agent, Config, ReturnNormalizer, collect, ppo_update
from bcvlr.envs import make
from bcvlr.tasks import get_task


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--task", default="starpilot")
    parser.add_argument("--num-envs", type=int, default=64)
    parser.add_argument("--num-steps", type=int, default=256)
    parser.add_argument(
        "--threads", type=int, default=None, help="torch threads (default: torch's)"
    )
    parser.add_argument("--repeats", type=int, default=1)
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    task = get_task(args.task)
    cfg = Config(num_envs=args.num_envs, num_steps=args.num_steps)
    agent = Agent((3, 64, 64), task.action_space.size, cfg.channels, cfg.hidden)
    optimizer = torch.optim.Adam(agent.parameters(), lr=cfg.learning_rate, eps=1e-5)
    normalizer = ReturnNormalizer(cfg.num_envs, cfg.gamma, cfg.reward_clip)
    env = make(task, num_envs=cfg.num_envs, seed=0)
    obs = env.reset()
    # warm-up: oneDNN builds its kernels for each batch shape on first use
    warm, obs, _ = collect(agent, env, obs, 8, normalizer, cfg)
    ppo_update(agent, optimizer, warm, cfg)

    rollout_s, update_s = [], []
    for _ in range(args.repeats):
        t0 = time.perf_counter()
        rollout, obs, _ = collect(agent, env, obs, cfg.num_steps, normalizer, cfg)
        t1 = time.perf_counter()
        ppo_update(agent, optimizer, rollout, cfg)
        t2 = time.perf_counter()
        rollout_s.append(t1 - t0)
        update_s.append(t2 - t1)
    env.close()
    batch = cfg.num_envs * cfg.num_steps
    r, u = statistics.median(rollout_s), statistics.median(update_s)
    sps = batch / (r + u)
    print(f"# {platform.node()} {platform.machine()} {os.cpu_count()} cores, torch "
          f"{torch.__version__} {torch.get_num_threads()} threads, {time.strftime('%Y-%m-%d')}, "
          f"{args.task}, {cfg.num_envs} envs x {cfg.num_steps} steps, median of {args.repeats}")  # fmt: skip
    print(f"rollout (env + policy forward): {batch / r:8.0f} env steps/s  ({r:.1f} s)")
    print(f"update (3 epochs x 8 minibatches): {batch / u:5.0f} samples/s    ({u:.1f} s)")
    print(f"PPO total:                      {sps:8.0f} env steps/s")
    print(f"=> 100k env steps: {1e5 / sps / 60:.0f} min; 25M env steps: {25e6 / sps / 3600:.0f} h")


if __name__ == "__main__":
    main()
