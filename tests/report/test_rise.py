"""The rise statistics: read from a run's files, equal to scipy's on the raw values."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from scipy import stats

from bcvlr.report import rise
from bcvlr.results import RunDir
from tests.report.helpers import evaluation


def _run(root: Path, evals: list[np.ndarray], train: list[float]) -> Path:
    run = RunDir.create(root, "drqv2", "reacher_easy", 0, budget=100 * len(evals))
    for i, r in enumerate(train):
        run.log(i + 1, i + 1, {"train/episode_return": r})
    for i, episodes in enumerate(evals, 1):
        run.log(100 * i, 100 * i, evaluation(episodes, "reacher_easy"))
    run.mark_complete()
    return run.path


def test_statistics_equal_scipy_on_the_episodes(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    evals = [rng.normal(10 * i, 5, 20) for i in (1, 3, 2, 5, 4)]
    r = rise.rise(rise.evaluations(_run(tmp_path, evals, [1.0, 2.0])))
    means = [e.mean() for e in evals]
    assert r.spearman_rho == pytest.approx(stats.spearmanr(range(5), means).statistic)
    assert (r.first_half, r.last_half) == (pytest.approx(np.mean(means[:2])),
                                           pytest.approx(np.mean(means[2:])))  # fmt: skip
    assert r.mann_whitney_p == pytest.approx(
        stats.mannwhitneyu(means[2:], means[:2], alternative="greater").pvalue
    )
    welch = stats.ttest_ind(np.concatenate(evals[2:]), np.concatenate(evals[:2]),
                            equal_var=False, alternative="greater")  # fmt: skip
    assert r.welch_episodes_p == pytest.approx(welch.pvalue)


def test_too_few_evaluations_is_refused() -> None:
    with pytest.raises(ValueError, match="at least 4"):
        rise.rise([])


def test_render_names_the_training_trend(tmp_path: Path) -> None:
    run = _run(tmp_path, [np.full(2, float(i)) for i in range(4)], [float(i) for i in range(10)])
    text = rise.render(run)
    assert "first 3 1.00, last 3 8.00" in text
    assert "rho 1.00" in text.splitlines()[-1]
