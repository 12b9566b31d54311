"""The IMPALA CNN (Espeholt et al., 2018), as Procgen agents use it.

A stack of conv sequences: each is a 3x3 conv to ``c`` channels, an optional 3x3 stride-2 max
pool (padding 1, so H -> ceil(H/2)), and two pre-activation residual blocks. Channels are
configurable because the project uses several sizes of it:

- PPO (cleanrl's ppo_procgen): ``ImpalaCNN((3, 64, 64), (16, 32, 32), out_features=256)``;
- BCV-LR's discrete encoder: one sequence without downsampling, ``ConvSequence(3, 16,
  downsample=False)``, keeping a 16x64x64 feature map;
- LAPO's inverse dynamics model: ``ImpalaCNN(..., (64, 128, 128), out_features=256)``.

Inputs are float tensors: scaling (``/255`` or ``/255 - 0.5``) is the caller's choice.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn
from torch.nn import functional as F

Shape = tuple[int, int, int]


def conv_sequence_shape(in_shape: Shape, out_channels: int, downsample: bool = True) -> Shape:
    """The (C, H, W) a ConvSequence turns ``in_shape`` into."""
    _, h, w = in_shape
    if downsample:
        # max_pool2d(kernel 3, stride 2, padding 1): floor((h + 2 - 3) / 2) + 1 = ceil(h / 2)
        h, w = (h + 1) // 2, (w + 1) // 2
    return (out_channels, h, w)


def impala_shape(in_shape: Shape, channels: Sequence[int], downsample: bool = True) -> Shape:
    """The (C, H, W) feature map of a stack of conv sequences, without building it."""
    shape = in_shape
    for c in channels:
        shape = conv_sequence_shape(shape, c, downsample)
    return shape


class ResidualBlock(nn.Module):
    """x + conv(relu(conv(relu(x)))): the activation comes first, so the skip path carries the
    un-rectified features of the previous block."""

    def __init__(self, channels: int):
        super().__init__()
        self.conv0 = nn.Conv2d(channels, channels, kernel_size=3, padding=1)
        self.conv1 = nn.Conv2d(channels, channels, kernel_size=3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.conv1(F.relu(self.conv0(F.relu(x))))


class ConvSequence(nn.Module):
    def __init__(self, in_channels: int, out_channels: int, downsample: bool = True):
        super().__init__()
        self.conv = nn.Conv2d(in_channels, out_channels, kernel_size=3, padding=1)
        self.downsample = downsample
        self.res0 = ResidualBlock(out_channels)
        self.res1 = ResidualBlock(out_channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.conv(x)
        if self.downsample:
            x = F.max_pool2d(x, kernel_size=3, stride=2, padding=1)
        return self.res1(self.res0(x))


class ImpalaCNN(nn.Module):
    """Conv sequences, then (when ``out_features`` is set) flatten -> ReLU -> Linear -> ReLU.

    ``feature_shape`` is the (C, H, W) map after the sequences; ``out_dim`` is what ``forward``
    returns per sample: ``out_features``, or the flattened map size when ``out_features`` is
    None (then ``forward`` returns the map itself, unflattened).
    """

    def __init__(
        self,
        in_shape: Shape,
        channels: Sequence[int] = (16, 32, 32),
        out_features: int | None = 256,
        downsample: bool = True,
    ):
        super().__init__()
        if not channels:
            raise ValueError("ImpalaCNN needs at least one conv sequence")
        self.in_shape = tuple(in_shape)
        seqs, c_in = [], in_shape[0]
        for c in channels:
            seqs.append(ConvSequence(c_in, c, downsample))
            c_in = c
        self.sequences = nn.Sequential(*seqs)
        self.feature_shape = impala_shape(self.in_shape, channels, downsample)
        flat = self.feature_shape[0] * self.feature_shape[1] * self.feature_shape[2]
        self.fc = nn.Linear(flat, out_features) if out_features is not None else None
        self.out_dim = out_features if out_features is not None else flat

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.sequences(x)
        if self.fc is None:
            return x
        # The last residual block ends in an addition, not an activation: rectify before fc.
        return F.relu(self.fc(F.relu(torch.flatten(x, 1))))
