"""An online replay buffer of transitions with n-step returns, for off-policy RL (DDPG/DrQv2).

Slot layout: every slot holds one observation. An episode occupies consecutive slots: its
reset observation, then one slot per step holding (action, reward, discount) that led to the
slot's observation. A transition sampled at slot i spans slots i .. i+k, k = n or fewer where
the episode terminates first (discount 0); windows never cross an episode boundary, and only
complete windows are sampled (as in DrQv2, the last n-1 steps of a time-limited episode start
no transition, so no bootstrap target is ever taken from a truncated window).

Frames: with ``frame_stack`` > 1 only the newest frame of each stacked observation is stored
(uint8, a third of the memory of storing stacks) and stacks are rebuilt when sampling, with
the env's rule: before the episode's start the reset frame is repeated.

Action sequences (TACO): ``sample(..., seq_len=K)`` also returns the actions a_t..a_{t+K-1}
and the observation at t+K, drawn only from starts whose next K steps lie in the same episode.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch


def for_checkpoint(array: np.ndarray) -> torch.Tensor:
    """A buffer's array as a checkpoint holds it: a tensor sharing its memory, which torch.save
    writes as it is (a pickled array: ~15x slower and several copies in memory). Save it before
    the buffer changes."""
    return torch.from_numpy(array)


@dataclass
class Batch:
    obs: np.ndarray
    action: np.ndarray
    reward: np.ndarray  # (B,) n-step discounted return
    discount: np.ndarray  # (B,) gamma^k times the env discounts: multiplies Q(next_obs)
    next_obs: np.ndarray
    # with sample(seq_len=K): (B, K, A) actions a_t..a_{t+K-1} and the observation at t+K
    action_seq: np.ndarray | None = None
    future_obs: np.ndarray | None = None


class ReplayBuffer:
    def __init__(
        self,
        capacity: int,
        obs_shape: tuple[int, ...],
        action_dim: int,
        *,
        obs_dtype: np.dtype | type = np.uint8,
        frame_stack: int = 1,
        nstep: int = 1,
        gamma: float = 0.99,
    ):
        if obs_shape[0] % frame_stack:
            raise ValueError(f"obs channels {obs_shape[0]} not divisible by stack {frame_stack}")
        if capacity <= nstep + frame_stack:
            raise ValueError(f"capacity {capacity} too small for n-step {nstep}")
        self.capacity, self.nstep, self.gamma = int(capacity), int(nstep), float(gamma)
        self.frame_stack = int(frame_stack)
        self.obs_shape = tuple(obs_shape)
        self._frame_channels = obs_shape[0] // frame_stack
        frame_shape = (self._frame_channels, *obs_shape[1:])
        self.frames = np.zeros((self.capacity, *frame_shape), obs_dtype)
        self.action = np.zeros((self.capacity, action_dim), np.float32)
        self.reward = np.zeros(self.capacity, np.float32)
        self.discount = np.ones(self.capacity, np.float32)
        # steps since the episode's reset observation (0 at the reset slot)
        self.pos = np.zeros(self.capacity, np.int64)
        # slot i starts a sampleable transition
        self.valid = np.zeros(self.capacity, bool)
        self.head = 0  # next slot to write
        self.size = 0
        self._in_episode = False

    def __len__(self) -> int:
        """Number of sampleable transitions."""
        return int(self.valid.sum())

    def _write(self, obs: np.ndarray, pos: int) -> int:
        j = self.head
        # The overwritten frame was the start of an old transition and part of the stack of
        # the following frame_stack - 1 slots: none of them may be sampled any more.
        self.valid[(j + np.arange(self.frame_stack)) % self.capacity] = False
        self.frames[j] = obs[-self._frame_channels :]
        self.pos[j] = pos
        self.head = (j + 1) % self.capacity
        self.size = min(self.size + 1, self.capacity)
        return j

    def add_first(self, obs: np.ndarray) -> None:
        """Start an episode with its reset observation (an unfinished one is abandoned)."""
        j = self._write(obs, 0)
        self.action[j], self.reward[j], self.discount[j] = 0.0, 0.0, 1.0
        self._in_episode = True

    def add(self, action: np.ndarray, reward: float, discount: float, next_obs: np.ndarray) -> None:
        """One step of the current episode; ``discount`` is 0 at a true terminal, else 1."""
        if not self._in_episode:
            raise RuntimeError("add_first() must start an episode before add()")
        pos = int(self.pos[(self.head - 1) % self.capacity]) + 1
        j = self._write(next_obs, pos)
        self.action[j], self.reward[j], self.discount[j] = action, reward, discount
        if pos >= self.nstep:
            self.valid[(j - self.nstep) % self.capacity] = True
        if discount == 0.0:
            # windows cut short by the terminal: their bootstrap discount is 0
            starts = (j - np.arange(1, min(self.nstep - 1, pos) + 1)) % self.capacity
            self.valid[starts] = True
            self._in_episode = False

    def _stacked(self, idx: np.ndarray) -> np.ndarray:
        if self.frame_stack == 1:
            return self.frames[idx]
        # oldest frame first; offsets beyond the episode start repeat the reset frame
        back = np.arange(self.frame_stack - 1, -1, -1)
        src = (idx[:, None] - np.minimum(back[None, :], self.pos[idx][:, None])) % self.capacity
        stacked = self.frames[src]  # (B, stack, C, H, W)
        return stacked.reshape(len(idx), *self.obs_shape)

    def _spans(self, idx: np.ndarray, k: int) -> np.ndarray:
        """Whether slots idx+1 .. idx+k hold the next k steps of idx's episode: written after
        idx (pos counts up without a reset in between)."""
        written_after = (self.head - 1 - idx) % self.capacity
        return (written_after >= k) & (self.pos[(idx + k) % self.capacity] == self.pos[idx] + k)

    def sample(self, batch_size: int, rng: np.random.Generator, seq_len: int = 0) -> Batch:
        starts = np.flatnonzero(self.valid)
        if len(starts) == 0:
            raise RuntimeError("replay buffer has no complete transition yet")
        idx = starts[rng.integers(0, len(starts), batch_size)]
        if seq_len:
            # Redraw the starts too close to their episode's end from the eligible ones only:
            # uniform over the eligible starts without scanning the buffer at every call.
            bad = ~self._spans(idx, seq_len)
            if bad.any():
                eligible = starts[self._spans(starts, seq_len)]
                if len(eligible) == 0:
                    raise RuntimeError(f"replay buffer has no {seq_len}-step sequence yet")
                idx[bad] = eligible[rng.integers(0, len(eligible), int(bad.sum()))]
        ret = np.zeros(batch_size, np.float32)
        disc = np.ones(batch_size, np.float32)
        last = idx.copy()
        alive = np.ones(batch_size, bool)
        for k in range(1, self.nstep + 1):
            slot = (idx + k) % self.capacity
            ret += np.where(alive, disc * self.reward[slot], 0.0).astype(np.float32)
            disc = np.where(alive, disc * self.discount[slot] * self.gamma, disc).astype(np.float32)
            last = np.where(alive, slot, last)
            alive &= self.discount[slot] != 0.0
        first = (idx + 1) % self.capacity
        batch = Batch(self._stacked(idx), self.action[first], ret, disc, self._stacked(last))
        if seq_len:
            batch.action_seq = self.action[(first[:, None] + np.arange(seq_len)) % self.capacity]
            batch.future_obs = self._stacked((idx + seq_len) % self.capacity)
        return batch

    # -- checkpointing --------------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        # Only the slots written so far: a fresh 1M-slot buffer must not make 1M-slot files
        # (50k frames: 0.8 s as tensors, 21 s pickled).
        n = self.size
        arrays = {k: for_checkpoint(getattr(self, k)[:n]) for k in self._ARRAYS}
        return {"arrays": arrays, "head": self.head, "size": self.size,
                "in_episode": self._in_episode, "capacity": self.capacity}  # fmt: skip

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if state["capacity"] != self.capacity:
            raise ValueError(f"checkpoint buffer capacity {state['capacity']} != {self.capacity}")
        n = state["size"]
        for k in self._ARRAYS:
            getattr(self, k)[:n] = np.asarray(state["arrays"][k])
        self.head, self.size, self._in_episode = state["head"], n, state["in_episode"]

    _ARRAYS = ("frames", "action", "reward", "discount", "pos", "valid")
