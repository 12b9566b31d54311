"""Synthetic episodes whose pixels encode where they come from: channel 0 holds the episode id,
channel 1 the time index, so a test can decode any frame of a batch."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from bcvlr.data import VideoDatasetWriter

SHAPE = (3, 4, 4)
TASK = "coinrun"  # any registry task: these tests never start a simulator
RENDER = {"size": 4, "camera": "test"}


def episode_frames(ep: int, length: int, shape: tuple[int, int, int] = SHAPE) -> np.ndarray:
    f = np.zeros((length, *shape), np.uint8)
    f[:, 0] = ep
    f[:, 1] = np.arange(length)[:, None, None]
    f[:, 2] = 200
    return f


def episode_actions(ep: int, steps: int) -> np.ndarray:
    return ep * 1000 + np.arange(steps, dtype=np.int64)


def episode_rewards(ep: int, steps: int) -> np.ndarray:
    return (ep + np.arange(steps) / 100).astype(np.float32)


def decode(frames: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(episode, t) of frames (..., C, H, W) built by episode_frames."""
    assert (frames[..., 2, :, :] == 200).all()
    return frames[..., 0, 0, 0].astype(int), frames[..., 1, 0, 0].astype(int)


def write(
    path: Path,
    lengths: list[int],
    *,
    frame_stack: int = 1,
    chunk_frames: int = 20,
    labels: bool = True,
    close: bool = True,
    first_episode: int = 0,
    **kw,
) -> VideoDatasetWriter:
    w = VideoDatasetWriter(
        path, TASK, SHAPE, frame_stack, RENDER, expert={"checkpoint": "x.pt"},
        chunk_frames=chunk_frames, **kw,
    )  # fmt: skip
    for i, n in enumerate(lengths):
        ep = first_episode + i
        w.add_episode(
            episode_frames(ep, n),
            episode_actions(ep, n - 1) if labels else None,
            episode_rewards(ep, n - 1) if labels else None,
        )
    if close:
        w.close()
    return w
