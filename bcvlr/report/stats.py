"""rliable statistics on video-normalised scores (score / expert score), per suite.

Reproducibility: rliable's bootstrap draws from numpy's *global* RNG (its ``random_state``
argument does not make it reproducible, machine-facts.md), so every rliable call here runs under
``seeded(seed)``, which seeds the global RNG and restores its previous state afterwards. Each
method (or pair) gets its own call, so adding a method never changes another method's CI.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from rliable import library as rly
from rliable import metrics

from bcvlr.report.specs import EXPERT, SUITE_TABLES, table_spec
from bcvlr.tasks import get_task

log = logging.getLogger(__name__)

AGGREGATES = ("median", "iqm", "mean", "optimality_gap")


@contextlib.contextmanager
def seeded(seed: int) -> Iterator[None]:
    state = np.random.get_state()
    np.random.seed(seed)
    try:
        yield
    finally:
        np.random.set_state(state)


def _aggregate_func(x: np.ndarray) -> np.ndarray:
    return np.array(
        [
            metrics.aggregate_median(x),
            metrics.aggregate_iqm(x),
            metrics.aggregate_mean(x),
            metrics.aggregate_optimality_gap(x),
        ]
    )


@dataclass
class SuiteScores:
    """Score matrices (runs x tasks), video-normalised, for the methods of one suite."""

    suite: str
    tasks: list[str]
    all_tasks: list[str]
    scores: dict[str, np.ndarray]  # method -> (runs, tasks)
    notes: list[str] = field(default_factory=list)

    @property
    def methods(self) -> list[str]:
        return list(self.scores)


def suite_methods(suite: str) -> list[str]:
    spec = table_spec(SUITE_TABLES[suite])
    return [m for c in spec.columns for m in c.methods if m != EXPERT]


def build_suite_scores(
    index: dict[tuple[str, str, int], list[tuple[int, float, bool]]],
    suite: str,
    methods: Sequence[str] | None = None,
    at: int | None = None,
) -> SuiteScores:
    """Collect normalised final scores; the task set is the suite table's tasks that have runs.

    rliable needs a rectangular matrix per method, so a method enters only if it covers every
    one of those tasks, with as many runs as its least-covered task (the lowest seeds); whatever
    is left out is written to ``notes`` (never silently).
    """
    spec = table_spec(SUITE_TABLES[suite])
    at = spec.at if at is None else at
    methods = list(methods or suite_methods(suite))
    all_tasks = list(spec.tasks)
    tasks = [t for t in all_tasks if any(index.get((m, t, at)) for m in methods)]
    out = SuiteScores(suite, tasks, all_tasks, {})
    if len(tasks) < len(all_tasks):
        out.notes.append(
            f"{suite}: {len(tasks)} of {len(all_tasks)} tasks have runs; statistics cover "
            f"{', '.join(tasks) or 'none'}"
        )
    for m in methods:
        per_task = [index.get((m, t, at), []) for t in tasks]
        if not tasks or not any(per_task):
            continue
        missing = [t for t, runs in zip(tasks, per_task, strict=True) if not runs]
        if missing:
            out.notes.append(f"{suite}: {m} left out, no runs on {', '.join(missing)}")
            continue
        k = min(len(r) for r in per_task)
        dropped = sum(len(r) - k for r in per_task)
        if dropped:
            out.notes.append(
                f"{suite}: {m} uses {k} run(s) per task ({dropped} extra run(s) unused)"
            )
        mat = np.array(
            [[s for _, s, _ in runs[:k]] for runs in per_task], dtype=float
        ).T / np.array([get_task(t).expert_score for t in tasks], dtype=float)
        out.scores[m] = mat
    return out


def aggregate_estimates(ss: SuiteScores, *, reps: int, seed: int) -> pd.DataFrame:
    """Median, IQM, mean and optimality gap with 95% stratified-bootstrap CIs."""
    rows = []
    for m, mat in ss.scores.items():
        with seeded(seed):
            point, ci = rly.get_interval_estimates({m: mat}, _aggregate_func, reps=reps)
        for i, name in enumerate(AGGREGATES):
            rows.append(
                {
                    "suite": ss.suite, "method": m, "metric": name,
                    "estimate": float(point[m][i]), "ci_low": float(ci[m][0, i]),
                    "ci_high": float(ci[m][1, i]), "runs": mat.shape[0], "tasks": mat.shape[1],
                }
            )  # fmt: skip
    return pd.DataFrame(
        rows,
        columns=["suite", "method", "metric", "estimate", "ci_low", "ci_high", "runs", "tasks"],
    )


def performance_profiles(
    ss: SuiteScores, *, reps: int, seed: int, taus: np.ndarray | None = None
) -> pd.DataFrame:
    """Score distributions: fraction of runs with normalised score > tau, with 95% CIs."""
    if taus is None:
        hi = max([1.2] + [float(np.max(m)) for m in ss.scores.values()])
        taus = np.linspace(0.0, hi, 61)
    rows = []
    for m, mat in ss.scores.items():
        with seeded(seed):
            prof, ci = rly.create_performance_profile({m: mat}, taus, reps=reps)
        for j, tau in enumerate(taus):
            rows.append(
                {
                    "suite": ss.suite, "method": m, "tau": float(tau),
                    "fraction": float(prof[m][j]), "ci_low": float(ci[m][0, j]),
                    "ci_high": float(ci[m][1, j]),
                }
            )  # fmt: skip
    return pd.DataFrame(rows, columns=["suite", "method", "tau", "fraction", "ci_low", "ci_high"])


def poi_statistic(scores_x: np.ndarray, scores_y: np.ndarray) -> float:
    """rliable's ``metrics.probability_of_improvement``, vectorised.

    rliable computes, per task, the Mann-Whitney U of x over y divided by n_x * n_y, i.e.
    P(x > y) + P(x = y) / 2 over all run pairs (identical columns give 0.5 either way), and
    averages over tasks. Calling scipy once per task and replication made the bootstrap take
    minutes; this is the same number (tests/report checks it against rliable's function).
    """
    x = scores_x[:, None, :]
    y = scores_y[None, :, :]
    per_task = np.mean((x > y) + 0.5 * (x == y), axis=(0, 1))
    return float(np.mean(per_task))


def probability_of_improvement(
    ss: SuiteScores, *, reps: int, seed: int, reference: str = "bcvlr"
) -> pd.DataFrame:
    """P(reference > other) averaged over tasks, with 95% CIs, for every other method."""
    rows = []
    if reference in ss.scores:
        for m, mat in ss.scores.items():
            if m == reference:
                continue
            key = f"{reference},{m}"
            with seeded(seed):
                point, ci = rly.get_interval_estimates(
                    {key: (ss.scores[reference], mat)},
                    poi_statistic,
                    reps=reps,
                )
            rows.append(
                {
                    "suite": ss.suite, "x": reference, "y": m,
                    "probability": float(np.squeeze(point[key])),
                    "ci_low": float(np.squeeze(ci[key][0])),
                    "ci_high": float(np.squeeze(ci[key][1])),
                }
            )  # fmt: skip
    return pd.DataFrame(rows, columns=["suite", "x", "y", "probability", "ci_low", "ci_high"])


def curve_points(suite: str, max_points: int = 11) -> list[int]:
    """Where sample-efficiency curves are read: on the eval schedule, at most ``max_points``."""
    spec = table_spec(SUITE_TABLES[suite])
    task = get_task(spec.tasks[0])
    budget, every = task.budget, task.eval.every
    cands = sorted(set(range(0, budget + 1, every)) | set(task.eval.report_at))
    if len(cands) <= max_points:
        return cands
    picks = {min(cands, key=lambda c, g=g: abs(c - g)) for g in np.linspace(0, budget, max_points)}
    return sorted(picks)


def sample_efficiency(
    curves: dict[str, np.ndarray], points: Sequence[int], suite: str, *, reps: int, seed: int
) -> pd.DataFrame:
    """IQM of normalised scores at each point; ``curves[m]`` is (runs, tasks, points)."""
    rows = []

    def iqm_per_point(x: np.ndarray) -> np.ndarray:
        return np.array([metrics.aggregate_iqm(x[..., j]) for j in range(x.shape[-1])])

    for m, arr in curves.items():
        with seeded(seed):
            point, ci = rly.get_interval_estimates({m: arr}, iqm_per_point, reps=reps)
        for j, p in enumerate(points):
            rows.append(
                {
                    "suite": suite, "method": m, "at": int(p), "iqm": float(point[m][j]),
                    "ci_low": float(ci[m][0, j]), "ci_high": float(ci[m][1, j]),
                    "runs": arr.shape[0], "tasks": arr.shape[1],
                }
            )  # fmt: skip
    return pd.DataFrame(
        rows, columns=["suite", "method", "at", "iqm", "ci_low", "ci_high", "runs", "tasks"]
    )
