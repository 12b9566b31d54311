"""Observation streams for WindowReplay tests: parallel envs whose frames carry unique ids,
stacked by the env's rule (bcvlr/data/stacking.py), so that every stacked observation can be
checked against the one the envs produced."""

from __future__ import annotations

import numpy as np

from bcvlr.data.stacking import stack_frames

STACK = 3
CHANNELS = 2  # one 1x1 frame holds a 16-bit id in two uint8 channels
OBS_SHAPE = (STACK * CHANNELS, 1, 1)


def frame(i: int) -> np.ndarray:
    return np.array([i // 256, i % 256], np.uint8).reshape(CHANNELS, 1, 1)


def frame_id(f: np.ndarray) -> int:
    return int(f[0, 0, 0]) * 256 + int(f[1, 0, 0])


def newest_id(obs: np.ndarray) -> int:
    """The id of the newest frame of a stacked observation (the last channels)."""
    return frame_id(obs[-CHANNELS:])


class Stream:
    """``envs`` envs stepping through episodes that end with probability ``end`` per step; a
    step returns what WindowReplay.add takes: actions, next observations, done and (with
    ``final``, as DMC) the final observations. ``stacks`` maps each frame id to the stacked
    observation the envs showed when it was the newest frame."""

    def __init__(self, seed: int, envs: int = 2, final: bool = True, end: float = 0.15):
        self.rng = np.random.default_rng(seed)
        self.envs, self.final, self.end = envs, final, end
        self.ids = iter(range(1, 2**16))
        self.episodes = [[next(self.ids)] for _ in range(envs)]
        self.stacks: dict[int, np.ndarray] = {}

    def _observe(self, env: int) -> np.ndarray:
        episode = self.episodes[env]
        frames = np.stack([frame(i) for i in episode])
        obs = stack_frames(frames, np.array(len(episode) - 1), np.array(0), STACK)
        self.stacks[episode[-1]] = obs
        return obs

    def start(self) -> np.ndarray:
        return np.stack([self._observe(e) for e in range(self.envs)])

    def reset(self) -> np.ndarray:
        """Every env starts a fresh episode (a resumed run's restart)."""
        self.episodes = [[next(self.ids)] for _ in range(self.envs)]
        return self.start()

    def step(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray | None]:
        actions = self.rng.integers(0, 15, self.envs)
        done = self.rng.random(self.envs) < self.end
        next_obs, final_obs = [], []
        for env in range(self.envs):
            self.episodes[env].append(next(self.ids))
            final_obs.append(self._observe(env))
            if done[env]:
                self.episodes[env] = [next(self.ids)]
            next_obs.append(self._observe(env))
        return actions, np.stack(next_obs), done, np.stack(final_obs) if self.final else None
