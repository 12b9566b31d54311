"""The frame-stacking rule, shared by every reader so that it matches the env's frame stacker.

obs_t = concat over channels of frames[t-k+1 .. t], oldest first, where an index before the
episode's first frame is replaced by that first frame (what a stacker filled at reset does)."""

from __future__ import annotations

import numpy as np


def stack_indices(t: np.ndarray, episode_start: np.ndarray, k: int) -> np.ndarray:
    """Frame indices (..., k), oldest first, of the stacked observation at frame index t."""
    t = np.asarray(t)
    offsets = np.arange(-(k - 1), 1)
    return np.maximum(t[..., None] + offsets, np.asarray(episode_start)[..., None])


def stack_frames(
    frames: np.ndarray, t: np.ndarray, episode_start: np.ndarray, k: int
) -> np.ndarray:
    """Stacked observations (..., k*C, H, W) at frame indices t of frames (N, C, H, W)."""
    idx = stack_indices(t, episode_start, k)
    out = frames[idx]  # (..., k, C, H, W)
    return out.reshape(*idx.shape[:-1], k * frames.shape[1], *frames.shape[2:])


def stack_episode(frames: np.ndarray, k: int) -> np.ndarray:
    """Every stacked observation (L, k*C, H, W) of one episode's frames (L, C, H, W)."""
    t = np.arange(len(frames))
    return stack_frames(frames, t, np.zeros_like(t), k)
