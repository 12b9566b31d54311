"""Our one update of every equation, in float64 and in fp32, against the committed float64
recording of the authors' update: the largest relative difference per kind (loss, gradient,
tensor after the step) over the unlisted rows, as tests/reference/test_equivalence.py computes
them.

    OMP_NUM_THREADS=1 PYTHONPATH=. python docs/runs/2026-12-07-float64/fp32_vs_float64.py
"""

import contextlib

import torch

from bcvlr.reference import equivalence as E
from bcvlr.reference.cli import FIXTURES
from benchmarks.bcvlr_reference import _cpu_name


def worst_by_kind(code: E.Code, eq: str, kept: dict, float64: bool) -> dict[str, tuple[float, str]]:
    prep = E.prepare(eq, code, updates=1)
    if float64:
        prep = E.in_float64(prep)
    with E.float64() if float64 else contextlib.nullcontext():
        if eq == "acting":
            side, out = None, E.act_ours(prep.objects["agent"], prep)
        else:
            side = E.ours(prep)
            out = E.run(side, 1)
    worst: dict[str, tuple[float, str]] = {}
    for kind, name, diff in E.record_differences(code, prep, side, out, kept):
        worst[kind] = max(worst.get(kind, (0.0, "")), (diff, name))
    return worst


def main() -> None:
    torch.set_num_threads(1)
    print(
        f"# {_cpu_name()}, torch {torch.__version__}; "
        "largest unlisted relative difference per kind against their float64 update"
    )
    for code in (E.CONTINUOUS, E.DISCRETE):
        kept = torch.load(FIXTURES / f"{code.name}.pt", weights_only=False)["equations"]
        for eq in code.equations:
            cells = []
            for float64 in (True, False):
                worst = worst_by_kind(code, eq, kept[eq], float64)
                cells.append(
                    " ".join(
                        f"{k} {worst[k][0]:.1e}" if k in worst else f"{k} -"
                        for k in ("loss", "grad", "tensor")
                    )
                )
            print(f"{code.name:<10} {eq:<18} float64: {cells[0]:<36} fp32: {cells[1]}", flush=True)


if __name__ == "__main__":
    main()
