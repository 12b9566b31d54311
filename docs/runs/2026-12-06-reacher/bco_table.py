"""Prints docs/baselines.md's BCO reacher_easy table from the run files kept beside it.

    python docs/runs/2026-12-06-reacher/bco_table.py
"""

import json
from pathlib import Path
from statistics import mean

import pandas as pd

HERE = Path(__file__).parent


def values(run: Path, metric: str) -> pd.Series:
    m = pd.read_csv(run / "metrics.csv")
    m = m[m.metric == metric]
    return pd.Series(m.value.to_numpy(), index=m.frames.to_numpy())


def main() -> None:
    print("| seed | BCO @20k | BCO @40k (± std) | IDM held-out R^2, iterations 2-5 | wall-clock | random @40k (± std) |")
    print("| --- | --- | --- | --- | --- | --- |")
    bco40, rnd40 = [], []
    bco20 = []
    for seed in range(10):
        bco, rnd = HERE / "bco" / f"seed{seed}", HERE / "random40k" / f"seed{seed}"
        ret, std = values(bco, "eval/return"), values(bco, "eval/return_std")
        r2 = " / ".join(f"{v:.2f}" for v in values(bco, "idm/heldout_r2"))
        minutes = json.loads((bco / "run.json").read_text())["timings"]["elapsed_s"] / 60
        rret, rstd = values(rnd, "eval/return"), values(rnd, "eval/return_std")
        bco20.append(ret[20000])
        bco40.append(ret[40000])
        rnd40.append(rret[40000])
        print(f"| {seed} | {ret[20000]:.1f} | {ret[40000]:.1f} ± {std[40000]:.1f} | {r2} "
              f"| {minutes:.1f} min | {rret[40000]:.1f} ± {rstd[40000]:.1f} |")
    print(f"| mean | {mean(bco20):.1f} | **{mean(bco40):.1f}** | | | **{mean(rnd40):.1f}** |")


if __name__ == "__main__":
    main()
