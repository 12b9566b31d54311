"""The method-against-random comparison: its final scores come from the run files and its
tests equal scipy's on the raw episodes."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from scipy import stats

from bcvlr.report import versus_random as vr
from bcvlr.results import RunDir
from tests.report.helpers import evaluation


def _run(root: Path, method: str, seed: int, returns: np.ndarray) -> Path:
    run = RunDir.create(root, method, "heist", seed, budget=100)
    run.log(50, 50, evaluation(np.zeros(1), "heist"))
    run.log(100, 100, evaluation(returns, "heist"))
    run.mark_complete()
    return run.path


def test_final_scores_and_both_tests_match_scipy_on_the_episodes(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    ours = [rng.normal(4 + s, 2, 64) for s in range(3)]
    theirs = [rng.normal(3, 2, 32) for _ in range(2)]
    method = [vr.final_score(_run(tmp_path, "ilpo", s, r)) for s, r in enumerate(ours)]
    baseline = [vr.final_score(_run(tmp_path, "random", s, r)) for s, r in enumerate(theirs)]
    assert method[1].frames == 100 and method[1].episodes == 64
    assert method[1].mean == pytest.approx(ours[1].mean())
    mean, std, n = vr.pooled(method)
    everything = np.concatenate(ours)
    assert (mean, std, n) == (pytest.approx(everything.mean()),
                              pytest.approx(everything.std(ddof=1)), 192)  # fmt: skip
    c = vr.compare(method, baseline)
    seeds = stats.ttest_ind([r.mean() for r in ours], [r.mean() for r in theirs],
                            equal_var=False, alternative="greater")  # fmt: skip
    episodes = stats.ttest_ind(everything, np.concatenate(theirs), equal_var=False,
                               alternative="greater")  # fmt: skip
    assert c["seeds_p"] == pytest.approx(seeds.pvalue)
    assert c["episodes_p"] == pytest.approx(episodes.pvalue)


def test_a_folder_that_is_not_a_run_is_one_line(tmp_path: Path, capsys) -> None:
    with pytest.raises(SystemExit) as exit_:
        vr.main(["--method", str(tmp_path), "--baseline", str(tmp_path)])
    assert exit_.value.code == 2
    assert capsys.readouterr().err.strip().endswith("no run.json (not a run folder)")


def test_one_seed_a_side_says_why_there_is_no_test_over_seeds(tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    method = [vr.final_score(_run(tmp_path, "laifo", 0, rng.normal(4, 2, 20)))]
    baseline = [vr.final_score(_run(tmp_path, "random", s, rng.normal(3, 2, 50))) for s in range(2)]
    text = vr.render("LAIfO", "random", method, baseline)
    assert "over seeds: n/a (needs 2+ seeds a side)" in text and "nan" not in text
    assert "optimistic): p = " in text
