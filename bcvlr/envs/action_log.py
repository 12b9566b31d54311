"""Exact resume for any simulator: the envs are deterministic given their seed and the actions
taken, so a run that logs every vectorised action since it made its envs can, after a kill,
make them again with the same seed and replay the log: they end where the checkpoint left
them, mid-episode, with nothing of the simulator's own state saved."""

from __future__ import annotations

import numpy as np


class ActionLog:
    """``exact`` is False for a run resumed from a checkpoint that holds no log (written before
    action logs existed, or by such a run): its envs start new episodes from another seed, and
    it logs nothing, so a later resume does not replay a log that misses the run's start."""

    def __init__(self, actions: np.ndarray | None = None, exact: bool = True):
        self.exact = exact
        self._actions = [] if actions is None else list(actions)

    @classmethod
    def resume(cls, state: dict | None) -> ActionLog:
        """The log of a run's checkpoint (``state["env_actions"]``); None: a new run."""
        if state is None:
            return cls()
        actions = state.get("env_actions")
        return cls(exact=False) if actions is None else cls(actions)

    def __len__(self) -> int:
        return len(self._actions)

    def add(self, actions: np.ndarray) -> None:
        if self.exact:
            self._actions.append(np.array(actions, copy=True))

    def state(self) -> np.ndarray | None:
        """The log as one array (steps, num_envs, ...), for a checkpoint; None when inexact."""
        if not self.exact:
            return None
        return np.stack(self._actions) if self._actions else np.zeros((0,))

    def seed_offset(self, position: int) -> int:
        """What to add to the envs' seed: 0 to replay; else the run's position, so that an
        inexact resume plays other levels than the start did."""
        return 0 if self.exact else position

    def start(self, env) -> np.ndarray:
        """A freshly made ``env`` stepped through the log (exact) or reset; its observations."""
        obs = env.reset()
        if self.exact:
            for actions in self._actions:
                obs = env.step(actions).obs
        return obs
