"""Batches of video windows from one or several datasets, and a frozen f's features of them."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from bcvlr.data import VideoDataset, WindowSampler
from bcvlr.data.frame_features import DeviceFrames, FrameFeatures, frames_bytes, table_bytes
from bcvlr.nets.features import FeatureEncoder, encode_windows


class VideoBatches:
    """Batches of windows from one or several video datasets (several: multi-task pretraining,
    Table 3), split evenly across datasets."""

    def __init__(self, datasets: Sequence[VideoDataset], window: int, batch_size: int, seed: int):
        sizes = [batch_size // len(datasets)] * len(datasets)
        sizes[0] += batch_size - sum(sizes)
        self.samplers = [WindowSampler(d, window=window, batch_size=s, seed=seed + i)
                         for i, (d, s) in enumerate(zip(datasets, sizes, strict=True))]  # fmt: skip
        self.features: list[FrameFeatures] | None = None
        self.frames: list[DeviceFrames] | None = None

    def sample(self, device: torch.device) -> torch.Tensor:
        if self.frames is not None:
            return torch.cat([frames.gather(s.sample_index(), s.window)
                              for s, frames in zip(self.samplers, self.frames, strict=True)])  # fmt: skip
        batch = np.concatenate([s.sample() for s in self.samplers])
        return torch.from_numpy(batch).to(device)

    def hold_frames(self, device: torch.device, limit_mb: float) -> dict[str, float]:
        """Every video frame on ``device`` when they fit in ``limit_mb``; ``sample`` then
        gathers its windows there, the same windows from the same random stream. For a GPU: on
        the CPU the samplers' decompressed chunks are the frames already. Returns the frames'
        size (0: not held)."""
        mb = sum(frames_bytes(s.dataset) for s in self.samplers) / 2**20
        self.frames = None
        if mb > limit_mb:
            return {"frames_on_device/mb": 0.0}
        self.frames = [DeviceFrames.load(s.dataset, device) for s in self.samplers]
        return {"frames_on_device/mb": mb}

    def cache_features(self, encoder: FeatureEncoder, device: torch.device,
                       limit_mb: float) -> dict[str, float]:  # fmt: skip
        """Encode every frame once with the frozen ``encoder`` when the table fits in
        ``limit_mb``; ``sample_features`` then gathers from it. Returns the table's size (0:
        not built, every window is encoded)."""
        mb = sum(table_bytes(s.dataset, encoder.feature_shape) for s in self.samplers) / 2**20
        self.features = None
        if mb > limit_mb:
            return {"feature_cache/mb": 0.0}
        self.features = [FrameFeatures.compute(s.dataset, encoder, device) for s in self.samplers]
        return {"feature_cache/mb": mb}

    def sample_features(self, encoder: FeatureEncoder, device: torch.device) -> torch.Tensor:
        """The frozen ``encoder``'s features (B, window, ...) of one batch of windows: from the
        table when there is one, else by encoding the sampled frames."""
        if self.features is None:
            return encode_windows(encoder, self.sample(device), grad=False)
        return torch.cat([table.gather(s.sample_index(), s.window)
                          for s, table in zip(self.samplers, self.features, strict=True)])  # fmt: skip

    def sample_rows(self) -> list[np.ndarray]:
        """Per dataset, the feature-table rows where one batch's windows start (a table must
        have been built: ``cache_features``)."""
        assert self.features is not None, "cache_features first"
        return [table.rows(s.sample_index())
                for s, table in zip(self.samplers, self.features, strict=True)]  # fmt: skip

    def state_dict(self) -> list[dict]:
        return [s.state_dict() for s in self.samplers]

    def load_state_dict(self, state: list[dict]) -> None:
        for sampler, sampler_state in zip(self.samplers, state, strict=True):
            sampler.load_state_dict(sampler_state)

    def close(self) -> None:
        for s in self.samplers:
            s.close()
