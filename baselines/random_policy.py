"""A uniformly random policy: the floor every learning method should beat. It learns nothing;
it is evaluated at the task's evaluation points with the same protocol as every method."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from bcvlr.tasks import Task

SUITES = ("procgen", "dmc", "metaworld")


@dataclass
class Config:
    budget: int | None = None


def default_config(task: Task) -> dict:
    return {}


def run(task: Task, seed: int, cfg: Config, harness, videos=None) -> None:
    harness.start()
    rng = np.random.default_rng(seed)
    space = task.action_space

    def act(obs: np.ndarray) -> np.ndarray:
        if space.is_discrete:
            return rng.integers(0, space.size, len(obs))
        return rng.uniform(-1, 1, (len(obs), space.size)).astype(np.float32)

    # Nothing changes between evaluation points, so the final one stands for all of them.
    harness.evaluate(act, step=harness.budget // task.action_repeat, frames=harness.budget)
    harness.finish()
