"""Does a run's score rise over training? The run's evaluations against frames and its training
episode returns against their order, as docs/ quote them:

- Spearman's rho of the evaluations against frames (with its two-sided p);
- the first half of the evaluations against the second: a one-sided Mann-Whitney test over the
  evaluation means and a one-sided Welch test over their pooled episodes (episodes of one run
  are not independent draws, so that p-value is optimistic);
- the training returns: first and last 3, means per 20, Spearman against their order.

    python -m bcvlr.report.rise RUN_DIR [RUN_DIR ...]
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import stats

from bcvlr.errors import report_user_errors
from bcvlr.report.versus_random import FinalScore, evaluations, welch_over_episodes


@dataclass(frozen=True)
class Rise:
    spearman_rho: float
    spearman_p: float
    first_half: float  # mean of the first half's evaluation means
    last_half: float
    mann_whitney_p: float  # over evaluation means, one-sided: the last half is higher
    welch_episodes_p: float  # over pooled episodes, one-sided; optimistic


def rise(evals: list[FinalScore]) -> Rise:
    """The rise statistics of at least four evaluations (the first half is the shorter one)."""
    if len(evals) < 4:
        raise ValueError(f"{len(evals)} evaluations; a rise needs at least 4")
    frames = [e.frames for e in evals]
    means = np.array([e.mean for e in evals])
    half = len(evals) // 2
    first, last = evals[:half], evals[half:]
    rho = stats.spearmanr(frames, means)
    mw = stats.mannwhitneyu(means[half:], means[:half], alternative="greater")
    return Rise(float(rho.statistic), float(rho.pvalue), float(means[:half].mean()),
                float(means[half:].mean()), float(mw.pvalue),
                welch_over_episodes(last, first))  # fmt: skip


def training_returns(run_dir: Path) -> np.ndarray:
    """The run's training episode returns, in the order they were logged (may be empty)."""
    m = pd.read_csv(run_dir / "metrics.csv")
    return m[m.metric == "train/episode_return"].value.to_numpy(float)


def render(run_dir: Path) -> str:
    evals = evaluations(run_dir)
    lines = [str(run_dir), "evaluations (frames: return): "
             + " / ".join(f"{e.frames}: {e.mean:.2f}" for e in evals)]  # fmt: skip
    if len(evals) >= 4:
        r = rise(evals)
        lines += [f"Spearman, evaluations vs frames: rho {r.spearman_rho:.2f}, "
                  f"p = {r.spearman_p:.3g}",
                  f"first half {r.first_half:.1f}, last half {r.last_half:.1f}: one-sided "
                  f"Mann-Whitney over evaluations p = {r.mann_whitney_p:.3g}, one-sided Welch "
                  f"over episodes (not independent; optimistic) p = {r.welch_episodes_p:.3g}"]  # fmt: skip
    train = training_returns(run_dir)
    if len(train) >= 6:
        rho = stats.spearmanr(np.arange(len(train)), train)
        per20 = [round(float(train[i : i + 20].mean()), 1) for i in range(0, len(train), 20)]
        lines += [f"training returns ({len(train)}): first 3 {train[:3].mean():.2f}, last 3 "
                  f"{train[-3:].mean():.2f}; means per 20: {per20}",
                  f"Spearman, training returns vs order: rho {rho.statistic:.2f}, "
                  f"p = {rho.pvalue:.3g}"]  # fmt: skip
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("runs", nargs="+", type=Path, metavar="RUN_DIR")
    args = p.parse_args(argv)
    sys.exit(report_user_errors("rise", lambda: print("\n\n".join(map(render, args.runs)))))


if __name__ == "__main__":
    main()
