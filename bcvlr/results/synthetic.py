"""Run directories with known numbers, written through the real ``RunDir`` API.

For tests and for previewing the report before real runs exist; every run written here is
labelled ``synthetic: true`` in run.json so it can never pass for a measurement.
"""

from __future__ import annotations

import os
import zlib
from collections.abc import Iterable
from pathlib import Path

import numpy as np

from bcvlr.results.paper import paper_cells
from bcvlr.results.rundir import RunDir
from bcvlr.tasks import get_task


def _offsets(n: int) -> np.ndarray:
    """n numbers with mean 0 and sample std 1 (zeros for n = 1)."""
    if n == 1:
        return np.zeros(1)
    z = np.arange(n, dtype=float) - (n - 1) / 2
    return z / z.std(ddof=1)


def write_paper_runs(
    root: str | os.PathLike,
    seeds: int = 1,
    tables: Iterable[int] | None = None,
    paper_dir: str | os.PathLike | None = None,
) -> list[Path]:
    """The paper's cells as runs: per (method, task), ``seeds`` runs whose mean over seeds is
    the printed mean (and whose sample std is the printed ± when seeds > 1), one evaluation
    at each reporting point the paper prints for that pair."""
    cells = paper_cells(paper_dir)
    cells = cells[~cells["is_expert"]]
    if tables is not None:
        cells = cells[cells["table"].isin(list(tables))]
    points: dict[tuple[str, str], dict[int, tuple[float, float]]] = {}
    for c in cells.itertuples(index=False):
        pts = points.setdefault((c.method, c.task), {})
        value = (float(c.mean), float(c.std))
        # tables repeat cells (Table 3's BCV-LR-S is Table 1's BCV-LR): they must agree
        if pts.get(int(c.step), value) != value:
            raise ValueError(f"paper cells disagree for {c.method}/{c.task} at {c.step}")
        pts[int(c.step)] = value
    paths = []
    for (method, task), pts in sorted(points.items()):
        for s in range(seeds):
            run = RunDir.create(
                root, method, task, s, labels={"synthetic": True, "source": "paper"}
            )
            metric = run.info["score_metric"]
            ar = get_task(task).action_repeat
            for at in sorted(pts):
                mean, std = pts[at]
                value = mean + (std * _offsets(seeds)[s] if seeds > 1 else 0.0)
                run.log(at // ar, at, {metric: value})
            run.mark_complete()
            paths.append(run.path)
    return paths


def write_curve_runs(
    root: str | os.PathLike,
    method: str,
    task: str,
    seeds: Iterable[int],
    final: float,
    *,
    budget: int | None = None,
    rate: float = 4.0,
    noise: float = 0.05,
    rng_seed: int = 0,
    status: str = "complete",
    every: int | None = None,
) -> list[Path]:
    """Saturating learning curves ``final * (1 - exp(-rate * frames / budget))`` plus noise,
    evaluated every ``every`` frames (default: the task's schedule) and at its reporting
    points."""
    t = get_task(task)
    budget = t.budget if budget is None else budget
    scale = budget / t.budget
    every = every or max(int(t.eval.every * min(scale, 1.0)), 1)
    pts = sorted(
        set(range(0, budget + 1, every)) | {int(p * min(scale, 1.0)) for p in t.eval.report_at}
    )
    paths = []
    for s in seeds:
        rng = np.random.default_rng([rng_seed, s, zlib.crc32(f"{method}/{task}".encode())])
        run = RunDir.create(
            root, method, task, s, budget=budget, labels={"synthetic": True, "source": "curve"}
        )
        metric = run.info["score_metric"]
        for f in pts:
            v = (
                final * (1 - np.exp(-rate * f / budget))
                + noise * abs(final) * rng.standard_normal()
            )
            if t.eval.metric == "success":
                v = float(np.clip(v, 0.0, 1.0))
            run.log(
                f // t.action_repeat,
                f,
                {metric: float(v), "train/loss": float(np.exp(-f / budget))},
            )
        if status == "complete":
            run.mark_complete()
        elif status == "failed":
            run.mark_failed("synthetic failure")
        else:
            run.close()
        paths.append(run.path)
    return paths
