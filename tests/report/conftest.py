from __future__ import annotations

import zlib
from pathlib import Path

import numpy as np
import pytest

from bcvlr.report.specs import TABLE_SPECS
from bcvlr.results import RunDir
from bcvlr.results.schema import RunCollection, collect_runs
from bcvlr.results.synthetic import write_paper_runs
from bcvlr.tasks import get_task

SEED_OFFSETS = (-1.0, 2.5, 0.0)  # known per-seed offsets
KNOWN_SEEDS = 2  # every table cell gets this many runs (kept small: each run costs fsyncs)


def known_value(method: str, task: str, at: int, seed: int) -> float:
    """A value the test can recompute: distinct per (method, task, point, seed)."""
    base = zlib.crc32(f"{method}/{task}".encode()) % 997 / 10.0
    return base + at / 100_000 + SEED_OFFSETS[seed]


def all_table_pairs() -> dict[tuple[str, str], set[int]]:
    """(method, task) -> reporting points, over every cell of every table spec."""
    pairs: dict[tuple[str, str], set[int]] = {}
    for spec in TABLE_SPECS:
        for task in spec.tasks:
            for col in spec.columns:
                pairs.setdefault((col.method_for(task), task), set()).add(spec.at)
    return pairs


def write_known_run(root: Path, method: str, task: str, seed: int, points: set[int]) -> Path:
    run = RunDir.create(root, method, task, seed)
    metric = run.info["score_metric"]
    ar = get_task(task).action_repeat
    for at in sorted(points):
        run.log(at // ar, at, {metric: known_value(method, task, at, seed)})
    run.mark_complete()
    return run.path


@pytest.fixture(scope="session")
def known_runs(tmp_path_factory: pytest.TempPathFactory) -> RunCollection:
    """Every table cell with KNOWN_SEEDS seeds of known values."""
    root = tmp_path_factory.mktemp("known") / "runs"
    for (method, task), points in sorted(all_table_pairs().items()):
        for seed in range(KNOWN_SEEDS):
            write_known_run(root, method, task, seed, points)
    return collect_runs(root)


@pytest.fixture(scope="session")
def paper_runs(tmp_path_factory: pytest.TempPathFactory) -> RunCollection:
    """The paper's printed means as runs, one fake seed each."""
    root = tmp_path_factory.mktemp("paper") / "runs"
    write_paper_runs(root, seeds=1)
    return collect_runs(root)


def seed_stats(values: list[float]) -> tuple[float, float]:
    a = np.asarray(values)
    return float(a.mean()), float(a.std(ddof=1))
