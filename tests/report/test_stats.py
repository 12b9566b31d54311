"""rliable statistics: point estimates against direct computations, reproducible bootstrap."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.stats
from rliable import metrics

from bcvlr.report import stats
from bcvlr.tasks import TASKS

REPS = 50


def _suite(matrices: dict[str, np.ndarray], suite: str = "dmc") -> stats.SuiteScores:
    n_tasks = next(iter(matrices.values())).shape[1]
    tasks = [f"t{i}" for i in range(n_tasks)]
    return stats.SuiteScores(suite, tasks, tasks, matrices)


@pytest.fixture
def mats() -> dict[str, np.ndarray]:
    rng = np.random.default_rng(7)
    return {
        "bcvlr": rng.uniform(0.4, 1.1, size=(5, 8)),
        "laifo": rng.uniform(0.0, 0.6, size=(5, 8)),
        "bco": np.round(rng.uniform(0.0, 1.0, size=(3, 8)), 1),  # ties on purpose
    }


def test_point_estimates_match_direct_computation(mats) -> None:
    df = stats.aggregate_estimates(_suite(mats), reps=REPS, seed=0)
    for m, x in mats.items():
        got = df[df.method == m].set_index("metric")["estimate"]
        assert got["iqm"] == pytest.approx(scipy.stats.trim_mean(x, 0.25, axis=None))
        # IQM by hand: mean of the middle half of the sorted scores
        flat = np.sort(x.ravel())
        k = len(flat) // 4
        assert got["iqm"] == pytest.approx(flat[k : len(flat) - k].mean())
        assert got["median"] == pytest.approx(np.median(x.mean(axis=0)))
        assert got["mean"] == pytest.approx(x.mean())
        assert got["optimality_gap"] == pytest.approx(1 - np.minimum(x, 1).mean())
        for metric, r in df[df.method == m].set_index("metric").iterrows():
            assert r.ci_low <= r.estimate + 1e-12 and r.estimate <= r.ci_high + 1e-12, metric
        assert set(df[df.method == m]["runs"]) == {x.shape[0]}


def test_bootstrap_is_reproducible_and_leaves_global_rng_alone(mats) -> None:
    np.random.seed(123)
    before = np.random.get_state()[1].copy()
    a = stats.aggregate_estimates(_suite(mats), reps=REPS, seed=0)
    assert np.array_equal(np.random.get_state()[1], before)
    np.random.seed(999)  # a different global state must not matter
    b = stats.aggregate_estimates(_suite(mats), reps=REPS, seed=0)
    assert a.equals(b)
    c = stats.aggregate_estimates(_suite(mats), reps=REPS, seed=1)
    assert not a[["ci_low", "ci_high"]].equals(c[["ci_low", "ci_high"]])
    # a method's CI does not depend on which other methods are in the analysis
    alone = stats.aggregate_estimates(_suite({"laifo": mats["laifo"]}), reps=REPS, seed=0)
    pd_a = a[a.method == "laifo"].reset_index(drop=True)
    assert alone.reset_index(drop=True)[["ci_low", "ci_high"]].equals(pd_a[["ci_low", "ci_high"]])
    for fn in (stats.performance_profiles, stats.probability_of_improvement):
        assert fn(_suite(mats), reps=REPS, seed=0).equals(fn(_suite(mats), reps=REPS, seed=0))


def test_probability_of_improvement_equals_rliables(mats) -> None:
    rng = np.random.default_rng(0)
    for _ in range(20):
        x = np.round(rng.uniform(size=(rng.integers(2, 6), 4)), 1)
        y = np.round(rng.uniform(size=(rng.integers(2, 6), 4)), 1)
        assert stats.poi_statistic(x, y) == pytest.approx(metrics.probability_of_improvement(x, y))
    assert stats.poi_statistic(x, x) == pytest.approx(0.5)
    df = stats.probability_of_improvement(_suite(mats), reps=REPS, seed=0)
    assert list(df.y) == ["laifo", "bco"]
    row = df[df.y == "laifo"].iloc[0]
    want = metrics.probability_of_improvement(mats["bcvlr"], mats["laifo"])
    assert row.probability == pytest.approx(want)
    assert row.ci_low <= row.probability <= row.ci_high


def test_performance_profile_matches_direct_fraction(mats) -> None:
    taus = np.array([0.0, 0.25, 0.5, 0.75, 1.0])
    df = stats.performance_profiles(_suite(mats), reps=REPS, seed=0, taus=taus)
    for m, x in mats.items():
        got = df[df.method == m]["fraction"].to_numpy()
        assert np.allclose(got, [np.mean(x > t) for t in taus])


def test_sample_efficiency_point_estimates() -> None:
    rng = np.random.default_rng(3)
    arr = rng.uniform(size=(4, 6, 3))
    df = stats.sample_efficiency({"bcvlr": arr}, [0, 50_000, 100_000], "dmc", reps=REPS, seed=0)
    want = [scipy.stats.trim_mean(arr[..., j], 0.25, axis=None) for j in range(3)]
    assert np.allclose(df["iqm"], want)
    again = stats.sample_efficiency({"bcvlr": arr}, [0, 50_000, 100_000], "dmc", reps=REPS, seed=0)
    assert df.equals(again)


def test_build_suite_scores_is_explicit_about_what_it_drops() -> None:
    at = 100_000
    index = {
        ("bcvlr", "reacher_hard", at): [(0, 900.0, False), (1, 800.0, False), (2, 700.0, False)],
        ("bcvlr", "finger_spin", at): [(0, 981.0, False), (1, 490.5, False)],
        ("laifo", "reacher_hard", at): [(0, 100.0, False)],
    }
    ss = stats.build_suite_scores(index, "dmc")
    assert ss.tasks == ["reacher_hard", "finger_spin"]
    assert list(ss.scores) == ["bcvlr"]
    mat = ss.scores["bcvlr"]
    assert mat.shape == (2, 2)  # the least-covered task has 2 runs
    assert mat[:, 0] == pytest.approx(np.array([900, 800]) / TASKS["reacher_hard"].expert_score)
    assert mat[:, 1] == pytest.approx([1.0, 0.5])
    notes = " | ".join(ss.notes)
    assert "2 of 8 tasks" in notes and "laifo left out, no runs on finger_spin" in notes
    assert "1 extra run(s) unused" in notes


def test_curve_points() -> None:
    assert stats.curve_points("procgen") == [0, 25_600, 51_200, 76_800, 100_000]
    dmc = stats.curve_points("dmc")
    assert dmc[0] == 0 and dmc[-1] == 100_000 and len(dmc) == 11
    assert all(p % 2_000 == 0 for p in dmc)
