"""Observation encoders: DrQv2's conv net for stacked frames, and the identity for states."""

from __future__ import annotations

import torch
from torch import nn


def output_size(module: nn.Module, in_shape: tuple[int, ...], dtype=torch.float32) -> int:
    """Flat output size of ``module`` for one input of ``in_shape``, from a dummy forward, so
    that no layer size depends on arithmetic about strides and paddings."""
    with torch.no_grad():
        return int(module(torch.zeros(1, *in_shape, dtype=dtype)).flatten(1).shape[1])


class ConvEncoder(nn.Module):
    """DrQv2's encoder: 3x3 convs of ``channels``, the first with stride 2, no padding, ReLUs.

    Takes uint8-range frames (N, C, H, W) as floats and scales them to [-0.5, 0.5]."""

    def __init__(self, obs_shape: tuple[int, int, int], channels: int = 32, depth: int = 4):
        super().__init__()
        layers: list[nn.Module] = [nn.Conv2d(obs_shape[0], channels, 3, stride=2), nn.ReLU()]
        for _ in range(depth - 1):
            layers += [nn.Conv2d(channels, channels, 3, stride=1), nn.ReLU()]
        self.convnet = nn.Sequential(*layers)
        self.repr_dim = output_size(self.convnet, obs_shape)

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        return self.convnet(obs / 255.0 - 0.5).flatten(1)


class IdentityEncoder(nn.Module):
    """For low-dimensional states: the state is the representation."""

    def __init__(self, obs_shape: tuple[int]):
        super().__init__()
        self.repr_dim = int(obs_shape[0])

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        return obs
