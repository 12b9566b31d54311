"""Does a method beat another (by default the random policy) at the end of its runs? Each run's
last evaluation (the score metric its run.json names, with its episode std and count), then two
one-sided Welch t-tests of "the method scores higher":

- over seeds: each seed's mean is one sample (the test to quote; seeds are independent);
- over episodes: every evaluation episode is one sample, pooled over seeds. Episodes of one
  policy are not independent draws of the method's score, so this p-value is optimistic.

    python -m bcvlr.report.versus_random --method RUN_DIR [RUN_DIR ...] \
        --baseline RUN_DIR [RUN_DIR ...] [--label NAME]

Run folders are read as they are (copies under docs/runs/ too).
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import stats

from bcvlr.errors import UserError, report_user_errors


@dataclass(frozen=True)
class FinalScore:
    run: str
    frames: int
    mean: float
    std: float  # over the evaluation's episodes
    episodes: int


def evaluations(run_dir: Path) -> list[FinalScore]:
    """Every evaluation of a run, in order: its score, the episodes' std and their count."""
    for name in ("run.json", "metrics.csv"):
        if not (run_dir / name).is_file():
            raise UserError(f"{run_dir}: no {name} (not a run folder)")
    metric = json.loads((run_dir / "run.json").read_text())["score_metric"]
    m = pd.read_csv(run_dir / "metrics.csv")
    scored = m[m.metric == metric].step.unique()
    if len(scored) == 0:
        raise UserError(f"{run_dir}: no {metric} row (the run was never evaluated)")
    out = []
    for _, rows in m[m.step.isin(scored)].groupby("step"):  # in step order
        at = rows.set_index("metric").value
        mean = float(at[metric])
        if metric == "eval/success":  # a share of 0/1 episodes: its std follows from it
            std = math.sqrt(mean * (1 - mean))
        else:
            std = float(at.get(f"{metric}_std", math.nan))
        out.append(FinalScore(str(run_dir), int(rows.frames.max()), mean, std,
                              int(at.get("eval/episodes", 0))))  # fmt: skip
    return out


def final_score(run_dir: Path) -> FinalScore:
    """The last evaluation of a run: its score, the episodes' std and their count."""
    return evaluations(run_dir)[-1]


def pooled(scores: list[FinalScore]) -> tuple[float, float, int]:
    """Mean, sample std and count of all the episodes of ``scores``, from each run's mean, std
    and count (the std as the evaluation logs it: over its episodes, ddof 0)."""
    n = np.array([s.episodes for s in scores], float)
    mean = np.array([s.mean for s in scores])
    sq = np.array([s.std for s in scores]) ** 2 + mean**2  # E[x^2] per run
    total = n.sum()
    grand = float((n * mean).sum() / total)
    var = float(((n * sq).sum() / total - grand**2) * total / (total - 1))
    return grand, math.sqrt(max(var, 0.0)), int(total)


def compare(method: list[FinalScore], baseline: list[FinalScore]) -> dict[str, float]:
    """Both one-sided Welch tests of ``method`` > ``baseline``."""
    a, b = [s.mean for s in method], [s.mean for s in baseline]
    out = {"method_mean": float(np.mean(a)), "baseline_mean": float(np.mean(b)),
           "seeds_p": math.nan, "episodes_p": math.nan}  # fmt: skip
    if len(a) > 1 and len(b) > 1:
        out["seeds_p"] = float(stats.ttest_ind(a, b, equal_var=False,
                                               alternative="greater").pvalue)  # fmt: skip
    if all(s.episodes > 1 and not math.isnan(s.std) for s in method + baseline):
        out["episodes_p"] = welch_over_episodes(method, baseline)
    return out


def welch_over_episodes(method: list[FinalScore], baseline: list[FinalScore]) -> float:
    """The one-sided Welch test of ``method`` > ``baseline`` over all their episodes, pooled."""
    (ma, sa, na), (mb, sb, nb) = pooled(method), pooled(baseline)
    return float(stats.ttest_ind_from_stats(ma, sa, na, mb, sb, nb, equal_var=False,
                                            alternative="greater").pvalue)  # fmt: skip


def render(label: str, baseline_label: str, method: list[FinalScore],
           baseline: list[FinalScore]) -> str:  # fmt: skip
    lines = ["| run | frames | score (± std over episodes) | episodes |",
             "| --- | --- | --- | --- |"]  # fmt: skip
    for name, runs in ((label, method), (baseline_label, baseline)):
        for s in runs:
            lines.append(f"| {name}: {s.run} | {s.frames} | {s.mean:.3f} ± {s.std:.3f} | "
                         f"{s.episodes} |")  # fmt: skip
    c = compare(method, baseline)
    lines += ["", f"{label}: {c['method_mean']:.3f} (mean of {len(method)} seeds); "
              f"{baseline_label}: {c['baseline_mean']:.3f} (mean of {len(baseline)} seeds)",
              f"one-sided Welch t-test over seeds: {_p(c['seeds_p'], 'needs 2+ seeds a side')}",
              f"one-sided Welch t-test over episodes (not independent; optimistic): "
              f"{_p(c['episodes_p'], 'needs 2+ episodes and their std')}"]  # fmt: skip
    return "\n".join(lines)


def _p(value: float, why_none: str) -> str:
    return f"n/a ({why_none})" if math.isnan(value) else f"p = {value:.4g}"


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--method", nargs="+", required=True, type=Path, metavar="RUN_DIR")
    p.add_argument("--baseline", nargs="+", required=True, type=Path, metavar="RUN_DIR")
    p.add_argument("--label", default="method")
    p.add_argument("--baseline-label", default="random")
    args = p.parse_args(argv)

    def show() -> None:
        method = [final_score(d) for d in args.method]
        baseline = [final_score(d) for d in args.baseline]
        print(render(args.label, args.baseline_label, method, baseline))

    sys.exit(report_user_errors("versus_random", show))


if __name__ == "__main__":
    main()
