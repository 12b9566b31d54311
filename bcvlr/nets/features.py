"""BCV-LR's feature encoders f: frames -> feature *maps* (C, H, W) that the latent-action model
and the world model work on (implementation-facts.md, "Encoder f").

- ``conv`` (continuous control): four 3x3 convs of 32 channels, the first with stride 2, all
  with padding 1 and ReLU: 9x64x64 -> 32x32x32.
- ``impala`` (Procgen): a 3x3 conv to 16 channels and two IMPALA residual blocks, no
  downsampling: 3x64x64 -> 16x64x64.
Inputs are uint8-range floats, scaled to [-0.5, 0.5] here. Both of the authors' repositories
initialise f with DrQv2's orthogonal init (ReLU gain, zero bias); PyTorch's default leaves a
fresh encoder's features ~30x less spread (docs/fidelity.md).
"""

from __future__ import annotations

from typing import Literal

import torch
from torch import nn

from bcvlr.nets import channels_last
from bcvlr.nets.impala import ConvSequence
from bcvlr.nets.mlp import orthogonal_init

EncoderKind = Literal["conv", "impala"]


class FeatureEncoder(nn.Module):
    def __init__(self, kind: EncoderKind, obs_shape: tuple[int, int, int], channels: int,
                 depth: int = 4, strided: int = 1):  # fmt: skip
        """``strided``: how many of the conv layers have stride 2 (the paper's: 1; more give
        smaller maps for CPU-sized configs)."""
        super().__init__()
        c = obs_shape[0]
        if kind == "conv":
            layers: list[nn.Module] = []
            for i in range(depth):
                layers += [nn.Conv2d(c if i == 0 else channels, channels, 3,
                                     stride=2 if i < strided else 1, padding=1),
                           nn.ReLU(inplace=True)]  # fmt: skip
            self.net: nn.Module = nn.Sequential(*layers)
        elif kind == "impala":
            self.net = ConvSequence(c, channels, downsample=False)
        else:
            raise ValueError(f"unknown encoder kind {kind!r}")
        self.net.apply(orthogonal_init)
        with torch.no_grad():
            self.feature_shape: tuple[int, int, int] = tuple(
                self.net(torch.zeros(1, *obs_shape)).shape[1:]
            )  # type: ignore[assignment]
        self.feature_dim = int(torch.tensor(self.feature_shape).prod())
        channels_last(self.net)

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        # the layout changes on the uint8 frames (a quarter of the float bytes) and the one float
        # copy is scaled in place: f's pass 1.4x faster at mini's DMC sizes (docs/performance.md)
        x = obs.contiguous(memory_format=torch.channels_last).float()
        if obs.is_floating_point():  # then .float() may be obs itself
            return self.net(x / 255.0 - 0.5)
        return self.net(x.div_(255.0).sub_(0.5))


def encode_windows(encoder: FeatureEncoder, obs: torch.Tensor, grad: bool) -> torch.Tensor:
    """Features of every frame of (B, W, C, H, W) windows -> (B, W, Cf, Hf, Wf)."""
    b, w = obs.shape[:2]
    with torch.set_grad_enabled(grad):
        feats = encoder(obs.flatten(0, 1))
    return feats.unflatten(0, (b, w))
