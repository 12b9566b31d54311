"""An online replay of the agent's own reward-free interaction, sampled as windows of
consecutive observations with the real action of their last transition:
(o_t, o_t+1, a_t), or (o_t-1, o_t, o_t+1, a_t) for a three-frame inverse dynamics model.

One ring buffer per parallel env keeps each env's frames consecutive. An entry holds the
observation, the action taken from it and whether the next entry is its successor; the last
observation of an episode (``final_obs``) is stored as an entry without successor, so windows
never cross an episode end.

With ``frame_stack`` > 1 an entry stores only the newest frame of its stacked observation (a
third of the memory for a stack of 3) and stacks are rebuilt when sampling, with the env's
rule (bcvlr/data/stacking.py): before an episode's first frame that frame is repeated. The
ring keeps ``frame_stack - 1`` entries more than it samples from, the frames of the oldest
sampled entry's stack.
"""

from __future__ import annotations

import numpy as np
import torch

from bcvlr.data.replay import for_checkpoint
from bcvlr.tasks import ActionSpace


class WindowReplay:
    def __init__(self, capacity: int, num_envs: int, obs_shape: tuple[int, ...],
                 action_space: ActionSpace, seed: int = 0, frame_stack: int = 1):  # fmt: skip
        per_env = capacity // num_envs
        if per_env < 4:
            raise ValueError(f"capacity {capacity} is too small for {num_envs} envs")
        if frame_stack < 1 or obs_shape[0] % frame_stack:
            raise ValueError(f"{obs_shape[0]} channels are not a stack of {frame_stack} frames")
        self.num_envs, self.per_env = num_envs, per_env  # per_env: the entries sampled from
        self.frame_stack = frame_stack
        self.slots = slots = per_env + frame_stack - 1  # entries kept per env
        self.frames = np.zeros((num_envs, slots, obs_shape[0] // frame_stack, *obs_shape[1:]),
                               np.uint8)  # fmt: skip
        adim = () if action_space.is_discrete else (action_space.size,)
        self.act = np.zeros((num_envs, slots, *adim),
                            np.int64 if action_space.is_discrete else np.float32)  # fmt: skip
        self.has_next = np.zeros((num_envs, slots), bool)
        self.pos = np.zeros(num_envs, np.int64)  # next write index per env
        self.count = np.zeros(num_envs, np.int64)  # entries written per env (unbounded)
        self.transitions = 0
        self._rng = np.random.default_rng(seed)
        self._pending: np.ndarray | None = None  # current obs of each env, not yet stored
        self._held: torch.Tensor | None = None  # a copy of the frames on a device (hold_on)

    def hold_on(self, device: torch.device, limit_mb: float) -> dict[str, float]:
        """Keep a copy of the frames on ``device`` (a GPU) when it fits in ``limit_mb``,
        written as they are stored: ``sample_on`` then gathers its windows there (the same
        windows) instead of copying each batch over. Returns the copy's size (0: not held)."""
        mb = self.frames.nbytes / 2**20
        if mb > limit_mb:
            self._held = None
            return {"replay_on_device/mb": 0.0}
        self._held = torch.tensor(self.frames, device=device)  # a copy, on the CPU too
        return {"replay_on_device/mb": mb}

    def __len__(self) -> int:
        return int(self._sampled_entries().sum())

    def _sampled_entries(self) -> np.ndarray:
        """Entries per env that windows are sampled from (the newest ``per_env`` at most)."""
        return np.minimum(self.count, self.per_env)

    def _oldest(self, newest: np.ndarray | int) -> np.ndarray:
        """Per env, the slot of the oldest of its ``newest`` entries."""
        return (self.pos - newest) % self.slots

    @property
    def stored_transitions(self) -> int:
        """The transitions the replay holds now; ``transitions`` counts every one ever added."""
        n = self._sampled_entries()
        slots = (self._oldest(n)[:, None] + np.arange(self.per_env)) % self.slots
        sampled = np.arange(self.per_env) < n[:, None]
        return int((np.take_along_axis(self.has_next, slots, 1) & sampled).sum())

    def _put(self, env: int, obs: np.ndarray, action, has_next: bool) -> None:
        p = self.pos[env]
        frame = np.asarray(obs)[-self.frames.shape[2] :]  # the newest frame of the stack
        self.frames[env, p] = frame
        if self._held is not None:
            self._held[env, p] = torch.from_numpy(frame)
        if action is not None:
            self.act[env, p] = action
        self.has_next[env, p] = has_next
        self.pos[env] = (p + 1) % self.slots
        self.count[env] += 1

    def start(self, obs: np.ndarray) -> None:
        """The observations the envs start from (after reset)."""
        self._pending = obs.copy()

    @property
    def pending(self) -> np.ndarray | None:
        """Each env's current observation, the start of its next stored transition."""
        return self._pending

    def restart(self, obs: np.ndarray) -> None:
        """The envs were reset mid-stream (a resumed run): store each env's pending
        observation as the end of its stream, the successor of its last action, so that no
        window joins it to ``obs``, the first observation of the new episodes."""
        if self._pending is not None:
            for i in range(self.num_envs):
                self._put(i, self._pending[i], None, False)
        self.start(obs)

    def add(self, actions: np.ndarray, next_obs: np.ndarray, done: np.ndarray,
            final_obs: np.ndarray | None) -> None:  # fmt: skip
        """One vectorised step: ``actions`` taken from the pending observations led to
        ``next_obs`` (the first of a new episode where ``done``)."""
        assert self._pending is not None, "call start() first"
        for i in range(self.num_envs):
            if not done[i]:
                self._put(i, self._pending[i], actions[i], True)
                self.transitions += 1
            elif final_obs is not None:
                self._put(i, self._pending[i], actions[i], True)
                self._put(i, final_obs[i], None, False)
                self.transitions += 1
            else:  # no terminal frame (procgen): the last action has no observed outcome
                self._put(i, self._pending[i], actions[i], False)
        self._pending = next_obs.copy()

    def sample(self, batch: int, window: int = 2, rng: np.random.Generator | None = None,
               action_lead: int = 0) -> tuple[np.ndarray, np.ndarray]:  # fmt: skip
        """(obs (B, window, *obs_shape), action of the last transition (B, ...), or of the
        transition ``action_lead`` steps before it); drawn with ``rng`` when given (a
        diagnostic's own stream), else the replay's."""
        envs, idx = self._sample_index(batch, window, self._rng if rng is None else rng)
        return self._observations(envs, idx), self.act[envs, idx[:, -2 - action_lead]]

    def sample_on(self, device: torch.device, batch: int, window: int = 2,
                  action_lead: int = 0) -> tuple[torch.Tensor, torch.Tensor]:  # fmt: skip
        """``sample``'s batch (the same windows, from the same stream) as tensors on
        ``device``, gathered there when the frames are held on it."""
        envs, idx = self._sample_index(batch, window, self._rng)
        act = torch.from_numpy(self.act[envs, idx[:, -2 - action_lead]]).to(device)
        if self._held is None:
            return torch.from_numpy(self._observations(envs, idx)).to(device), act
        where = self._held.device
        slots = torch.from_numpy(self._stack_slots(envs, idx)).to(where)
        rows = torch.from_numpy(envs[:, None, None]).to(where)
        return self._stacked(self._held[rows, slots]).to(device), act

    def _stack_slots(self, envs: np.ndarray, idx: np.ndarray) -> np.ndarray:
        """Slots (B, window, frame_stack) of the frames, oldest first, that make up the stacked
        observations at entries ``idx`` (B, window) of ``envs``: an entry whose predecessor
        does not lead to it starts an episode, and its frame stands in for the earlier ones."""
        slots = [idx]
        linked = np.ones(idx.shape, bool)
        for back in range(1, self.frame_stack):
            prev = (idx - back) % self.slots
            linked &= self.has_next[envs[:, None], prev]
            slots.append(np.where(linked, prev, slots[-1]))
        return np.stack(slots[::-1], axis=-1)

    def _stacked(self, frames):  # (B, window, k, C, H, W) -> (B, window, k*C, H, W)
        return frames.reshape(*frames.shape[:2], -1, *frames.shape[-2:])

    def _observations(self, envs: np.ndarray, idx: np.ndarray) -> np.ndarray:
        """The stacked observations (B, window, ...) at entries ``idx`` (B, window) of ``envs``."""
        return self._stacked(self.frames[envs[:, None, None], self._stack_slots(envs, idx)])

    def _sample_index(self, batch: int, window: int,
                      rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:  # fmt: skip
        """(env (B,), entry (B, window)) of ``batch`` windows drawn uniformly."""
        n = self._sampled_entries()
        starts_per_env = np.maximum(n - (window - 1), 0)
        if starts_per_env.sum() == 0:
            raise ValueError("the replay holds no window yet")
        envs = np.empty(batch, np.int64)
        offs = np.empty(batch, np.int64)
        filled = 0
        p = starts_per_env / starts_per_env.sum()
        for _ in range(1000):  # rejection sampling: most candidate windows are valid
            e = rng.choice(self.num_envs, size=2 * batch, p=p)
            o = (rng.random(2 * batch) * starts_per_env[e]).astype(np.int64)
            # offset 0 is the oldest entry windows are sampled from
            first = (self._oldest(n)[e] + o) % self.slots
            idx = (first[:, None] + np.arange(window - 1)) % self.slots
            ok = self.has_next[e[:, None], idx].all(axis=1)
            take = min(int(ok.sum()), batch - filled)
            envs[filled : filled + take] = e[ok][:take]
            offs[filled : filled + take] = first[ok][:take]
            filled += take
            if filled == batch:
                break
        else:
            raise ValueError("could not sample enough windows: episodes shorter than the window?")
        return envs, (offs[:, None] + np.arange(window)) % self.slots

    def windows(
        self, window: int = 2, newest: int | None = None, limit: int | None = None,
        action_lead: int = 0,
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:  # fmt: skip
        """Every window among the ``newest`` entries of each env (all it holds if None), each
        once, as (obs, action, episode): ``episode`` numbers the stretches between episode
        ends, so that a diagnostic can split windows by episode and score none it was fitted
        on. With ``limit``, at most that many, evenly spaced over the stream. The action is
        that of the last transition, or of the one ``action_lead`` steps before it."""
        envs, offs, episodes = [], [], []
        sampled = self._sampled_entries()
        for env in range(self.num_envs):
            held = int(sampled[env]) if newest is None else min(int(sampled[env]), newest)
            if held < window:
                continue
            entries = (self._oldest(held)[env] + np.arange(held)) % self.slots
            linked = self.has_next[env, entries]
            starts = np.flatnonzero(np.lib.stride_tricks.sliding_window_view(
                linked, window - 1).all(axis=1)[: held - window + 1])  # fmt: skip
            stretch = np.concatenate([[0], np.cumsum(~linked[:-1])])
            envs.append(np.full(len(starts), env))
            offs.append(entries[starts])
            episodes.append(stretch[starts] * self.num_envs + env)
        if not sum(map(len, envs)):
            raise ValueError("the replay holds no window yet")
        env_of, first, episode = (np.concatenate(x) for x in (envs, offs, episodes))
        if limit is not None and len(first) > limit:
            keep = np.unique(np.linspace(0, len(first) - 1, limit).round().astype(np.int64))
            env_of, first, episode = env_of[keep], first[keep], episode[keep]
        idx = (first[:, None] + np.arange(window)) % self.slots
        obs = self._observations(env_of, idx)
        return obs, self.act[env_of, idx[:, -2 - action_lead]], episode

    _ENTRIES = ("frames", "act", "has_next")

    def state_dict(self) -> dict:
        written = int(min(self.count.max(), self.slots))  # the entries written so far
        entries = {k: for_checkpoint(getattr(self, k)[:, :written]) for k in self._ENTRIES}
        return entries | {"pos": self.pos, "count": self.count, "transitions": self.transitions,
                          "rng": self._rng.bit_generator.state, "pending": self._pending}  # fmt: skip

    def load_state_dict(self, state: dict) -> None:
        if "frames" not in state:
            state = self._from_stacked(state)
        for k in self._ENTRIES:
            written = np.asarray(state[k])
            getattr(self, k)[:, : written.shape[1]] = written
        for k in ("pos", "count"):
            getattr(self, k)[...] = np.asarray(state[k])
        if self._held is not None:
            self._held.copy_(torch.from_numpy(self.frames))
        self.transitions = int(state["transitions"])
        self._rng.bit_generator.state = state["rng"]
        self._pending = state["pending"]

    def _from_stacked(self, state: dict) -> dict:
        """A checkpoint that stored stacked observations in a ring of ``per_env`` (every entry,
        or those written) as this ring stores it: each env's entries in order from slot 0; a
        ring that had wrapped keeps the older frames of its oldest entry's stack before them."""
        obs, act, has_next = (np.asarray(state[k]) for k in ("obs", "act", "has_next"))
        pos, count = np.array(state["pos"]), np.array(state["count"])  # copies: edited below
        c, lead = self.frames.shape[2], self.frame_stack - 1
        frames = np.zeros_like(self.frames)
        acts, links = np.zeros_like(self.act), np.zeros_like(self.has_next)
        for env in range(self.num_envs):
            if count[env] <= self.per_env:  # not wrapped: entry i is at slot i, from the start
                frames[env, : count[env]] = obs[env, : count[env], -c:]
                acts[env, : count[env]] = act[env, : count[env]]
                links[env, : count[env]] = has_next[env, : count[env]]
                pos[env] = count[env] % self.slots
                continue
            order = (pos[env] + np.arange(self.per_env)) % self.per_env
            oldest = obs[env, order[0]].reshape(self.frame_stack, c, *obs.shape[3:])
            frames[env, :lead], links[env, :lead] = oldest[:-1], True
            frames[env, lead:] = obs[env, order, -c:]
            acts[env, lead:], links[env, lead:] = act[env, order], has_next[env, order]
            pos[env], count[env] = 0, max(count[env], self.slots)
        return state | {"frames": frames, "act": acts, "has_next": links, "pos": pos,
                        "count": count}  # fmt: skip
