"""WindowSampler: random windows of consecutive stacked observations from a VideoDataset, with a
bounded cache of decompressed chunks so that datasets far larger than RAM can be used."""

from __future__ import annotations

from collections import deque
from collections.abc import Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np

from bcvlr.data.dataset import Labels, VideoDataset
from bcvlr.data.errors import DatasetError
from bcvlr.data.stacking import stack_frames

DEFAULT_CACHE_MB = 2048


@dataclass(frozen=True)
class WindowIndex:
    """Where the windows of a batch come from (all arrays (B,))."""

    chunk: np.ndarray
    # chunk-local frame index of the window's first frame
    frame: np.ndarray
    episode: np.ndarray
    # index of the window's first frame within its episode
    step: np.ndarray


@dataclass(frozen=True)
class LabeledBatch:
    obs: np.ndarray  # (B, window, k*C, H, W) uint8
    # (B, window-1, ...): actions[:, i] was taken between obs[:, i] and obs[:, i+1]
    actions: np.ndarray | None
    rewards: np.ndarray | None  # (B, window-1) float32
    index: WindowIndex


@dataclass
class _Slot:
    """One decompressed chunk and its valid window starts."""

    chunk: int
    frames: np.ndarray
    start: np.ndarray  # chunk-local first frame of each valid window
    ordinal: np.ndarray  # the window's episode, numbered within the chunk
    episode_start: np.ndarray  # chunk-local first frame of that episode


def _windows_per_episode(lengths: np.ndarray, window: int) -> np.ndarray:
    return np.maximum(lengths - window + 1, 0)


class WindowSampler:
    """Batches (B, window, k*C, H, W) uint8 of consecutive stacked observations
    (o_t, ..., o_{t+window-1}) that never cross an episode boundary; each observation is stacked
    by the env's rule (frames before the episode's first frame repeat the first frame).

    At most `max_cached_chunks` chunks (or as many as `cache_mb` of decompressed frames allow)
    are held at once. When the dataset does not fit, every `rotate_every` batches the oldest
    cached chunk is dropped and the next one of a seeded random order is loaded (in a thread if
    `prefetch`), to join at the following rotation: so in steady state capacity-1 chunks serve
    and one is loading. Windows are drawn uniformly among those of the serving chunks (of
    ``chunks`` only, when given). The same
    seed gives the same batches, with or without prefetching.
    """

    def __init__(
        self,
        dataset: VideoDataset,
        window: int = 2,
        batch_size: int = 128,
        seed: int = 0,
        *,
        max_cached_chunks: int | None = None,
        cache_mb: float | None = None,
        rotate_every: int = 50,
        prefetch: bool = True,
        chunks: Sequence[int] | None = None,
    ) -> None:
        if window < 1:
            raise ValueError(f"window must be >= 1, got {window}")
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        if rotate_every < 1:
            raise ValueError(f"rotate_every must be >= 1, got {rotate_every}")
        if max_cached_chunks is not None and cache_mb is not None:
            raise ValueError("give max_cached_chunks or cache_mb, not both")
        self.dataset = dataset
        self.window = window
        self.batch_size = batch_size
        self.frame_stack = dataset.frame_stack
        self.rotate_every = rotate_every
        self._n_valid = np.array(
            [
                int(_windows_per_episode(dataset.episode_lengths(i), window).sum())
                for i in range(dataset.num_chunks)
            ],
            np.int64,
        )
        self._eligible = np.flatnonzero(self._n_valid > 0)
        if chunks is not None:  # windows of these chunks only
            self._eligible = np.intersect1d(self._eligible, np.asarray(chunks, np.int64))
        if len(self._eligible) == 0:
            raise DatasetError(f"{dataset.path}: no episode has {window} frames; nothing to sample")
        if max_cached_chunks is None:
            budget = (DEFAULT_CACHE_MB if cache_mb is None else cache_mb) * 2**20
            biggest = max(dataset.chunk_bytes(int(i)) for i in self._eligible)
            max_cached_chunks = int(budget // biggest)
            if max_cached_chunks < 1:
                raise ValueError(
                    f"cache_mb={cache_mb} cannot hold one chunk ({biggest / 2**20:.0f} MB "
                    "decompressed); raise it or write the dataset with smaller chunk_frames"
                )
        if max_cached_chunks < 1:
            raise ValueError(f"max_cached_chunks must be >= 1, got {max_cached_chunks}")
        self.capacity = max_cached_chunks
        self.rotates = len(self._eligible) > self.capacity
        seeds = np.random.SeedSequence(seed).spawn(2)
        self._rng = np.random.default_rng(seeds[0])
        self._order_rng = np.random.default_rng(seeds[1])
        self._order: np.ndarray = np.zeros(0, np.int64)
        self._order_pos = 0
        self._batches = 0
        self._active: deque[_Slot] = deque()
        self._pending: tuple[int, Future[_Slot]] | None = None
        # A prefetch needs a free slot to load into while the others keep serving.
        self._pool = (
            ThreadPoolExecutor(1, thread_name_prefix="bcvlr-chunk")
            if prefetch and self.rotates and self.capacity >= 2
            else None
        )
        first = (
            self._eligible
            if not self.rotates
            else [self._next_chunk(set()) for _ in range(self.capacity)]
        )
        for c in first:
            self._active.append(self._load(int(c)))

    # -- cache -----------------------------------------------------------------------------------
    def _load(self, chunk: int) -> _Slot:
        frames = self.dataset.load_chunk(chunk)
        lengths = self.dataset.episode_lengths(chunk)
        n = _windows_per_episode(lengths, self.window)
        ep_start = np.cumsum(lengths) - lengths
        ordinal = np.repeat(np.arange(len(lengths)), n)
        offset = np.arange(int(n.sum())) - np.repeat(np.cumsum(n) - n, n)
        first = ep_start[ordinal]
        return _Slot(chunk, frames, first + offset, ordinal, first)

    def _next_chunk(self, held: set[int]) -> int:
        # Walks seeded permutations of the chunks, so that every chunk is visited once per pass.
        while True:
            if self._order_pos >= len(self._order):
                self._order = self._order_rng.permutation(self._eligible)
                self._order_pos = 0
            c = int(self._order[self._order_pos])
            self._order_pos += 1
            if c not in held:
                return c

    def held_chunks(self) -> list[int]:
        """Chunks held decompressed right now, including one being prefetched."""
        held = [s.chunk for s in self._active]
        return held + ([self._pending[0]] if self._pending else [])

    def _rotate(self) -> None:
        if self.capacity == 1:
            gone = self._active.popleft().chunk  # dropped before loading: never two at once
            self._active.append(self._load(self._next_chunk({gone})))
            return
        # The chunk loaded at the previous rotation joins now and the next one starts loading
        # into the freed slot. Without a thread it loads right here, so that both ways keep the
        # same schedule (and give the same batches for a seed).
        if self._pending is not None:
            self._active.append(self._pending[1].result())
            self._pending = None
        self._active.popleft()
        c = self._next_chunk(set(self.held_chunks()))
        if self._pool is not None:
            future = self._pool.submit(self._load, c)
        else:
            future = Future()
            future.set_result(self._load(c))
        self._pending = (c, future)

    # -- sampling --------------------------------------------------------------------------------
    def _draw(self) -> tuple[list[_Slot], np.ndarray, np.ndarray]:
        if not self._active:
            raise DatasetError(f"{self.dataset.path}: sampler is closed")
        if self.rotates and self._batches > 0 and self._batches % self.rotate_every == 0:
            self._rotate()
        self._batches += 1
        slots = list(self._active)
        counts = np.array([len(s.start) for s in slots], np.float64)
        which = self._rng.choice(len(slots), size=self.batch_size, p=counts / counts.sum())
        pick = self._rng.integers(0, counts[which].astype(np.int64))
        return slots, which, pick

    def _gather(
        self,
        slots: list[_Slot],
        which: np.ndarray,
        pick: np.ndarray,
        labels: Labels | None,
        with_obs: bool = True,
    ) -> LabeledBatch:
        w, b = self.window, self.batch_size
        c, h, wd = self.dataset.frame_shape
        obs = np.empty((b, w, c * self.frame_stack, h, wd) if with_obs else (0,), np.uint8)
        index = {k: np.empty(b, np.int64) for k in ("chunk", "frame", "episode", "step")}
        actions = rewards = None
        for a in np.unique(which):
            rows = np.flatnonzero(which == a)
            slot = slots[a]
            p = pick[rows]
            start, ep_start = slot.start[p], slot.episode_start[p]
            t = start[:, None] + np.arange(w)
            if with_obs:
                obs[rows] = stack_frames(slot.frames, t, ep_start[:, None], self.frame_stack)
            index["chunk"][rows] = slot.chunk
            index["frame"][rows] = start
            index["episode"][rows] = self.dataset.first_episode(slot.chunk) + slot.ordinal[p]
            index["step"][rows] = start - ep_start
            if labels is not None:
                lab = labels.gather(slot.chunk, t[:, :-1], slot.ordinal[p][:, None])
                if lab.actions is not None:
                    if actions is None:
                        actions = np.empty((b, *lab.actions.shape[1:]), lab.actions.dtype)
                    actions[rows] = lab.actions
                if lab.rewards is not None:
                    if rewards is None:
                        rewards = np.empty((b, w - 1), np.float32)
                    rewards[rows] = lab.rewards
        return LabeledBatch(obs, actions, rewards, WindowIndex(**index))

    def sample(self) -> np.ndarray:
        """One batch (B, window, k*C, H, W) uint8."""
        return self._gather(*self._draw(), labels=None).obs

    def sample_indexed(self) -> LabeledBatch:
        """One batch with where each window comes from, and no labels."""
        return self._gather(*self._draw(), labels=None)

    def sample_index(self) -> WindowIndex:
        """Where the windows of one batch come from, without their frames; consumes the random
        stream exactly like sample(), so the windows are the ones sample() would give."""
        return self._gather(*self._draw(), labels=None, with_obs=False).index

    def sample_with_labels(self, labels: Labels) -> LabeledBatch:
        """One batch plus the ground-truth actions/rewards of its transitions. Consumes the
        random stream exactly like sample(), so the frames are the ones sample() would give."""
        if labels.dataset is not self.dataset:
            raise ValueError("labels were opened from another VideoDataset than the sampler's")
        return self._gather(*self._draw(), labels=labels)

    # -- resume ------------------------------------------------------------------------------
    def state_dict(self) -> dict:
        """Where the random streams and the chunk cache stand: a sampler given it continues
        with exactly the batches this one would draw next (so a resumed run equals an
        uninterrupted one)."""
        return {"rng": self._rng.bit_generator.state,
                "order_rng": self._order_rng.bit_generator.state,
                "order": self._order.tolist(), "order_pos": self._order_pos,
                "batches": self._batches, "active": [s.chunk for s in self._active],
                "pending": None if self._pending is None else self._pending[0]}  # fmt: skip

    def load_state_dict(self, state: dict) -> None:
        self._rng.bit_generator.state = state["rng"]
        self._order_rng.bit_generator.state = state["order_rng"]
        self._order = np.asarray(state["order"], np.int64)
        self._order_pos = int(state["order_pos"])
        self._batches = int(state["batches"])
        if [s.chunk for s in self._active] != state["active"]:
            self._active = deque(self._load(int(c)) for c in state["active"])
        self._pending = None
        if state["pending"] is not None:
            future: Future[_Slot] = Future()
            future.set_result(self._load(int(state["pending"])))
            self._pending = (int(state["pending"]), future)

    def __iter__(self) -> Iterator[np.ndarray]:
        return self

    def __next__(self) -> np.ndarray:
        return self.sample()

    def close(self) -> None:
        """Stop the prefetch thread and drop the cached chunks."""
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None
        self._pending = None
        self._active.clear()

    def __enter__(self) -> WindowSampler:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __del__(self) -> None:
        pool = getattr(self, "_pool", None)
        if pool is not None:
            pool.shutdown(wait=False, cancel_futures=True)
