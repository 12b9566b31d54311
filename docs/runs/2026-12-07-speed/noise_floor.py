"""fp32's own noise floor beside the equivalence harness's differences.

Per equation: the unlisted rows where our update differs from the recording of the authors'
update by more than 1e-5 (the CI test's check), and for each such row the noise floor: how far
our update moves when the same batch is fed in another order (identical in exact arithmetic).
Run on the committed code, then with channels_last.diff applied (`git apply`).

    OMP_NUM_THREADS=1 python docs/runs/2026-12-07-speed/noise_floor.py
"""

import torch

from bcvlr.reference import equivalence as E
from bcvlr.reference.cli import FIXTURES


def permuted(prep: E.Prepared, perm: torch.Tensor) -> E.Prepared:
    for b in prep.batches:
        b["obs"], b["actions"] = b["obs"][perm], b["actions"][perm]
    prep.views = [[v[perm] for v in pair] for pair in prep.views]
    return prep


def main() -> None:
    torch.set_num_threads(1)
    perm = torch.randperm(E.SMALL.batch, generator=torch.Generator().manual_seed(1))
    for code in (E.CONTINUOUS, E.DISCRETE):
        kept = torch.load(FIXTURES / f"{code.name}.pt", weights_only=False)["equations"]
        for eq in code.equations:
            if eq == "acting":
                continue
            prep = E.prepare(eq, code, updates=1)
            side = E.ours(prep)
            out = E.run(side, 1)
            rows = [r for r in E.record_differences(code, prep, side, out, kept[eq])
                    if r[2] > E.TOLERANCE]  # fmt: skip
            again = E.run(E.ours(permuted(E.prepare(eq, code, updates=1), perm)), 1)
            worst = (0.0, "")
            for kind, name, diff in rows:
                if kind == "loss":
                    continue
                mine, other = (out.grads, again.grads) if kind == "grad" else (out.tensors, again.tensors)
                noise = E.relative_difference(other[name], mine[name])
                worst = max(worst, (diff / max(noise, 1e-12), f"{kind} {name} {diff:.1e} noise {noise:.1e}"))
            top = max((d for _, _, d in rows), default=0.0)
            print(f"{code.name:<10} {eq:<18} unlisted rows over 1e-5: {len(rows):>3}, worst {top:.2e}; "
                  f"worst diff/noise {worst[0]:.2f} ({worst[1]})", flush=True)


if __name__ == "__main__":
    main()
