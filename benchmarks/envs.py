"""Environment throughput per task: one env, and vectorised.

    python -m benchmarks.envs [--suite dmc] [--steps 200] [--repeats 5]

Prints a table: per *policy* step (action repeat and the 64x64 render included) the median
milliseconds of a single env; for the MuJoCo suites the same without rendering (``frames=False``,
what state-based experts step and are evaluated on); and env steps per second of the vectorised
setting (Procgen: 64 envs in one ProcgenGym3Env; MuJoCo suites: one subprocess per core).
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import time

# benchmarks/bcvlr.py is named like the package: keep this folder off the import path.
sys.path[:] = [p for p in sys.path if os.path.abspath(p or ".") != os.path.dirname(__file__)]

os.environ.setdefault("MUJOCO_GL", "egl")

import numpy as np  # noqa: E402

from bcvlr.envs import make  # noqa: E402
from bcvlr.tasks import SUITES, tasks_of  # noqa: E402


def time_steps(env, steps: int, rng) -> float:
    """Seconds per vectorised step, after one warm-up step."""
    env.reset()
    space = env.action_space

    def act():
        if space.is_discrete:
            return rng.integers(0, space.size, env.num_envs)
        return rng.uniform(-1, 1, (env.num_envs, space.size))

    env.step(act())
    t0 = time.perf_counter()
    for _ in range(steps):
        env.step(act())
    return (time.perf_counter() - t0) / steps


def median_of(repeats: int, fn) -> float:
    return statistics.median(fn() for _ in range(repeats))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--suite", choices=SUITES, action="append")
    parser.add_argument("--task", action="append", help="only these tasks")
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--vec-envs", type=int, default=os.cpu_count() or 2,
                        help="subprocess envs for the MuJoCo suites' vectorised column")  # fmt: skip
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    tasks = [t for s in (args.suite or SUITES) for t in tasks_of(s)]
    if args.task:
        tasks = [t for t in tasks if t.name in args.task]
    print(f"# {platform.node()} {platform.processor() or platform.machine()} "
          f"{os.cpu_count()} cores, {time.strftime('%Y-%m-%d')}, median of {args.repeats}")  # fmt: skip
    print(f"{'task':<24} {'ms/step (1 env)':>16} {'steps/s (1 env)':>16} {'ms (no frames)':>15} "
          f"{'vec envs':>9} {'steps/s (vec)':>14}")  # fmt: skip
    for task in tasks:
        single = make(task, num_envs=1, seed=0)
        ms = 1e3 * median_of(args.repeats, lambda env=single: time_steps(env, args.steps, rng))
        single.close()
        frameless = "-"
        if task.suite == "procgen":
            n, vec = task.num_envs, make(task, num_envs=task.num_envs, seed=0)
        else:
            bare = make(task, num_envs=1, seed=0, frames=False)
            sec = median_of(args.repeats, lambda env=bare: time_steps(env, args.steps, rng))
            frameless = f"{1e3 * sec:.2f}"
            bare.close()
            n, vec = args.vec_envs, make(task, num_envs=args.vec_envs, seed=0, processes=True)
        per_step = median_of(args.repeats,
                             lambda env=vec: time_steps(env, max(args.steps // 4, 10), rng))  # fmt: skip
        vec.close()
        print(f"{task.name:<24} {ms:>16.2f} {1e3 / ms:>16.0f} {frameless:>15} {n:>9} "
              f"{n / per_step:>14.0f}", flush=True)  # fmt: skip


if __name__ == "__main__":
    main()
