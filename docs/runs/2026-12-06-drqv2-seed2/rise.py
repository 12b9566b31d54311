"""Rising-curve statistics quoted in docs for one run: python rise.py RUN_DIR [RUN_DIR ...].

Used for DrQv2 seed 2 (docs/baselines.md) and the starpilot PPO expert (docs/experts.md)."""

import sys
from pathlib import Path

import numpy as np
import pandas as pd
from scipy.stats import mannwhitneyu, spearmanr, ttest_ind_from_stats


def pooled(means: np.ndarray, stds: np.ndarray, n: int) -> tuple[float, float]:
    """Mean and sample std of all episodes of several evaluations of n episodes each."""
    grand = means.mean()
    ss = (stds**2 * n).sum() + (n * (means - grand) ** 2).sum()
    return grand, float(np.sqrt(ss / (len(means) * n - 1)))


def report(run: Path) -> None:
    m = pd.read_csv(run / "metrics.csv")
    ev = m[m.metric == "eval/return"].set_index("frames").value
    sd = m[m.metric == "eval/return_std"].set_index("frames").value
    n = int(m[m.metric == "eval/episodes"].value.iloc[0])
    print(run)
    print("evaluations:", " / ".join(f"{v:.2f}" for v in ev))
    if len(ev) >= 4:
        half = len(ev) // 2
        first, last = ev.iloc[:half], ev.iloc[half:]
        print(f"Spearman evals vs frames: {spearmanr(ev.index, ev.values)}")
        print(f"first half {first.mean():.1f}, last half {last.mean():.1f}; one-sided Mann-Whitney "
              f"p = {mannwhitneyu(last, first, alternative='greater').pvalue:.3f}")
        (ma, sa), (mb, sb) = pooled(first.values, sd.iloc[:half].values, n), pooled(last.values, sd.iloc[half:].values, n)
        welch = ttest_ind_from_stats(mb, sb, n * half, ma, sa, n * len(first), equal_var=False, alternative="greater")
        print(f"Welch over episodes of each half (not independent): p = {welch.pvalue:.3f}")
    tr = m[m.metric == "train/episode_return"]
    print(f"train: first 3 {tr.value.iloc[:3].mean():.2f}, last 3 {tr.value.iloc[-3:].mean():.2f}; "
          f"per 20: {[round(tr.value.iloc[i:i + 20].mean(), 1) for i in range(0, len(tr), 20)]}")
    print(f"Spearman train vs row order: {spearmanr(np.arange(len(tr)), tr.value)}")


if __name__ == "__main__":
    for arg in sys.argv[1:]:
        report(Path(arg))
