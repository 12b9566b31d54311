"""U-Net world model: next features from current features and a latent action (LAPO-style).

BCV-LR predicts the next *feature map* of the frozen encoder rather than pixels. The latent
action enters twice, as in LAPO: tiled over the input as extra channels, and as the 1x1
bottleneck that the decoder path starts from. All widths and the number of levels follow
from the input shape, so the same class serves the 32x32x32 continuous features and the
16x64x64 discrete ones.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn


class _Residual(nn.Module):
    """x + conv(relu(conv(relu(x)))) with a narrower hidden width (LAPO's ResidualLayer)."""

    def __init__(self, channels: int, hidden: int) -> None:
        super().__init__()
        self.body = nn.Sequential(
            nn.ReLU(),
            nn.Conv2d(channels, hidden, 3, padding=1),
            nn.ReLU(),
            nn.Conv2d(hidden, channels, 3, padding=1),
        )

    def forward(self, x: Tensor) -> Tensor:
        return x + self.body(x)


def _down(c_in: int, c_out: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(c_in, c_out, 3, padding=1),
        nn.BatchNorm2d(c_out),
        _Residual(c_out, c_out // 2),
        nn.MaxPool2d(2),
        nn.ReLU(),
    )


def _up(c_in: int, c_out: int, scale: tuple[int, int] = (2, 2)) -> nn.Sequential:
    return nn.Sequential(
        nn.ConvTranspose2d(c_in, c_out, scale, stride=scale),
        nn.BatchNorm2d(c_out),
        _Residual(c_out, c_out // 2),
        nn.ReLU(),
    )


def _default_depth(h: int, w: int) -> int:
    """Halve until the smaller side is 2 (LAPO: 64 -> 2 in five blocks, then a 2x2 conv)."""
    depth = 0
    while h % 2 == 0 and w % 2 == 0 and min(h, w) > 2:
        h, w, depth = h // 2, w // 2, depth + 1
    return depth


class WorldModelUNet(nn.Module):
    """Predicts (B, out_channels, H, W) from features (B, C, H, W) and an action (B, action_dim).

    ``depth`` max-pooling blocks of widths ``base * 2**i`` are followed by a bottleneck conv whose
    kernel covers the remaining grid, giving a 1x1 map of width ``base * 2**depth``; the first
    up block undoes that step. With the default depth on a square power-of-two input the
    remaining grid is 2x2 and this is LAPO's network. ``bounded`` keeps LAPO's tanh/2 output;
    encoder features are not confined to [-0.5, 0.5], so it is an option rather than a given.
    ``residual`` adds the input's last ``out_channels`` channels (the latest frame's features)
    to the output and zero-initialises the last layer, so the untrained net copies that frame.
    """

    def __init__(
        self,
        feature_shape: tuple[int, int, int],
        action_dim: int = 128,
        out_channels: int | None = None,
        base_channels: int = 24,
        depth: int | None = None,
        bounded: bool = True,
        residual: bool = False,
    ) -> None:
        super().__init__()
        c, h, w = feature_shape
        depth = _default_depth(h, w) if depth is None else depth
        if depth < 1 or h % 2**depth or w % 2**depth:
            raise ValueError(f"depth {depth} does not fit features of size {h}x{w}")
        out_channels = c if out_channels is None else out_channels
        rest = (h // 2**depth, w // 2**depth)
        widths = [base_channels * 2**i for i in range(depth + 1)]  # last: bottleneck
        self.bounded = bounded
        self.residual = residual

        self.down = nn.ModuleList()
        c_prev = c + action_dim
        for width in widths[:-1]:
            self.down.append(_down(c_prev, width))
            c_prev = width
        self.bottleneck = nn.Conv2d(c_prev, widths[-1], rest)

        # Up j mirrors down block depth-1-j; the first one starts from [bottleneck, action] and
        # the others from [previous up, skip]; the last stays at base width.
        up_out = [widths[depth - 1 - j] for j in range(depth)] + [base_channels]
        self.up = nn.ModuleList([_up(widths[-1] + action_dim, up_out[0], rest)])
        for j in range(1, depth + 1):
            self.up.append(_up(up_out[j - 1] + widths[depth - j], up_out[j]))

        self.head = nn.Sequential(
            nn.Conv2d(base_channels + c, base_channels, 3, padding=1),
            _Residual(base_channels, base_channels // 2),
            nn.ReLU(),
            nn.Conv2d(base_channels, out_channels, 1),
        )
        if residual:
            nn.init.zeros_(self.head[-1].weight)
            nn.init.zeros_(self.head[-1].bias)
        # oneDNN's CPU convolutions run faster in channels-last layout (docs/performance.md)
        self.to(memory_format=torch.channels_last)

    def forward(self, features: Tensor, action: Tensor) -> Tensor:
        a = action[:, :, None, None]
        x = self.down[0][1:](self._input_conv(features, action))
        skips = [x]
        for block in self.down[1:]:
            x = block(x)
            skips.append(x)
        x = self.up[0](torch.cat([self.bottleneck(x), a], dim=1))
        for block, skip in zip(self.up[1:], reversed(skips), strict=True):
            x = block(torch.cat([x, skip], dim=1))
        out = self.head(torch.cat([x, features], dim=1))
        out = torch.tanh(out) / 2 if self.bounded else out
        return out + features[:, -out.shape[1] :] if self.residual else out

    def _input_conv(self, features: Tensor, action: Tensor) -> Tensor:
        """The first conv on [features, the action tiled over the map], without the tiling:
        the action's channels are constant over the map, so their taps reduce to one
        (B, out, k, k) product, summed where each tap falls inside the map (padding is 0)."""
        conv = self.down[0][0]
        _, c, h, w = features.shape
        x = features.contiguous(memory_format=torch.channels_last)
        out = F.conv2d(x, conv.weight[:, :c], conv.bias, padding=conv.padding)
        taps = torch.einsum("oikl,bi->bokl", conv.weight[:, c:], action)
        rows = _inside(conv.kernel_size[0], conv.padding[0], h, x)
        cols = _inside(conv.kernel_size[1], conv.padding[1], w, x)
        tiled = torch.einsum("bokl,ky,lx->byxo", taps, rows, cols).permute(0, 3, 1, 2)
        return out + tiled  # channels-last, as the conv's output


def _inside(kernel: int, padding: int, size: int, like: Tensor) -> Tensor:
    """(kernel, size): 1 where tap k of a stride-1 conv reads a position of the map at output
    position y (y + k - padding in [0, size)), else 0."""
    taps, positions = (torch.arange(n, device=like.device) for n in (kernel, size))
    reads = positions + taps[:, None] - padding
    return ((reads >= 0) & (reads < size)).to(like.dtype)
