"""`bcvlr demo`: a short real run over every task's simulator (random actions), writing a
montage of frames and a CSV of what was measured. The smallest proof that the install works."""

from __future__ import annotations

import argparse
import csv
import time
from pathlib import Path

import numpy as np
from tqdm import tqdm

from bcvlr.envs import make
from bcvlr.tasks import tasks_of


def main(args: argparse.Namespace) -> None:
    suites = args.suite or ["procgen", "dmc", "metaworld"]
    tasks = [t for s in suites for t in tasks_of(s)]
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    rows, frames = [], []
    for task in tqdm(tasks, desc="tasks", unit="task"):
        env = make(task, num_envs=task.num_envs if task.suite == "procgen" else 1, seed=0)
        obs = env.reset()
        total_reward, t0 = 0.0, time.perf_counter()
        for _ in range(args.steps):
            if env.action_space.is_discrete:
                act = rng.integers(0, env.action_space.size, env.num_envs)
            else:
                act = rng.uniform(-1, 1, (env.num_envs, env.action_space.size))
            step = env.step(act)
            total_reward += float(step.reward.mean())
            obs = step.obs
        seconds = time.perf_counter() - t0
        env.close()
        rows.append({"task": task.name, "suite": task.suite, "num_envs": env.num_envs,
                     "policy_steps": args.steps, "mean_reward_per_env": total_reward,
                     "env_steps_per_s": args.steps * env.num_envs / seconds})  # fmt: skip
        frames.append((task.name, obs[0, -3:].transpose(1, 2, 0)))
    with open(out / "demo.csv", "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    _montage(frames, out / "frames.png")
    for r in rows:
        print(f"{r['task']:<24} {r['env_steps_per_s']:>9.0f} env steps/s")
    print(f"wrote {out / 'demo.csv'} and {out / 'frames.png'}")


def _montage(frames: list[tuple[str, np.ndarray]], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    cols = 8
    rows = -(-len(frames) // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(cols * 1.6, rows * 1.8), squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    for ax, (name, img) in zip(axes.flat, frames, strict=False):
        ax.imshow(img)
        ax.set_title(name, fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
