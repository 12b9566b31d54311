"""Our BCV-LR updates with every convolution's input in channels-last layout (a forward patch
on nn.Conv2d and nn.ConvTranspose2d, the same effect as channels_last.diff plus the IDM's own),
against the committed NCHW code: `python -m benchmarks.bcvlr` run twice, the first plain.

    OMP_NUM_THREADS=1 python docs/runs/2026-12-07-speed/channels_last_speed.py        # NCHW
    OMP_NUM_THREADS=1 CL=1 python docs/runs/2026-12-07-speed/channels_last_speed.py   # channels-last
"""

import os
import runpy
import sys
from pathlib import Path

import torch
from torch import nn


def channels_last(cls: type[nn.Module]) -> None:
    original = cls.forward

    def forward(self, x, *args):
        if not getattr(self, "_channels_last", False):
            self.to(memory_format=torch.channels_last)
            self._channels_last = True
        return original(self, x.contiguous(memory_format=torch.channels_last), *args)

    cls.forward = forward


if os.environ.get("CL"):
    channels_last(nn.Conv2d)
    channels_last(nn.ConvTranspose2d)
sys.argv = ["benchmarks/bcvlr.py", "--task", "finger_spin", "--steps", "3"]
runpy.run_path(str(Path(__file__).resolve().parents[3] / "benchmarks" / "bcvlr.py"), run_name="__main__")
