"""VideoDatasetWriter: appends whole episodes, chunk by chunk, and can resume after a crash."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Mapping
from pathlib import Path
from types import TracebackType
from typing import Any

import numpy as np

from bcvlr.data import manifest as mf
from bcvlr.data.errors import (
    DatasetCompleteError,
    DatasetError,
    DatasetExistsError,
    DtypeError,
    ManifestError,
    MissingChunkError,
    ProvenanceMismatchError,
    RenderMismatchError,
    ShapeError,
    TaskMismatchError,
)
from bcvlr.tasks import get_task

# ~100 MB of raw 3x64x64 frames: a few of them fit any cache budget, and a chunk decompresses in
# well under a second.
DEFAULT_CHUNK_FRAMES = 8192


def _conflicts(given: Mapping[str, Any], stored: Mapping[str, Any]) -> list[str]:
    return [k for k, v in given.items() if k in stored and stored[k] != v]


class VideoDatasetWriter:
    """Write expert videos as a dataset folder (see docs/dataset-format.md).

    Episodes are buffered in memory and written as one compressed chunk once the buffer holds
    `chunk_frames` frames; each chunk and the manifest are replaced atomically, so a killed
    writer leaves a dataset that a new writer (resume=True) continues after its last listed
    chunk. Only flushed episodes count: `episodes_written` tells a collector where to go on.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        task: str,
        frame_shape: tuple[int, int, int],
        frame_stack: int,
        render: Mapping[str, Any],
        expert: Mapping[str, Any] | None = None,
        chunk_frames: int = DEFAULT_CHUNK_FRAMES,
        resume: bool = True,
        source: Mapping[str, Any] | None = None,
    ) -> None:
        self.path = Path(path)
        self.task = get_task(task)
        self.frame_shape = tuple(int(x) for x in frame_shape)
        if len(self.frame_shape) != 3 or min(self.frame_shape) < 1:
            raise ShapeError(f"frame_shape must be (C, H, W), got {frame_shape}")
        if frame_stack < 1:
            raise ValueError(f"frame_stack must be >= 1, got {frame_stack}")
        if chunk_frames < 1:
            raise ValueError(f"chunk_frames must be >= 1, got {chunk_frames}")
        self.frame_stack = int(frame_stack)
        self.chunk_frames = int(chunk_frames)
        self._render = mf.canonical(dict(render), "render")
        self._expert = mf.canonical(dict(expert or {}), "expert")
        self._source = None if source is None else mf.canonical(dict(source), "source")
        self._buffer: list[tuple[np.ndarray, np.ndarray | None, np.ndarray | None]] = []
        self._buffered_frames = 0
        self._closed = False

        if (self.path / mf.MANIFEST).exists():
            if not resume:
                raise DatasetExistsError(
                    f"{self.path}: already holds a dataset ({mf.MANIFEST}); pass resume=True "
                    "to continue it or choose another folder"
                )
            self._m = self._resume()
        else:
            if self.path.exists() and any(self.path.iterdir()):
                raise DatasetExistsError(
                    f"{self.path}: folder is not empty and holds no {mf.MANIFEST}; refusing to "
                    "write a dataset into it"
                )
            self._m = self._new_manifest()
            (self.path / mf.CHUNK_DIR).mkdir(parents=True, exist_ok=True)
            (self.path / mf.LABEL_DIR).mkdir(exist_ok=True)
            # Written before any chunk so that an interrupted first chunk is still resumable and
            # a reader reports the dataset as incomplete instead of absent.
            mf.save_manifest(self.path, self._m)

    # -- creation and resumption ---------------------------------------------------------------
    def _new_manifest(self) -> dict:
        return {
            "format": mf.FORMAT_NAME,
            "version": mf.FORMAT_VERSION,
            "task": self.task.name,
            "suite": self.task.suite,
            "frame_shape": list(self.frame_shape),
            "frame_dtype": "uint8",
            "frame_stack": self.frame_stack,
            "render": self._render,
            "expert": self._expert,
            "source": self._source,
            "compression": dict(mf.COMPRESSION),
            "chunk_frames": self.chunk_frames,
            "counts": {"episodes": 0, "frames": 0, "transitions": 0},
            "has_actions": False,
            "has_rewards": False,
            # None until the first episode fixes whether actions/rewards are stored, and how
            "labels": None,
            "chunks": [],
            "complete": False,
            "created": mf.now(),
            "updated": mf.now(),
            "closed": None,
            "writer": mf.writer_versions(),
            "resumed": [],
        }

    def _resume(self) -> dict:
        m = mf.load_manifest(self.path)
        where = self.path / mf.MANIFEST
        if m["complete"]:
            raise DatasetCompleteError(f"{self.path}: dataset is complete; nothing to resume")
        if m["task"] != self.task.name:
            raise TaskMismatchError(
                f"{where}: field 'task' is {m['task']!r}, writer was given {self.task.name!r}"
            )
        if tuple(m["frame_shape"]) != self.frame_shape:
            raise ShapeError(
                f"{where}: field 'frame_shape' is {m['frame_shape']}, writer was given "
                f"{list(self.frame_shape)}"
            )
        if m["frame_stack"] != self.frame_stack:
            raise ManifestError(
                f"{where}: field 'frame_stack' is {m['frame_stack']}, writer was given "
                f"{self.frame_stack}"
            )
        if m["render"] != self._render:
            raise RenderMismatchError(
                f"{where}: field 'render' is {m['render']}, writer was given {self._render}"
            )
        # Only the keys a caller passes are compared: statistics added later through
        # update_provenance() must not make the original arguments look inconsistent.
        if bad := _conflicts(self._expert, m["expert"]):
            raise ProvenanceMismatchError(f"{where}: field 'expert' differs in {bad}")
        if self._source is not None:
            if bad := _conflicts(self._source, m.get("source") or {}):
                raise ProvenanceMismatchError(f"{where}: field 'source' differs in {bad}")
            m["source"] = {**(m.get("source") or {}), **self._source}
        m["expert"] = {**m["expert"], **self._expert}
        for c in m["chunks"]:
            for key in ("file", "labels_file"):
                if c.get(key) and not (self.path / c[key]).is_file():
                    raise MissingChunkError(
                        f"{self.path / c[key]}: listed in {mf.MANIFEST} but missing; cannot "
                        "resume over a hole"
                    )
        self._remove_debris(m)
        m.setdefault("resumed", []).append(mf.now())
        m["chunk_frames"] = self.chunk_frames
        mf.save_manifest(self.path, m)
        return m

    def _remove_debris(self, m: dict) -> None:
        """Delete what an interrupted write left: tmp files and chunks the manifest never
        listed (written, but killed before the manifest update)."""
        listed = {c["file"] for c in m["chunks"]} | {
            c["labels_file"] for c in m["chunks"] if c.get("labels_file")
        }
        for p in self.path.glob("*" + mf.TMP_SUFFIX):
            p.unlink()
        for sub in (mf.CHUNK_DIR, mf.LABEL_DIR):
            folder = self.path / sub
            folder.mkdir(exist_ok=True)
            for p in folder.iterdir():
                if p.is_file() and f"{sub}/{p.name}" not in listed:
                    p.unlink()

    # -- progress ------------------------------------------------------------------------------
    @property
    def frames_written(self) -> int:
        """Frames in chunks on disk (buffered episodes are not counted: a crash loses them)."""
        return self._m["counts"]["frames"]

    @property
    def episodes_written(self) -> int:
        return self._m["counts"]["episodes"]

    @property
    def transitions_written(self) -> int:
        return self._m["counts"]["transitions"]

    @property
    def chunks_written(self) -> int:
        return len(self._m["chunks"])

    @property
    def frames_buffered(self) -> int:
        return self._buffered_frames

    @property
    def episodes_buffered(self) -> int:
        return len(self._buffer)

    @property
    def complete(self) -> bool:
        return self._m["complete"]

    @property
    def manifest(self) -> dict:
        return mf.canonical(self._m, "manifest")

    def update_provenance(
        self, expert: Mapping[str, Any] | None = None, source: Mapping[str, Any] | None = None
    ) -> None:
        """Merge keys into the manifest's expert/source dicts (e.g. the expert's mean score once
        known); saved with the next chunk or at close()."""
        if expert:
            self._m["expert"] = {**self._m["expert"], **mf.canonical(dict(expert), "expert")}
        if source:
            old = self._m.get("source") or {}
            self._m["source"] = {**old, **mf.canonical(dict(source), "source")}

    # -- writing -------------------------------------------------------------------------------
    def add_episode(
        self,
        frames: np.ndarray,
        actions: np.ndarray | None = None,
        rewards: np.ndarray | None = None,
    ) -> None:
        """Append one complete episode: frames (T+1, C, H, W) uint8, where frames[0] is the reset
        frame and frames[t+1] follows actions[t]; actions (T, ...) and rewards (T,) or None."""
        if self._closed:
            raise DatasetError(f"{self.path}: writer is closed")
        frames = np.asarray(frames)
        if frames.dtype != np.uint8:
            raise DtypeError(f"add_episode: frames must be uint8, got {frames.dtype}")
        if frames.ndim != 4 or frames.shape[1:] != self.frame_shape or len(frames) < 1:
            raise ShapeError(
                f"add_episode: frames must be (T+1, {', '.join(map(str, self.frame_shape))}) "
                f"with T+1 >= 1, got {frames.shape}"
            )
        steps = len(frames) - 1
        act = None if actions is None else np.asarray(actions)
        rew = None if rewards is None else np.asarray(rewards, dtype=np.float32)
        if act is not None and (act.ndim < 1 or len(act) != steps):
            raise ShapeError(f"add_episode: actions must have {steps} rows, got {act.shape}")
        if rew is not None and rew.shape != (steps,):
            raise ShapeError(f"add_episode: rewards must have shape ({steps},), got {rew.shape}")
        self._check_label_schema(act, rew)
        # Copies: a collector may reuse its arrays for the next episode.
        self._buffer.append(
            (
                np.array(frames, order="C"),
                None if act is None else np.array(act, order="C"),
                None if rew is None else rew.copy(),
            )
        )
        self._buffered_frames += len(frames)
        if self._buffered_frames >= self.chunk_frames:
            self.flush()

    def _check_label_schema(self, act: np.ndarray | None, rew: np.ndarray | None) -> None:
        if act is not None and act.dtype.kind not in ("i", "u", "f", "b"):
            raise DtypeError(f"add_episode: actions must be numeric, got {act.dtype}")
        schema = {
            "actions": None
            if act is None
            else {"dtype": act.dtype.name, "shape": list(act.shape[1:])},
            "rewards": None if rew is None else {"dtype": "float32"},
        }
        if self._m["labels"] is None:
            self._m["labels"] = schema
            self._m["has_actions"] = act is not None
            self._m["has_rewards"] = rew is not None
        elif schema != self._m["labels"]:
            old = self._m["labels"]
            if (old["actions"] is None) != (act is None) or (old["rewards"] is None) != (
                rew is None
            ):
                raise ShapeError(
                    "add_episode: every episode must carry actions/rewards if the first did "
                    f"(dataset stores {old}, episode gives {schema})"
                )
            if old["actions"]["shape"] != schema["actions"]["shape"]:
                raise ShapeError(
                    f"add_episode: action shape {schema['actions']['shape']} differs from the "
                    f"dataset's {old['actions']['shape']}"
                )
            raise DtypeError(
                f"add_episode: action dtype {schema['actions']['dtype']} differs from the "
                f"dataset's {old['actions']['dtype']}"
            )

    def flush(self) -> None:
        """Write the buffered episodes as one chunk (even if smaller than chunk_frames)."""
        if not self._buffer:
            return
        index = len(self._m["chunks"])
        name = mf.chunk_name(index)
        lengths = [len(f) for f, _, _ in self._buffer]
        frames = np.concatenate([f for f, _, _ in self._buffer])
        entry: dict[str, Any] = {
            "file": f"{mf.CHUNK_DIR}/{name}",
            "episodes": len(lengths),
            "frames": int(frames.shape[0]),
            "transitions": int(frames.shape[0]) - len(lengths),
            "episode_lengths": lengths,
        }
        labels: dict[str, np.ndarray] = {}
        if self._m["has_actions"]:
            labels["actions"] = np.concatenate([a for _, a, _ in self._buffer])
        if self._m["has_rewards"]:
            labels["rewards"] = np.concatenate([r for _, _, r in self._buffer])
        # Labels first, frames second, manifest last: whatever is on disk without a manifest
        # entry is debris that a resuming writer deletes.
        if labels:
            lpath = self.path / mf.LABEL_DIR / name
            mf.atomic_write_bytes(lpath, lambda f: np.savez_compressed(f, **labels))
            entry["labels_file"] = f"{mf.LABEL_DIR}/{name}"
            entry["labels_sha256"] = mf.sha256_file(lpath)
        else:
            entry["labels_file"] = None
        cpath = self.path / mf.CHUNK_DIR / name
        arrays = {mf.FRAMES_KEY: frames, "episode_lengths": np.asarray(lengths, np.int64)}
        mf.atomic_write_bytes(cpath, lambda f: np.savez_compressed(f, **arrays))
        entry["sha256"] = mf.sha256_file(cpath)
        entry["bytes"] = cpath.stat().st_size

        self._m["chunks"].append(entry)
        counts = self._m["counts"]
        counts["episodes"] += entry["episodes"]
        counts["frames"] += entry["frames"]
        counts["transitions"] += entry["transitions"]
        self._m["updated"] = mf.now()
        mf.save_manifest(self.path, self._m)
        self._buffer.clear()
        self._buffered_frames = 0

    def close(self) -> None:
        """Flush the last partial chunk and mark the dataset complete."""
        if self._closed:
            return
        self.flush()
        self._m["complete"] = True
        self._m["closed"] = self._m["updated"] = mf.now()
        mf.save_manifest(self.path, self._m)
        self._closed = True

    def __enter__(self) -> VideoDatasetWriter:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if exc_type is None:
            self.close()
            return
        # The buffered episodes are whole and valid even if collection failed: keep them, but
        # leave the dataset incomplete so that nobody mistakes it for a finished one.
        with contextlib.suppress(Exception):
            self.flush()
