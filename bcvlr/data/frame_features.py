"""A frozen encoder's features of every frame of a video dataset, computed once.

Where f is frozen and reads the frames without augmentation (eq. 2's latent-action pretraining,
eq. 4's latent behaviour cloning and its warm-up), encoding each sampled window again computes
the same features every time a frame is drawn: a table of f(o) per frame, gathered by the
sampler's window index, gives the same batches (up to floating-point summation order) at a
fraction of the cost. docs/performance.md says where it applies and what it saves.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch

from bcvlr.data.dataset import VideoDataset
from bcvlr.data.sampler import WindowIndex
from bcvlr.data.stacking import stack_frames, stack_indices

ENCODE_BATCH = 256  # stacked frames per encoder call while the table is built


def table_bytes(dataset: VideoDataset, feature_shape: tuple[int, ...]) -> int:
    """Memory the float32 table of ``dataset`` takes."""
    return dataset.num_frames * int(np.prod(feature_shape)) * 4


class FrameFeatures:
    """f(o_t) for every stacked observation of a dataset, in one (frames, *feature_shape) tensor
    on the encoder's device, addressed by (chunk, chunk-local frame) like ``WindowSampler``."""

    def __init__(self, table: torch.Tensor, chunk_offsets: np.ndarray):
        self.table = table
        self.chunk_offsets = chunk_offsets

    @classmethod
    @torch.no_grad()
    def compute(cls, dataset: VideoDataset, encode: Callable[[torch.Tensor], torch.Tensor],
                device: torch.device) -> FrameFeatures:  # fmt: skip
        """Encode every stacked observation once (``encode``: uint8 (N, k*C, H, W) on
        ``device`` -> features (N, ...)), chunk by chunk so that one chunk is decompressed at
        a time."""
        parts, offsets, total = [], np.zeros(dataset.num_chunks, np.int64), 0
        for c in range(dataset.num_chunks):
            frames = dataset.load_chunk(c)
            lengths = dataset.episode_lengths(c)
            episode_start = np.repeat(dataset.episode_starts(c), lengths)
            offsets[c] = total
            for lo in range(0, len(frames), ENCODE_BATCH):
                t = np.arange(lo, min(lo + ENCODE_BATCH, len(frames)))
                obs = stack_frames(frames, t, episode_start[t], dataset.frame_stack)
                parts.append(encode(torch.from_numpy(obs).to(device)))
            total += len(frames)
        return cls(torch.cat(parts), offsets)

    def rows(self, index: WindowIndex) -> np.ndarray:
        """Table rows (B,) of the first frames of the windows ``index`` points at."""
        return self.chunk_offsets[index.chunk] + index.frame

    def gather(self, index: WindowIndex, window: int) -> torch.Tensor:
        """Features (B, window, ...) of the windows ``index`` points at."""
        rows = self.rows(index)[:, None] + np.arange(window)
        return self.table[torch.from_numpy(rows).to(self.table.device)]

    @torch.no_grad()
    def of_windows(self, fn: Callable[[torch.Tensor], torch.Tensor], width: int,
                   batch: int = ENCODE_BATCH) -> torch.Tensor:  # fmt: skip
        """``fn`` of every ``width`` consecutive rows ((N, width, ...) -> (N, ...)), in a table
        aligned with this one: row t holds fn((f(o_t), ..., f(o_t+width-1))). Rows whose
        window would cross an episode's end (or the table's) are never a sampled window's;
        they hold some other value."""
        starts = torch.arange(len(self.table), device=self.table.device)
        offsets = torch.arange(width, device=self.table.device)
        last = len(self.table) - 1
        return torch.cat([fn(self.table[(r[:, None] + offsets).clamp(max=last)])
                          for r in starts.split(batch)])  # fmt: skip


def frames_bytes(dataset: VideoDataset) -> int:
    """Memory ``DeviceFrames`` of ``dataset`` takes (uint8 frames, unstacked)."""
    return dataset.num_frames * int(np.prod(dataset.frame_shape))


class DeviceFrames:
    """Every frame of a dataset in one uint8 (frames, C, H, W) tensor on a device, and each
    stacked observation's frame rows: batches gathered there are ``WindowSampler.sample``'s,
    without a host-side gather and copy per batch."""

    def __init__(self, frames: torch.Tensor, stack_rows: torch.Tensor, chunk_offsets: np.ndarray):
        self.frames = frames
        self.stack_rows = stack_rows  # (frames, k): the rows stacked into each observation
        self.chunk_offsets = chunk_offsets

    @classmethod
    def load(cls, dataset: VideoDataset, device: torch.device) -> DeviceFrames:
        frames, rows = [], []
        offsets, total = np.zeros(dataset.num_chunks, np.int64), 0
        for c in range(dataset.num_chunks):
            chunk = dataset.load_chunk(c)
            episode_start = np.repeat(dataset.episode_starts(c), dataset.episode_lengths(c))
            t = np.arange(len(chunk))
            rows.append(total + stack_indices(t, episode_start, dataset.frame_stack))
            frames.append(torch.from_numpy(chunk).to(device))
            offsets[c] = total
            total += len(chunk)
        return cls(torch.cat(frames), torch.from_numpy(np.concatenate(rows)).to(device), offsets)

    def gather(self, index: WindowIndex, window: int) -> torch.Tensor:
        """Stacked windows (B, window, k*C, H, W) uint8 at ``index``."""
        starts = self.chunk_offsets[index.chunk] + index.frame
        t = torch.from_numpy(starts[:, None] + np.arange(window)).to(self.frames.device)
        out = self.frames[self.stack_rows[t]]  # (B, window, k, C, H, W)
        return out.flatten(2, 3)
