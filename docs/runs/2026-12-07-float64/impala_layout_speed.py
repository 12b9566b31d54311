"""p's IMPALA stack (Table 11's widths x4: 64, 128, 128 channels, fc 256) forward and backward
at batch 128, NCHW against channels-last (bcvlr.nets.channels_last), alternated, best of 3,
on DMC's feature maps (2 frames of 32x32x32) and Procgen's (3 frames of 16x64x64).

    OMP_NUM_THREADS=1 python docs/runs/2026-12-07-float64/impala_layout_speed.py
"""

import copy
import time

import torch

from bcvlr.nets import channels_last
from bcvlr.nets.impala import ImpalaCNN


def main() -> None:
    torch.set_num_threads(1)
    torch.manual_seed(0)
    for name, shape in (("DMC", (64, 32, 32)), ("Procgen", (48, 64, 64))):
        nchw = ImpalaCNN(shape, (64, 128, 128), out_features=256)
        nets = {"NCHW": nchw, "channels-last": channels_last(copy.deepcopy(nchw))}
        x = torch.randn(128, *shape)
        best = {k: float("inf") for k in nets}
        for _ in range(4):  # the first pass of each warms up
            for k, net in nets.items():
                start = time.perf_counter()
                net(x).sum().backward()
                best[k] = min(best[k], time.perf_counter() - start)
        print(
            f"{name:<8} NCHW {best['NCHW']:.3f} s, channels-last {best['channels-last']:.3f} s, "
            f"speed-up {best['NCHW'] / best['channels-last']:.2f}",
            flush=True,
        )


if __name__ == "__main__":
    main()
