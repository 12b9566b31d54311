"""VideoDataset: read and validate a dataset folder written by VideoDatasetWriter.

The reader never touches labels/: ground-truth actions and rewards are opened only by an explicit
`open_labels()` call (diagnostics and the offline-decoding variant), so a learner that is given a
VideoDataset cannot read them by accident."""

from __future__ import annotations

import argparse
import json
import os
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from bcvlr.data import manifest as mf
from bcvlr.data.errors import (
    ChecksumError,
    DatasetError,
    DtypeError,
    IncompleteDatasetError,
    ManifestError,
    MissingChunkError,
    RenderMismatchError,
    ShapeError,
    TaskMismatchError,
)
from bcvlr.data.stacking import stack_episode
from bcvlr.tasks import UnknownTaskError, get_task


class VideoDataset:
    """An expert-video dataset on disk. Opening it loads manifest.json and validates it (shallow
    by default: every chunk exists and has the right shape and dtype, read from the npz headers
    without decompressing); chunks are decompressed only on demand."""

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        task: str | None = None,
        render: Mapping[str, Any] | None = None,
        deep: bool = False,
        allow_incomplete: bool = False,
    ) -> None:
        self.path = Path(path)
        self.manifest = mf.load_manifest(self.path)
        self.validate(task=task, render=render, deep=deep, allow_incomplete=allow_incomplete)
        m = self.manifest
        self.task = get_task(m["task"])
        self.frame_shape: tuple[int, int, int] = tuple(m["frame_shape"])  # type: ignore[assignment]
        self.frame_stack: int = m["frame_stack"]
        self.render: dict = m["render"]
        self.expert: dict = m["expert"]
        self.chunks: list[dict] = m["chunks"]
        self._lengths = [np.asarray(c["episode_lengths"], np.int64) for c in self.chunks]
        per_chunk = np.array([c["episodes"] for c in self.chunks], np.int64)
        self._first_episode = np.concatenate([[0], np.cumsum(per_chunk)])
        self._last: tuple[int, np.ndarray] | None = None  # one-chunk cache for episode reads

    # -- facts ---------------------------------------------------------------------------------
    @property
    def num_chunks(self) -> int:
        return len(self.chunks)

    @property
    def num_episodes(self) -> int:
        return self.manifest["counts"]["episodes"]

    @property
    def num_frames(self) -> int:
        return self.manifest["counts"]["frames"]

    @property
    def num_transitions(self) -> int:
        return self.manifest["counts"]["transitions"]

    @property
    def labels_present(self) -> bool:
        """Every chunk's label file is on disk (deleting labels/ leaves a video-only dataset)."""
        return all(c.get("labels_file") and (self.path / c["labels_file"]).is_file()
                   for c in self.chunks)  # fmt: skip

    @property
    def has_actions(self) -> bool:
        return self.manifest["has_actions"] and self.labels_present

    @property
    def has_rewards(self) -> bool:
        return self.manifest["has_rewards"] and self.labels_present

    @property
    def complete(self) -> bool:
        return self.manifest["complete"]

    @property
    def stacked_shape(self) -> tuple[int, int, int]:
        c, h, w = self.frame_shape
        return (c * self.frame_stack, h, w)

    def chunk_bytes(self, i: int) -> int:
        """RAM taken by chunk i once decompressed."""
        return self.chunks[i]["frames"] * int(np.prod(self.frame_shape))

    def episode_lengths(self, chunk: int) -> np.ndarray:
        """Frames per episode of one chunk (no decompression: read from the manifest)."""
        return self._lengths[chunk]

    def episode_starts(self, chunk: int) -> np.ndarray:
        """Chunk-local frame index of each episode's first frame."""
        lengths = self._lengths[chunk]
        return np.cumsum(lengths) - lengths

    def first_episode(self, chunk: int) -> int:
        """Global index of the chunk's first episode."""
        return int(self._first_episode[chunk])

    def locate_episode(self, episode: int) -> tuple[int, int, int]:
        """(chunk, chunk-local index of its first frame, length in frames) of a global episode."""
        if not 0 <= episode < self.num_episodes:
            raise IndexError(f"episode {episode} out of range 0..{self.num_episodes - 1}")
        chunk = int(np.searchsorted(self._first_episode, episode, side="right") - 1)
        j = episode - int(self._first_episode[chunk])
        return chunk, int(self.episode_starts(chunk)[j]), int(self._lengths[chunk][j])

    # -- validation ----------------------------------------------------------------------------
    @property
    def fingerprint(self) -> str:
        """The frames' identity: the task and every chunk's sha256, in order (not the folder,
        which may move, nor labels/, which may be deleted)."""
        import hashlib

        digest = hashlib.sha256(self.manifest["task"].encode())
        for c in self.chunks:
            digest.update(c["sha256"].encode())
        return digest.hexdigest()

    def validate(
        self,
        task: str | None = None,
        render: Mapping[str, Any] | None = None,
        deep: bool = False,
        allow_incomplete: bool = False,
    ) -> None:
        """Raise the DatasetError subclass of the first fault found. Shallow checks read only
        the manifest and the chunks' npz headers; deep=True also recomputes every chunk's
        sha256 (reads every byte)."""
        m = self.manifest
        where = self.path / mf.MANIFEST
        try:
            task_suite = get_task(m["task"]).suite
        except UnknownTaskError as err:
            raise ManifestError(f"{where}: field 'task': {err}") from None
        if task_suite != m["suite"]:
            raise ManifestError(
                f"{where}: field 'suite' is {m['suite']!r} but task {m['task']!r} is in "
                f"{task_suite!r}"
            )
        if task is not None and task != m["task"]:
            raise TaskMismatchError(f"{where}: field 'task' is {m['task']!r}, expected {task!r}")
        if render is not None and mf.canonical(dict(render), "render") != m["render"]:
            raise RenderMismatchError(
                f"{where}: field 'render' is {m['render']}, expected "
                f"{mf.canonical(dict(render), 'render')}"
            )
        if not m["complete"] and not allow_incomplete:
            raise IncompleteDatasetError(
                f"{where}: field 'complete' is false: the writer never closed this dataset "
                f"({m['counts']['episodes']} episodes in {len(m['chunks'])} chunks so far); "
                "resume the writer to finish it"
            )
        for c in m["chunks"]:
            self._check_chunk_file(c, deep)

    def _check_chunk_file(self, c: dict, deep: bool) -> None:
        path = self.path / c["file"]
        if not path.is_file():
            raise MissingChunkError(f"{path}: chunk listed in {mf.MANIFEST} is missing")
        shape, dtype = mf.read_npz_header(path, mf.FRAMES_KEY)
        expected = (c["frames"], *self.manifest["frame_shape"])
        if shape != expected:
            raise ShapeError(f"{path}: frames have shape {shape}, manifest says {expected}")
        if dtype != np.uint8:
            raise DtypeError(f"{path}: frames have dtype {dtype}, expected uint8")
        if deep and mf.sha256_file(path) != c["sha256"]:
            raise ChecksumError(f"{path}: sha256 differs from the one in {mf.MANIFEST}")

    # -- frames --------------------------------------------------------------------------------
    def load_chunk(self, i: int) -> np.ndarray:
        """Decompress chunk i: frames (N, C, H, W) uint8, episodes back to back."""
        c = self.chunks[i]
        path = self.path / c["file"]
        frames = mf.load_npz(path, (mf.FRAMES_KEY,), c.get("sha256"))[mf.FRAMES_KEY]
        if frames.dtype != np.uint8:
            raise DtypeError(f"{path}: frames have dtype {frames.dtype}, expected uint8")
        if frames.shape != (c["frames"], *self.frame_shape):
            raise ShapeError(f"{path}: frames have shape {frames.shape}, manifest disagrees")
        return frames

    def _chunk_cached(self, i: int) -> np.ndarray:
        if self._last is None or self._last[0] != i:
            self._last = None  # free the old chunk before decompressing the new one
            self._last = (i, self.load_chunk(i))
        return self._last[1]

    def episode_frames(self, episode: int) -> np.ndarray:
        """Raw frames (L, C, H, W) of one episode (a copy; keeps one chunk decompressed)."""
        chunk, start, length = self.locate_episode(episode)
        return self._chunk_cached(chunk)[start : start + length].copy()

    def episode_obs(self, episode: int) -> np.ndarray:
        """Stacked observations (L, k*C, H, W) of one episode, by the env's stacking rule."""
        return stack_episode(self.episode_frames(episode), self.frame_stack)

    def iter_episodes(self, stacked: bool = False) -> Iterator[tuple[int, np.ndarray]]:
        """(episode index, frames) for every episode in order, one chunk in RAM at a time."""
        for i in range(self.num_chunks):
            frames = self.load_chunk(i)
            first = self.first_episode(i)
            for j, (s, n) in enumerate(zip(self.episode_starts(i), self._lengths[i], strict=True)):
                ep = frames[s : s + n]
                yield first + j, stack_episode(ep, self.frame_stack) if stacked else ep.copy()
            del frames

    # -- labels --------------------------------------------------------------------------------
    def open_labels(self, deep: bool = False) -> Labels:
        """Ground-truth actions/rewards. For diagnostics and the offline-decoding variant only:
        learning-from-video methods must never call this."""
        return Labels(self, deep=deep)

    # -- reporting -----------------------------------------------------------------------------
    def disk_bytes(self) -> int:
        return sum((self.path / c["file"]).stat().st_size for c in self.chunks)

    def describe(self) -> str:
        m = self.manifest
        raw = self.num_frames * int(np.prod(self.frame_shape))
        disk = self.disk_bytes()
        ratio = f"{raw / disk:.1f}x" if disk else "-"
        lengths = np.concatenate(self._lengths) if self._lengths else np.zeros(0)
        ep_len = (
            f"{lengths.mean():.1f} (min {lengths.min()}, max {lengths.max()})"
            if len(lengths)
            else "-"
        )
        rows = [
            ("path", str(self.path)),
            ("task", f"{m['task']} ({m['suite']})"),
            ("complete", str(m["complete"])),
            ("episodes", str(self.num_episodes)),
            ("frames", str(self.num_frames)),
            ("transitions", str(self.num_transitions)),
            ("frames/episode", ep_len),
            ("chunks", str(self.num_chunks)),
            ("frame shape", f"{list(self.frame_shape)} uint8, frame_stack {self.frame_stack}"),
            ("size", f"{disk / 1e6:.1f} MB on disk, {raw / 1e6:.1f} MB raw ({ratio})"),
            ("compression", m["compression"].get("codec", "?")),
            ("labels", f"actions={m['has_actions']} rewards={m['has_rewards']} (not loaded)"),
            ("render", json.dumps(m["render"], sort_keys=True)),
            ("expert", json.dumps(m["expert"], sort_keys=True)),
            ("created", m["created"]),
            ("writer", json.dumps(m["writer"], sort_keys=True)),
        ]
        if m.get("source"):
            src = {k: v for k, v in m["source"].items() if k != "files"}
            n = len(m["source"].get("files", []))
            rows.append(("source", json.dumps(src, sort_keys=True) + f" ({n} files)"))
        return "\n".join(f"{k:<15} {v}" for k, v in rows)


@dataclass(frozen=True)
class ChunkLabels:
    """Labels of one chunk, one row per transition, episodes back to back (an episode of L
    frames has L-1 rows)."""

    actions: np.ndarray | None
    rewards: np.ndarray | None


class Labels:
    """Ground-truth actions and rewards of a dataset, opened explicitly via
    VideoDataset.open_labels(). Keeps a few label chunks in RAM (they are small)."""

    def __init__(self, dataset: VideoDataset, deep: bool = False, max_cached_chunks: int = 8):
        m = dataset.manifest
        if not (m["has_actions"] or m["has_rewards"]):
            raise DatasetError(f"{dataset.path}: dataset stores no actions or rewards")
        self.dataset = dataset
        self.has_actions: bool = m["has_actions"]
        self.has_rewards: bool = m["has_rewards"]
        schema = m.get("labels") or {}
        act = schema.get("actions")
        self.action_dtype = None if act is None else np.dtype(act["dtype"])
        self.action_shape: tuple[int, ...] = () if act is None else tuple(act["shape"])
        self._max_cached = max(1, max_cached_chunks)
        self._cache: dict[int, ChunkLabels] = {}
        for c in dataset.chunks:
            if not c.get("labels_file"):
                raise ManifestError(
                    f"{dataset.path / mf.MANIFEST}: chunk {c['file']} has no labels_file"
                )
            path = dataset.path / c["labels_file"]
            if not path.is_file():
                raise MissingChunkError(f"{path}: label file listed in {mf.MANIFEST} is missing")
            if deep and mf.sha256_file(path) != c.get("labels_sha256"):
                raise ChecksumError(f"{path}: sha256 differs from the one in {mf.MANIFEST}")

    def chunk(self, i: int) -> ChunkLabels:
        if i in self._cache:
            return self._cache[i]
        c = self.dataset.chunks[i]
        path = self.dataset.path / c["labels_file"]
        keys = ("actions",) * self.has_actions + ("rewards",) * self.has_rewards
        arrays = mf.load_npz(path, keys, c.get("labels_sha256"))
        n = c["frames"] - c["episodes"]
        if self.has_actions and arrays["actions"].shape != (n, *self.action_shape):
            raise ShapeError(f"{path}: actions have shape {arrays['actions'].shape}")
        if self.has_rewards and arrays["rewards"].shape != (n,):
            raise ShapeError(f"{path}: rewards have shape {arrays['rewards'].shape}")
        if len(self._cache) >= self._max_cached:
            self._cache.pop(next(iter(self._cache)))
        labels = ChunkLabels(arrays.get("actions"), arrays.get("rewards"))
        self._cache[i] = labels
        return labels

    def gather(
        self, chunk: int, frame_index: np.ndarray, episode_ordinal: np.ndarray
    ) -> ChunkLabels:
        """Labels of the transitions leaving chunk-local frames `frame_index`, which lie in the
        chunk's episodes number `episode_ordinal` (each earlier episode has one row fewer than
        frames)."""
        rows = np.asarray(frame_index) - np.asarray(episode_ordinal)
        lab = self.chunk(chunk)
        return ChunkLabels(
            None if lab.actions is None else lab.actions[rows],
            None if lab.rewards is None else lab.rewards[rows],
        )

    def episode(self, episode: int) -> ChunkLabels:
        """Actions (T, ...) and rewards (T,) of one episode of T+1 frames."""
        chunk, start, length = self.dataset.locate_episode(episode)
        j = episode - self.dataset.first_episode(chunk)
        rows = np.arange(start - j, start - j + length - 1)
        lab = self.chunk(chunk)
        return ChunkLabels(
            None if lab.actions is None else lab.actions[rows],
            None if lab.rewards is None else lab.rewards[rows],
        )


def validate_main(args: argparse.Namespace) -> None:
    """`bcvlr validate-videos PATH [--task T]`."""
    from bcvlr.errors import CliError

    try:
        ds = VideoDataset(args.path, task=args.task, deep=not args.quick)
    except DatasetError as e:
        raise CliError(f"{type(e).__name__}: {e}") from None
    print(ds.describe())
    print(
        "ok: dataset is valid" + ("" if args.quick else " (checksums verified)")
    )
