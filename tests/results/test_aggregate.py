"""`bcvlr aggregate`: reading scores at the paper's reporting points and excluding bad runs."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from bcvlr.cli import main as cli_main
from bcvlr.results import RunDir, load_run
from bcvlr.results.aggregate import score_at


def _run(root: Path, method: str, task: str, seed: int, points: dict[int, float], **kw) -> Path:
    run = RunDir.create(root, method, task, seed, **kw)
    metric = run.info["score_metric"]
    for frames, value in sorted(points.items()):
        run.log(frames // 2, frames, {metric: value})
    run.mark_complete()
    return run.path


def test_score_at_nearest_within_one_interval(tmp_path: Path) -> None:
    pts = {f: f / 1000 for f in range(0, 100_001, 2_000)}
    run = load_run(_run(tmp_path, "bcvlr", "finger_spin", 0, pts))
    assert score_at(run, 50_000) == (50.0, 50_000)
    assert score_at(run, 51_000) == (50.0, 50_000)  # tie -> the earlier evaluation
    assert score_at(run, 103_000) is None  # more than one interval past the last evaluation
    # Procgen evaluates every 25,600 steps: 102,400 is the nearest to the 100k point
    pg = load_run(_run(tmp_path, "bcvlr", "bigfish", 0, {i * 25_600: i for i in range(5)}))
    assert score_at(pg, 100_000) == (4.0, 102_400)


def test_reduced_budget_is_read_proportionally(tmp_path: Path) -> None:
    pts = {f: f for f in range(0, 2_001, 200)}
    run = load_run(_run(tmp_path, "bcvlr", "finger_spin", 0, pts, budget=2_000))
    assert run.reduced_budget
    assert score_at(run, 100_000) == (2000.0, 2000)
    assert score_at(run, 50_000) == (1000.0, 1000)


def test_aggregate_cli_excludes_and_reports(tmp_path: Path, capsys) -> None:
    root = tmp_path / "runs"
    for seed, final in enumerate([900.0, 800.0]):
        _run(root, "bcvlr", "reacher_hard", seed, {20_000: 1.0, 50_000: 2.0, 100_000: final})
    failed = RunDir.create(root, "bcvlr", "reacher_hard", 2)
    failed.log(1000, 2000, {"eval/return": 1e6})
    failed.mark_failed("NaN loss")
    RunDir.create(root, "laifo", "reacher_hard", 0).close()
    out = tmp_path / "agg.csv"
    assert cli_main(["aggregate", "--runs", str(root), "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "2 run(s) not averaged in" in printed
    assert "bcvlr/reacher_hard/seed2: failed: NaN loss" in printed
    assert "laifo/reacher_hard/seed0: running" in printed
    df = pd.read_csv(out)
    assert set(df["seed"]) == {0, 1} and set(df["method"]) == {"bcvlr"}
    final = df[df["at"] == 100_000].set_index("seed")
    assert final.loc[0, "score"] == 900.0
    assert final.loc[1, "video_norm_score"] == pytest.approx(800.0 / 967.0)
    assert 1e6 not in df["score"].tolist()
    excluded = (tmp_path / "agg_excluded.txt").read_text()
    assert "NaN loss" in excluded and "laifo" in excluded


def test_aggregate_cli_fails_on_invalid(tmp_path: Path, capsys) -> None:
    root = tmp_path / "runs"
    path = _run(root, "bcvlr", "reacher_hard", 0, {100_000: 1.0})
    (path / "metrics.csv").write_text("step,frames,metric,value,wall_time\n1,2,eval/return,x,0\n")
    assert cli_main(["aggregate", "--runs", str(root), "--out", str(tmp_path / "a.csv")]) == 2
    captured = capsys.readouterr()
    assert "metrics.csv: line 2: unparsable number" in captured.out
    assert "fail the schema check" in captured.err
    args = ["aggregate", "--runs", str(root), "--out", str(tmp_path / "a.csv"), "--skip-invalid"]
    assert cli_main(args) == 0
