"""Holding still: the zero action at every step, a second floor beside the random policy on
continuous tasks (reacher's target can spawn under the fingertip, so a policy that never moves
scores there). The random policy's ``policy: zero`` under a name of its own, so that the
workflow records and reports its runs apart from the uniform ones."""

from __future__ import annotations

from dataclasses import dataclass

from baselines import random_policy
from bcvlr.tasks import Task

SUITES = ("dmc", "metaworld")


@dataclass
class Config:
    budget: int | None = None


def default_config(task: Task) -> dict:
    return {}


def run(task: Task, seed: int, cfg: Config, harness, videos=None) -> None:
    random_policy.run(task, seed, random_policy.Config(cfg.budget, policy="zero"), harness)
