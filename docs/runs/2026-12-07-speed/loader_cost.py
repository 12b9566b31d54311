"""Milliseconds to sample one batch of uint8 video windows (VideoBatches.sample, on the CPU)
from each dataset given, at the stages' batch sizes: what the loader adds to an update.

    OMP_NUM_THREADS=1 python docs/runs/2026-12-07-speed/loader_cost.py VIDEOS [VIDEOS ...]
"""

import statistics
import sys
import time

import torch

from bcvlr.data import VideoDataset
from bcvlr.method import bcvlr


def main() -> None:
    torch.set_num_threads(1)
    cpu = torch.device("cpu")
    for path in sys.argv[1:]:
        videos = VideoDataset(path)
        for window, batch in ((2, 512), (3, 128), (2, 128), (2, 64)):
            batches = bcvlr.VideoBatches([videos], window, batch, seed=0)
            batches.sample(cpu)
            times = []
            for _ in range(10):
                t0 = time.perf_counter()
                batches.sample(cpu)
                times.append(time.perf_counter() - t0)
            batches.close()
            print(f"{videos.task.name} ({videos.num_frames} frames), window {window}, batch {batch}: "
                  f"{1e3 * statistics.median(times):.1f} ms")


if __name__ == "__main__":
    main()
