"""`precision: bf16` against the authors' fp32 recordings (tests/fixtures/equivalence): per
equation, the largest unlisted relative difference of one update's losses, gradients and
parameters (tests/reference/test_equivalence.py bounds losses and parameters).

    OMP_NUM_THREADS=1 python docs/runs/2026-12-07-speed/bf16_equivalence.py
"""

import torch

from bcvlr.reference import equivalence as E
from bcvlr.reference.cli import FIXTURES


def main() -> None:
    torch.set_num_threads(1)
    print(f"{'code':<10} {'equation':<18} {'loss':>8} {'grad':>8} {'tensor':>8}")
    for code in (E.CONTINUOUS, E.DISCRETE):
        kept = torch.load(FIXTURES / f"{code.name}.pt", weights_only=False)["equations"]
        for eq in code.equations:
            if eq == "acting":
                continue
            prep = E.prepare(eq, code, updates=1)
            E.set_precision(prep, "bf16")
            side = E.ours(prep)
            rows = E.record_differences(code, prep, side, E.run(side, 1), kept[eq])
            worst = {k: max((d for kind, _, d in rows if kind == k), default=0.0)
                     for k in ("loss", "grad", "tensor")}  # fmt: skip
            print(f"{code.name:<10} {eq:<18} " + " ".join(f"{v:>8.1e}" for v in worst.values()))


if __name__ == "__main__":
    main()
