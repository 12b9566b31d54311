"""Tables 1-10: cell values, summary rows, normalisation, bolding, gaps and the paper's slips."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from bcvlr.report.specs import EXPERT, TABLE_SPECS, table_spec
from bcvlr.report.tables import build_table, score_index, to_frame, to_latex, to_markdown
from bcvlr.results import RunDir
from bcvlr.results.aggregate import aggregate_frame
from bcvlr.results.paper import paper_cells, paper_summary
from bcvlr.results.schema import collect_runs
from bcvlr.tasks import TASKS

from .conftest import KNOWN_SEEDS, known_value, seed_stats, write_known_run


def _tables(runs, seeds=3):
    index = score_index(aggregate_frame(runs))
    return {
        s.number: build_table(s, index, paper_cells(), paper_summary(), seeds) for s in TABLE_SPECS
    }


def test_specs_match_the_paper_layout() -> None:
    """Each spec names exactly the paper's tasks and methods, in the paper's order."""
    paper = paper_cells()
    for spec in TABLE_SPECS:
        p = paper[paper.table == spec.number]
        assert list(dict.fromkeys(p.task)) == list(spec.tasks), spec.number
        for task in spec.tasks:
            methods = list(p[p.task == task].method)
            assert methods == [c.method_for(task) for c in spec.columns] + [EXPERT]
        assert set(p.step) == {spec.at}
    assert table_spec(10).columns[2].method_for("fruitbot") == "ppo"
    assert table_spec(10).columns[2].method_for("reacher_hard") == "drqv2"


def test_every_cell_of_every_table(known_runs) -> None:
    tables = _tables(known_runs, seeds=KNOWN_SEEDS)
    seeds = range(KNOWN_SEEDS)
    checked = 0
    for spec in TABLE_SPECS:
        t = tables[spec.number]
        for task in spec.tasks:
            row_means = {}
            for col in spec.columns:
                method = col.method_for(task)
                c = t.cell(task, col.label)
                vals = [known_value(method, task, spec.at, s) for s in seeds]
                mean, std = seed_stats(vals)
                assert c.mean == pytest.approx(mean) and c.std == pytest.approx(std)
                assert (c.n, c.missing_seeds, c.method) == (KNOWN_SEEDS, 0, method)
                assert c.uses_rewards == (method in {"ppo", "lapo", "drqv2", "taco"})
                row_means[col.label] = round(mean, c.decimals)
                checked += 1
            ex = t.cell(task, spec.expert_label)
            assert ex.is_expert and ex.mean == TASKS[task].expert_score and not ex.bold
            best = max(row_means.values())
            bold = {c.column for c in t.rows[spec.tasks.index(task)] if c.bold}
            assert bold == {k for k, v in row_means.items() if v == best}
        # summary rows from an independent computation
        for key, _label in spec.summary_rows:
            for col in spec.columns:
                per_task = np.array(
                    [np.mean([known_value(col.method_for(x), x, spec.at, s) for s in seeds])
                     for x in spec.tasks]
                )  # fmt: skip
                experts = np.array([TASKS[x].expert_score for x in spec.tasks])
                want = per_task.mean() if key == "mean" else (per_task / experts).mean()
                assert t.cell(key, col.label).mean == pytest.approx(want)
            assert t.cell(key, spec.expert_label).mean == pytest.approx(
                1.0
                if key == "video_norm_mean"
                else np.mean([TASKS[x].expert_score for x in spec.tasks])
            )
    assert checked == sum(len(s.tasks) * len(s.columns) for s in TABLE_SPECS)


def test_paper_numbers_reproduce_the_printed_summary_rows(paper_runs) -> None:
    """Fed the paper's cells as one-seed runs, the generator reproduces the printed Mean and
    Video-norm Mean rows of Tables 1 and 2 (and Table 6's Mean Success Rate) to the printed
    precision, except Table 2's LAIFO and BCO Mean cells, which come out flagged."""
    tables = _tables(paper_runs, seeds=1)
    flagged = []
    for number in (1, 2, 6):
        t = tables[number]
        for c in t.cells():
            if not c.is_summary:
                continue
            tol = 0.5 * 10.0**-c.paper_decimals + 1e-9
            if c.flag:
                flagged.append((number, c.row, c.method))
                assert "sum divided by 6, not 8" in c.flag
                assert abs(c.mean - c.paper_mean) > tol
            else:
                assert abs(c.mean - c.paper_mean) <= tol, (number, c.row, c.column, c.mean)
    assert flagged == [(2, "mean", "laifo"), (2, "mean", "bco")]
    # and every task cell equals the paper's (one seed: no ±)
    for t in tables.values():
        for c in t.cells():
            if not c.is_summary and not c.is_expert:
                assert c.mean == c.paper_mean and math.isnan(c.std) and c.n == 1
    md = to_markdown(tables[2])
    assert md.count("⚠") == 4  # two markers in cells, two footnotes
    assert "sum divided by 6, not 8" in md


def test_missing_data_is_explicit(tmp_path: Path) -> None:
    root = tmp_path / "runs"
    spec = table_spec(8)
    for seed in range(3):
        write_known_run(root, "bcvlr", "reacher_hard", seed, {spec.at})
        write_known_run(root, "bcvlr", "finger_spin", seed, {spec.at})
    write_known_run(root, "bcvlr_ft_la", "reacher_hard", 0, {spec.at})
    write_known_run(root, "bcvlr_ft_la", "reacher_hard", 1, {spec.at})
    # a failed and a still-running run hold (bad) numbers that must not be averaged in
    bad = RunDir.create(root, "bcvlr_ft_la", "reacher_hard", 2)
    bad.log(50_000, 100_000, {"eval/return": 1e9})
    bad.mark_failed("killed")
    hung = RunDir.create(root, "bcvlr_ft_ft", "finger_spin", 0)
    hung.log(50_000, 100_000, {"eval/return": 1e9})
    hung.close()
    runs = collect_runs(root)
    t = build_table(spec, score_index(aggregate_frame(runs)), paper_cells(), paper_summary(), 3)
    partial = t.cell("reacher_hard", "Finetuned via L_la")
    vals = [known_value("bcvlr_ft_la", "reacher_hard", spec.at, s) for s in (0, 1)]
    assert (partial.n, partial.missing_seeds) == (2, 1)
    assert partial.mean == pytest.approx(np.mean(vals))  # over the seeds that exist, and said so
    empty = t.cell("finger_spin", "Finetuned via L_ft")
    assert empty.n == 0 and math.isnan(empty.mean) and empty.missing_seeds == 3
    md = to_markdown(t)
    assert "— (3 seed(s) missing)" in md
    assert "(2/3 seeds)" in md
    assert "1000000000" not in md and "1e+09" not in md
    df = to_frame(t)
    row = df[(df.row == "finger_spin") & (df.method == "bcvlr_ft_ft")].iloc[0]
    assert math.isnan(row["mean"]) and row["missing_seeds"] == 3 and row["n_seeds"] == 0
    assert "---" in to_latex(t)  # LaTeX's dash for the missing cell


def test_summary_row_is_missing_unless_every_task_has_data(tmp_path: Path) -> None:
    root = tmp_path / "runs"
    spec = table_spec(2)
    for task in spec.tasks[:-1]:
        write_known_run(root, "bcvlr", task, 0, {spec.at})
    t = build_table(
        spec, score_index(aggregate_frame(collect_runs(root))), paper_cells(), paper_summary(), 1
    )
    for key in ("mean", "video_norm_mean"):
        c = t.cell(key, "BCV-LR (ours)")
        assert math.isnan(c.mean) and c.missing_tasks == ["reacher_easy"]
    assert "— (1 task(s) missing)" in to_markdown(t)
    # no silently smaller mean anywhere in the CSV either
    df = to_frame(t)
    assert df[(df.row == "mean") & (df.method == "bcvlr")]["mean"].isna().all()


def test_reduced_budget_runs_are_marked(tmp_path: Path) -> None:
    root = tmp_path / "runs"
    run = RunDir.create(root, "bcvlr", "finger_spin", 0, budget=1000)
    for f in (0, 200, 500, 1000):
        run.log(f // 2, f, {"eval/return": float(f)})
    run.mark_complete()
    index = score_index(aggregate_frame(collect_runs(root)))
    t2 = build_table(table_spec(2), index, paper_cells(), paper_summary(), 1)
    c = t2.cell("finger_spin", "BCV-LR (ours)")
    assert c.reduced_budget and c.mean == 1000.0
    t5 = build_table(table_spec(5), index, paper_cells(), paper_summary(), 1)
    assert t5.cell("finger_spin", "BCV-LR (ours)").mean == 200.0  # 20k of 100k -> 200 of 1000
    md = to_markdown(t2)
    assert "‡" in md and "not comparable with the paper" in md


def test_rendering_layout(known_runs) -> None:
    t = _tables(known_runs, seeds=KNOWN_SEEDS)[1]
    md = to_markdown(t)
    header = md.splitlines()[4]
    assert header.startswith("| Task | BCV-LR (ours) | UPESV |") and "PPO †" in header
    assert "| **Video-norm Mean** |" in md and "paper" in md and "Δ" in md
    tex = to_latex(t)
    assert r"\underline{PPO}" in tex and r"\textbf{" in tex and r"$\pm$" in tex
    assert r"\textbackslash" not in tex
    assert tex.count(r"\\") >= 18
    df = to_frame(t)
    assert len(df) == 16 * 8 + 2 * 8
    bcvlr = df[(df.row == "bigfish") & (df.method == "bcvlr")].iloc[0]
    assert bcvlr["paper_mean"] == 35.9 and bcvlr["diff"] == pytest.approx(bcvlr["mean"] - 35.9)
    assert bcvlr["seeds"] == "0 1"
    assert isinstance(df, pd.DataFrame)
