"""A uniformly random policy: the floor every learning method should beat. It learns nothing;
it is evaluated at the task's evaluation points with the same protocol as every method.

``policy: zero`` holds still instead (the zero action, continuous tasks only): where a task
rewards the start state often (reacher's target can spawn under the fingertip), a policy that
moves little beats random without having learnt anything, so "above random" needs this floor too.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np

from bcvlr.config import ConfigError
from bcvlr.tasks import Task

SUITES = ("procgen", "dmc", "metaworld")


@dataclass
class Config:
    budget: int | None = None
    policy: Literal["uniform", "zero"] = "uniform"


def default_config(task: Task) -> dict:
    return {}


def check_run(cfg: Config, task: Task, budget: int) -> None:
    if cfg.policy == "zero" and task.action_space.is_discrete:
        raise ConfigError(f"policy zero needs continuous actions; {task.name} has discrete ones")


def run(task: Task, seed: int, cfg: Config, harness, videos=None) -> None:
    check_run(cfg, task, harness.budget)
    harness.start()
    rng = np.random.default_rng(seed)
    space = task.action_space

    def act(obs: np.ndarray) -> np.ndarray:
        if cfg.policy == "zero":
            return np.zeros((len(obs), space.size), np.float32)
        if space.is_discrete:
            return rng.integers(0, space.size, len(obs))
        return rng.uniform(-1, 1, (len(obs), space.size)).astype(np.float32)

    # Nothing changes between evaluation points, so the final one stands for all of them.
    # Neither policy reads its inputs: where the simulator can skip rendering, the episodes
    # and returns are the same without frames (Procgen always renders).
    inputs = "frames" if task.suite == "procgen" else "states"
    harness.evaluate(act, step=harness.budget // task.action_repeat, frames=harness.budget,
                     inputs=inputs)  # fmt: skip
    harness.finish()
