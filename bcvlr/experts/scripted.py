"""Metaworld's official scripted policies (metaworld.policies), acting on the env's
low-dimensional state. No training: these are the default experts for the Metaworld tasks."""

from __future__ import annotations

import numpy as np

from bcvlr.tasks import Task

_POLICIES = {
    "reach-v3": "SawyerReachV3Policy",
    "faucet-open-v3": "SawyerFaucetOpenV3Policy",
    "faucet-close-v3": "SawyerFaucetCloseV3Policy",
    "drawer-open-v3": "SawyerDrawerOpenV3Policy",
}


class ScriptedExpert:
    """Acts for a vectorised Metaworld env from ``env.states()``."""

    def __init__(self, task: Task):
        if task.suite != "metaworld" or task.sim_id not in _POLICIES:
            raise ValueError(f"no scripted expert for task {task.name!r} (Metaworld tasks only)")
        import metaworld.policies

        self.name = _POLICIES[task.sim_id]
        self._policy = getattr(metaworld.policies, self.name)()

    def act(self, states: np.ndarray) -> np.ndarray:
        actions = np.stack([self._policy.get_action(s.astype(np.float64)) for s in states])
        return np.clip(actions, -1.0, 1.0)


class _LoadedScripted(ScriptedExpert):
    inputs = "states"

    def act(self, inputs: np.ndarray, deterministic: bool = True) -> np.ndarray:
        return super().act(inputs)


def train_expert(task: Task, *, kind: str, seed: int, out, config_file=None, overrides=(),
                 progress: bool = True) -> None:  # fmt: skip
    """Nothing to train: record the scripted policy as the task's expert."""
    from pathlib import Path

    from bcvlr.experts.train import write_expert_json

    if config_file or overrides:
        raise ValueError("the scripted Metaworld experts take no configuration")
    expert = ScriptedExpert(task)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    write_expert_json(out, task, kind, __name__, seed, policy=expert.name)


def load_expert(path, meta: dict) -> _LoadedScripted:
    from bcvlr.tasks import get_task

    return _LoadedScripted(get_task(meta["task"]))
