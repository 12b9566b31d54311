"""`bcvlr aggregate`: every checked run in one table, one row per run and reporting point."""

from __future__ import annotations

import argparse
import math
from pathlib import Path

import numpy as np
import pandas as pd

from bcvlr.atomic import atomic_write_text
from bcvlr.results.schema import Run, RunCollection, collect_runs
from bcvlr.tasks import get_task

AGGREGATE_COLUMNS = [
    "method", "task", "suite", "seed", "at", "eval_frames", "score", "expert_score",
    "video_norm_score", "budget", "reduced_budget", "extended_budget", "git_commit", "path",
]  # fmt: skip


def budget_scale(run: Run) -> float:
    """How a reporting point maps into this run: reduced-budget runs are read proportionally."""
    task_budget = get_task(run.task).budget
    return run.budget / task_budget if run.budget < task_budget else 1.0


def eval_interval(run: Run) -> float:
    """The run's own spacing between evaluations (median), else the task's, scaled."""
    frames = np.unique(run.scores()["frames"].to_numpy())
    if len(frames) >= 2:
        return float(np.median(np.diff(frames)))
    return get_task(run.task).eval.every * budget_scale(run)


def score_at(run: Run, at: int) -> tuple[float, int] | None:
    """(score, frames of that evaluation) of the evaluation nearest to ``at``, or ``None``.

    ``at`` is in the task's budget unit. The nearest evaluation counts only within one evaluation
    interval of the point (ties go to the earlier evaluation, which never saw more data), so a
    run that stopped short is missing there rather than reporting an early score as final.
    """
    scores = run.scores()
    if scores.empty:
        return None
    target = at * budget_scale(run)
    frames = scores["frames"].to_numpy(dtype=float)
    dist = np.abs(frames - target)
    i = int(np.argmin(dist))  # argmin returns the first minimum = the earlier evaluation
    if dist[i] > eval_interval(run) + 1e-9:
        return None
    return float(scores["value"].iloc[i]), int(frames[i])


def report_points(run: Run) -> list[int]:
    task = get_task(run.task)
    points = set(task.eval.report_at) | {task.budget}
    if run.budget > task.budget:
        points.add(run.budget)
    return sorted(points)


def aggregate_frame(runs: RunCollection) -> pd.DataFrame:
    rows = []
    for run in runs.complete:
        task = get_task(run.task)
        for at in report_points(run):
            if at > task.budget and at != run.budget:
                continue
            hit = score_at(run, at)
            if hit is None:
                continue
            score, frames = hit
            expert = task.expert_score
            rows.append(
                {
                    "method": run.method, "task": run.task, "suite": run.suite,
                    "seed": run.seed, "at": at, "eval_frames": frames, "score": score,
                    "expert_score": expert,
                    "video_norm_score": score / expert if expert else math.nan,
                    "budget": run.budget, "reduced_budget": run.reduced_budget,
                    "extended_budget": run.budget > task.budget,
                    "git_commit": run.info["provenance"].get("git_commit", "unknown"),
                    "path": str(run.path),
                }
            )  # fmt: skip
    df = pd.DataFrame(rows, columns=AGGREGATE_COLUMNS)
    return df.sort_values(["suite", "task", "method", "at", "seed"], kind="stable").reset_index(
        drop=True
    )


def print_excluded(runs: RunCollection) -> None:
    lines = runs.excluded_lines()
    if not lines:
        return
    print(f"{len(lines)} run(s) not averaged in:")
    for line in lines:
        print(f"  - {line}")


def runs_roots(args: argparse.Namespace) -> list[Path]:
    """The --runs folders (default results/runs), each an existing folder: a mistyped root
    would otherwise give an empty table and exit 0."""
    from bcvlr.errors import CliError

    roots = [Path(r) for r in (args.runs or ["results/runs"])]
    for root in roots:
        if not root.is_dir():
            what = "is not a folder" if root.exists() else "does not exist"
            raise CliError(f"runs root {root} {what}")
    return roots


def main(args: argparse.Namespace) -> None:
    from bcvlr.errors import CliError

    runs = collect_runs(runs_roots(args))
    print_excluded(runs)
    if runs.invalid and not args.skip_invalid:
        raise CliError(
            f"{len(runs.invalid)} run directory(ies) fail the schema check (listed above); "
            "fix or remove them, or pass --skip-invalid"
        )
    df = aggregate_frame(runs)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(out, df.to_csv(index=False))
    excluded = out.with_name(out.stem + "_excluded.txt")
    atomic_write_text(excluded, "".join(f"{line}\n" for line in runs.excluded_lines()))
    print(
        f"{len(runs.complete)} complete run(s), {len(df)} row(s) -> {out}; "
        f"{len(runs.incomplete)} incomplete, {len(runs.invalid)} invalid -> {excluded}"
    )
    if len(df):
        summary = (
            df[~df["extended_budget"]]
            .groupby(["suite", "task", "method", "at"])["score"]
            .agg(["mean", "std", "count"])
        )
        with pd.option_context("display.max_rows", 200, "display.width", 120):
            print(summary.round(3).to_string())
