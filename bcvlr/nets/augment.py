"""Random-shift augmentation (DrQ/DrQv2): pad each image by replicating its border, then crop
it back at a random offset, i.e. shift it by up to ``pad`` pixels in each direction."""

from __future__ import annotations

import torch
from torch import nn


class RandomShift(nn.Module):
    def __init__(self, pad: int = 4, as_float: bool = True):
        """``as_float=False`` keeps the input's dtype (uint8 frames for a network that scales
        its own input)."""
        super().__init__()
        if pad < 0:
            raise ValueError(f"pad must be >= 0, got {pad}")
        self.pad = pad
        self.as_float = as_float

    def forward(self, x: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        """One independent integer shift per image of the batch (N, C, H, W), as float32
        unless ``as_float`` is off (``pad`` 0: the batch itself)."""
        if self.pad == 0:
            return x
        n, c, h, w = x.shape
        p = self.pad
        # Offsets into the padded image: 0 shifts content by +pad, 2*pad by -pad.
        dy, dx = torch.randint(0, 2 * p + 1, (2, n, 1), device=x.device, generator=generator)
        # Cropping the replicate-padded image reads the input at clamped positions: gathered in
        # the input's dtype (uint8 frames move 4x fewer bytes), no padded copy made.
        rows = (dy - p + torch.arange(h, device=x.device)).clamp_(0, h - 1)  # (N, H)
        cols = (dx - p + torch.arange(w, device=x.device)).clamp_(0, w - 1)  # (N, W)
        index = (rows[:, :, None] * w + cols[:, None, :]).flatten(1)  # (N, H * W)
        shifted = x.reshape(n, c, h * w).gather(2, index[:, None, :].expand(n, c, h * w))
        shifted = shifted.view(n, c, h, w)
        return shifted.float() if self.as_float else shifted
