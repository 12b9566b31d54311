"""Random-shift augmentation (DrQ/DrQv2): pad each image by replicating its border, then crop
it back at a random offset, i.e. shift it by up to ``pad`` pixels in each direction."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class RandomShift(nn.Module):
    def __init__(self, pad: int = 4):
        super().__init__()
        if pad < 0:
            raise ValueError(f"pad must be >= 0, got {pad}")
        self.pad = pad

    def forward(self, x: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        """One independent integer shift per image of the batch (N, C, H, W)."""
        if self.pad == 0:
            return x
        n, _, h, w = x.shape
        p = self.pad
        padded = F.pad(x.float(), (p, p, p, p), mode="replicate")
        # Offsets into the padded image: 0 shifts content by +pad, 2*pad by -pad.
        dy, dx = torch.randint(0, 2 * p + 1, (2, n, 1), device=x.device, generator=generator)
        rows = (dy + torch.arange(h, device=x.device))[:, None, :, None]  # (N, 1, H, 1)
        cols = (dx + torch.arange(w, device=x.device))[:, None, None, :]  # (N, 1, 1, W)
        batch = torch.arange(n, device=x.device)[:, None, None, None]
        chan = torch.arange(x.shape[1], device=x.device)[None, :, None, None]
        return padded[batch, chan, rows, cols]
