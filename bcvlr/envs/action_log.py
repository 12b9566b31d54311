"""Exact resume for any simulator: the envs are deterministic given their seed and the actions
taken, so a run that logs every vectorised action since it made its envs can, after a kill,
make them again with the same seed and replay the log: they end where the checkpoint left
them, mid-episode, with nothing of the simulator's own state saved."""

from __future__ import annotations

import numpy as np


class ActionLog:
    def __init__(self, actions: np.ndarray | None = None):
        self._actions = [] if actions is None else list(actions)

    def __len__(self) -> int:
        return len(self._actions)

    def add(self, actions: np.ndarray) -> None:
        self._actions.append(np.array(actions, copy=True))

    def state(self) -> np.ndarray:
        """The log as one array (steps, num_envs, ...), for a checkpoint."""
        return np.stack(self._actions) if self._actions else np.zeros((0,))

    def replay(self, env) -> np.ndarray:
        """Step a freshly made ``env`` through the log; the observations it ends on."""
        obs = env.reset()
        for actions in self._actions:
            obs = env.step(actions).obs
        return obs
