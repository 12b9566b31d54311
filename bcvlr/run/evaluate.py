"""Evaluation by the task registry's protocol, on envs separate from the training ones."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

import numpy as np

from bcvlr.envs import make
from bcvlr.tasks import Task

# act(observations, states or the env itself) -> actions for every env
Act = Callable[[np.ndarray], np.ndarray]
# What a policy acts on: the frames, the env's low-dimensional states, or the simulator itself
# (a planner that saves and restores the env's state).
Inputs = Literal["frames", "states", "simulator"]


@dataclass(frozen=True)
class EvalResult:
    returns: np.ndarray
    successes: np.ndarray
    lengths: np.ndarray

    @property
    def mean_return(self) -> float:
        return float(self.returns.mean())

    @property
    def success_rate(self) -> float:
        return float(self.successes.mean())

    def score(self, task: Task) -> float:
        return self.success_rate if task.eval.metric == "success" else self.mean_return

    def metrics(self, task: Task) -> dict[str, float]:
        out = {
            "eval/return": self.mean_return,
            "eval/return_std": float(self.returns.std()),
            "eval/episode_length": float(self.lengths.mean()),
            "eval/episodes": float(len(self.returns)),
        }
        if task.eval.metric == "success":
            out["eval/success"] = self.success_rate
        return out


def evaluate(
    task: Task,
    act: Act,
    episodes: int,
    seed: int,
    *,
    num_envs: int | None = None,
    inputs: Inputs = "frames",
    max_steps: int | None = None,
) -> EvalResult:
    """Run ``episodes`` episodes. Every env contributes its first ceil(episodes / n) episodes,
    so short episodes are not over-represented (with 64 Procgen envs: one episode each)."""
    n = num_envs or (min(episodes, task.num_envs) if task.suite == "procgen" else 1)
    quota = math.ceil(episodes / n)
    env = make(task, num_envs=n, seed=seed, frames=inputs != "states")
    try:
        obs = env.reset()
        done_eps: list[list] = [[] for _ in range(n)]
        limit = max_steps or (quota + 1) * task.episode_length + 10
        for _ in range(limit):
            if all(len(d) >= quota for d in done_eps):
                break
            step = env.step(act(policy_inputs(inputs, env, obs)))
            obs = step.obs
            for ep in step.episodes:
                if len(done_eps[ep.env_index]) < quota:
                    done_eps[ep.env_index].append(ep)
        else:
            raise RuntimeError(f"evaluation of {task.name} did not finish in {limit} steps")
    finally:
        env.close()
    eps = [e for per_env in done_eps for e in per_env][:episodes]
    return EvalResult(
        returns=np.array([e.episode_return for e in eps]),
        successes=np.array([e.success for e in eps], dtype=float),
        lengths=np.array([e.length for e in eps]),
    )


def policy_inputs(inputs: Inputs, env, obs: np.ndarray):
    """What a policy of the given ``inputs`` kind is called with."""
    return {"frames": lambda: obs, "states": env.states, "simulator": lambda: env}[inputs]()
