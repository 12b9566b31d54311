"""Procgen games through procgen's native vectorised gym3 env (the C++ loop steps all N games)."""

from __future__ import annotations

import copy
from dataclasses import dataclass

import numpy as np

from bcvlr.envs.base import EpisodeTracker, Step, check_actions
from bcvlr.tasks import Task


@dataclass
class ProcgenState:
    """What ``ProcgenVecEnv.get_state`` saves: each game's serialised state, and the episode
    statistics so far."""

    games: list[bytes]
    tracker: EpisodeTracker


def default_render_settings() -> dict:
    # Procgen renders its own 64x64 observation; nothing to tune, recorded for provenance.
    return {"renderer": "procgen", "width": 64, "height": 64, "distribution_mode": "easy",
            "num_levels": 0, "start_level": 0}  # fmt: skip


class ProcgenVecEnv:
    """Easy mode, full level distribution (num_levels=0), 64x64x3, 15 actions."""

    def __init__(self, task: Task, num_envs: int, seed: int, distribution_mode: str = "easy"):
        from procgen import ProcgenGym3Env

        self.task = task
        self.num_envs = num_envs
        self.action_space = task.action_space
        self.obs_shape = (3, 64, 64)
        self.render_settings = default_render_settings() | {"distribution_mode": distribution_mode}
        # procgen's seed picks the level sequence; int32 range.
        self._env = ProcgenGym3Env(num=num_envs, env_name=task.sim_id,
                                   distribution_mode=distribution_mode, num_levels=0,
                                   start_level=0, rand_seed=int(seed) % (2**31 - 1))  # fmt: skip
        self._tracker = EpisodeTracker(num_envs)

    def _obs(self) -> np.ndarray:
        _, obs, _ = self._env.observe()
        return np.ascontiguousarray(obs["rgb"].transpose(0, 3, 1, 2))

    def reset(self) -> np.ndarray:
        # gym3 envs start in a fresh episode and cannot be reset on demand: reset() returns the
        # current frames, which are first frames only before the first step.
        self._tracker = EpisodeTracker(self.num_envs)
        return self._obs()

    def states(self) -> np.ndarray:
        raise NotImplementedError("procgen exposes no low-dimensional state (get_state() "
                                  "saves the simulator's whole state)")  # fmt: skip

    def game_states(self) -> list[bytes]:
        """Each game's saved state alone (what a planner reads), without the episode statistics."""
        return list(self._env.callmethod("get_state"))

    def get_state(self) -> ProcgenState:
        """Every game's whole simulator state (procgen's own serialisation, bytes per env) and
        the running episode statistics: ``set_state`` returns the envs to this point, after
        which the same actions give the same frames and rewards (a planner looks ahead so)."""
        return ProcgenState(self.game_states(), copy.deepcopy(self._tracker))

    def set_state(self, state: ProcgenState) -> np.ndarray:
        """Return the envs to ``state``; the frames they then show."""
        if len(state.games) != self.num_envs:
            raise ValueError(f"a state of {len(state.games)} envs, this env has {self.num_envs}")
        self._env.callmethod("set_state", state.games)
        self._tracker = copy.deepcopy(state.tracker)
        return self._obs()

    def step(self, actions: np.ndarray) -> Step:
        actions = check_actions(actions, self.action_space, self.num_envs)
        self._env.act(actions)
        reward, obs, first = self._env.observe()
        # gym3 reports the reward of the action just taken together with `first` of the next
        # frame: first=True means the action ended the episode and procgen already reset.
        done = first.astype(bool)
        reward = reward.astype(np.float32)
        frames = np.ascontiguousarray(obs["rgb"].transpose(0, 3, 1, 2))
        no_success = np.zeros(self.num_envs, bool)
        episodes = self._tracker.update(reward, done, no_success)
        # Procgen does not separate a timeout from a terminal; its timeout (1000 steps) is rare
        # for the games' experts, so every end counts as terminal.
        return Step(frames, reward, terminated=done, truncated=np.zeros_like(done),
                    final_obs=None, success=no_success, episodes=episodes)  # fmt: skip

    def close(self) -> None:
        # gym3 envs free their C++ state when garbage-collected; there is no close().
        del self._env
