"""The uint8 random shift (bcvlr/nets/augment.py since 7e403a5) against the one before it
(read from git at 7e403a5~1): the same views bit for bit, and milliseconds per 512-frame batch.

    OMP_NUM_THREADS=1 python docs/runs/2026-12-07-speed/shift_same.py
"""

import subprocess
import time
import types

import torch

from bcvlr.nets.augment import RandomShift as New

BEFORE = subprocess.run(["git", "show", "7e403a5~1:bcvlr/nets/augment.py"], check=True,
                        capture_output=True, text=True).stdout  # fmt: skip
before = types.ModuleType("augment_before")
exec(compile(BEFORE, "augment_before.py", "exec"), before.__dict__)
Old = before.RandomShift


def main() -> None:
    torch.set_num_threads(1)
    for dtype in (torch.uint8, torch.float32):
        for pad, shape in ((4, (512, 9, 64, 64)), (1, (64, 3, 64, 64)), (2, (7, 5, 16, 12))):
            x = torch.randint(0, 256, shape).to(dtype)
            a = Old(pad)(x, torch.Generator().manual_seed(3))
            b = New(pad)(x, torch.Generator().manual_seed(3))
            assert a.dtype == b.dtype == torch.float32 and torch.equal(a, b), (dtype, pad)
    print("identical views")
    x = torch.randint(0, 256, (512, 9, 64, 64), dtype=torch.uint8)
    for name, shift in (("before, float input", lambda: Old(4)(x.float())),
                        ("now, uint8 input", lambda: New(4)(x)),
                        ("now, float input", lambda: New(4)(x.float()))):  # fmt: skip
        shift()
        t0 = time.perf_counter()
        for _ in range(5):
            shift()
        print(f"{name}: {(time.perf_counter() - t0) / 5 * 1e3:.1f} ms")


if __name__ == "__main__":
    main()
