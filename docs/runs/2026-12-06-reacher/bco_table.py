"""Prints docs/baselines.md's BCO reacher_easy table from the run files kept beside it.

    python docs/runs/2026-12-06-reacher/bco_table.py
"""

import json
from pathlib import Path
from statistics import mean

import pandas as pd

from bcvlr.report.versus_random import final_score

HERE = Path(__file__).parent


def main() -> None:
    print("| seed | BCO @20k | BCO @40k (± std) | IDM held-out R^2, iterations 2-5 | wall-clock | random @40k (± std) |")
    print("| --- | --- | --- | --- | --- | --- |")
    bco20, bco40, rnd40 = [], [], []
    for seed in range(10):
        bco, rnd = HERE / "bco" / f"seed{seed}", HERE / "random40k" / f"seed{seed}"
        last, baseline = final_score(bco), final_score(rnd)
        m = pd.read_csv(bco / "metrics.csv")
        at20k = float(m[(m.metric == "eval/return") & (m.frames == 20000)].value.iloc[0])
        r2 = " / ".join(f"{v:.2f}" for v in m[m.metric == "idm/heldout_r2"].value)
        minutes = json.loads((bco / "run.json").read_text())["timings"]["elapsed_s"] / 60
        bco20.append(at20k)
        bco40.append(last.mean)
        rnd40.append(baseline.mean)
        print(f"| {seed} | {at20k:.1f} | {last.mean:.1f} ± {last.std:.1f} | {r2} "
              f"| {minutes:.1f} min | {baseline.mean:.1f} ± {baseline.std:.1f} |")
    print(f"| mean | {mean(bco20):.1f} | **{mean(bco40):.1f}** | | | **{mean(rnd40):.1f}** |")


if __name__ == "__main__":
    main()
