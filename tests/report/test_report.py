"""`bcvlr report` end to end on a small run tree: files, index, skipped figures, reproducibility."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from bcvlr.cli import main as cli_main
from bcvlr.report.main import build_report
from bcvlr.report.specs import report_files
from bcvlr.results.schema import collect_runs
from bcvlr.results.synthetic import write_curve_runs

REPS = 30


@pytest.fixture(scope="module")
def tree(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("tree")
    runs = root / "runs"
    # a coarse evaluation grid keeps the fixture's fsyncs (one per evaluation) few
    every = {"every": 10_000}
    for task, final in (("reacher_hard", 900.0), ("finger_spin", 940.0)):
        write_curve_runs(runs, "bcvlr", task, range(2), final, **every)
        write_curve_runs(runs, "laifo", task, range(2), final / 5, **every)
    write_curve_runs(runs, "bcvlr_wo_la", "reacher_hard", range(2), 500.0, **every)
    write_curve_runs(runs, "bcvlr_alpha0.5", "bigfish", range(2), 20.0)
    write_curve_runs(runs, "bcvlr", "bigfish", range(2), 35.0)
    write_curve_runs(runs, "ppo", "bigfish", range(2), 1.0)
    write_curve_runs(runs, "bco", "bigfish", [0], 1e6, status="failed")
    write_curve_runs(runs, "bco", "reacher_hard", [0], 1e6, status="running", **every)
    long = root / "runs-500k"
    write_curve_runs(long, "bcvlr", "walker_walk", range(2), 600.0, budget=500_000, every=50_000)
    return root


def test_report_writes_everything_it_lists(tree: Path, tmp_path: Path) -> None:
    runs = collect_runs([tree / "runs", tree / "runs-500k"])
    out = tmp_path / "report"
    res = build_report(runs, out, expected_seeds=2, reps=REPS, rng_seed=0)
    manifest = json.loads((out / "manifest.json").read_text())
    listed = {out / f for f in manifest["files"]}
    assert all(p.exists() for p in listed)
    assert {Path(f) for f in report_files(str(out))} <= listed
    pngs = sorted(p.name for p in (out / "figures").glob("*.png"))
    # drawn: data exists; skipped: never drawn, always explained
    for name in ("fig1_headline", "fig3_dmc_ilv_curves", "fig4_ablations", "fig6_alpha_sweep",
                 "fig8_bcvlr_vs_laifo_100k", "fig9_bcvlr_vs_laifo_500k",
                 "rliable_dmc_aggregates", "rliable_dmc_sample_efficiency"):  # fmt: skip
        assert f"{name}.png" in pngs
    skipped = manifest["skipped_figures"]
    for name in ("fig5_video_data", "fig7_beta_sweep", "rliable_metaworld_aggregates"):
        assert name in skipped and skipped[name] and f"{name}.png" not in pngs
    assert "bcvlr_videos*" in skipped["fig5_video_data"]
    readme = (out / "README.md").read_text()
    for p in listed:
        if p.parent.name in ("tables", "figures") and p.suffix in (".md", ".png"):
            assert f"({p.parent.name}/{p.name})" in readme, p
    assert "*skipped: no complete runs of bcvlr_beta*" in readme
    # incomplete runs: reported, not averaged in
    assert "bco/bigfish/seed0: failed" in readme and "bco/reacher_hard/seed0: running" in readme
    assert len(res.excluded_runs) == 2
    assert "of the runs are synthetic" in readme and manifest["synthetic_runs"] == 18
    t1 = pd.read_csv(out / "tables" / "table1.csv")
    bco = t1[(t1.row == "bigfish") & (t1.method == "bco")].iloc[0]
    assert pd.isna(bco["mean"]) and bco["missing_seeds"] == 2
    # paper slips are listed in the index
    assert "Table 2, Mean / LAIFO" in readme
    # rliable on DMC covers the two tasks with runs, and says so
    agg = pd.read_csv(out / "stats" / "dmc_aggregates.csv")
    assert set(agg.method) == {"bcvlr", "laifo"} and set(agg.tasks) == {2}
    assert "dmc: 2 of 8 tasks have runs" in (out / "stats" / "notes.txt").read_text()


def test_report_is_reproducible(tree: Path, tmp_path: Path) -> None:
    runs = collect_runs(tree / "runs")
    for out in ("a", "b"):
        build_report(runs, tmp_path / out, expected_seeds=2, reps=REPS, rng_seed=3, figures=False)
    for name in ("dmc_aggregates.csv", "dmc_profiles.csv", "dmc_poi.csv",
                 "dmc_sample_efficiency.csv", "procgen_aggregates.csv"):  # fmt: skip
        a = (tmp_path / "a" / "stats" / name).read_text()
        assert a == (tmp_path / "b" / "stats" / name).read_text(), name
    for n in range(1, 11):
        for ext in ("md", "tex", "csv"):
            a = (tmp_path / "a" / "tables" / f"table{n}.{ext}").read_text()
            assert a == (tmp_path / "b" / "tables" / f"table{n}.{ext}").read_text()


def test_report_cli(tree: Path, tmp_path: Path, capsys) -> None:
    out = tmp_path / "cli"
    args = ["report", "--runs", str(tree / "runs"), "--out", str(out), "--seeds", "2",
            "--reps", str(REPS), "--no-figures"]  # fmt: skip
    assert cli_main(args) == 0
    printed = capsys.readouterr().out
    assert "not averaged in: bco/bigfish/seed0: failed" in printed
    assert (out / "README.md").exists() and (out / "tables" / "table10.tex").exists()
    bad = tree / "runs" / "bcvlr" / "bigfish" / "seed1" / "run.json"
    good = bad.read_text()
    try:
        bad.write_text("{}")
        assert cli_main(args) == 2
        assert "fail the schema check" in capsys.readouterr().err
        assert cli_main([*args, "--skip-invalid"]) == 0
    finally:
        bad.write_text(good)


def test_every_method_with_runs_is_in_the_runs_table(tree: Path, tmp_path: Path) -> None:
    """A method no paper table has a column for (here bcvlr_alpha0.5, a sweep) still shows,
    at the end of its budget, with its seed count; incomplete runs do not."""
    out = tmp_path / "report"
    build_report(collect_runs(tree / "runs"), out, expected_seeds=2, reps=REPS, figures=False)
    table = pd.read_csv(out / "tables" / "runs.csv")
    got = {(r.task, r.method): (r.seeds, r.label) for r in table.itertuples()}
    assert got[("bigfish", "bcvlr_alpha0.5")] == (2, "bcvlr_alpha0.5")
    assert got[("reacher_hard", "bcvlr")] == (2, "BCV-LR")
    assert ("bigfish", "bco") not in got and ("reacher_hard", "bco") not in got
    # the registry's order within a task: BCV-LR before LAIFO, variants after
    reacher = list(table[table.task == "reacher_hard"].method)
    assert reacher == ["bcvlr", "laifo", "bcvlr_wo_la"]
    final = table[(table.task == "finger_spin") & (table.method == "bcvlr")].iloc[0]
    assert final["mean"] == pytest.approx(940.0, rel=0.05)
    assert "| finger_spin | BCV-LR | 100,000 | 2 |" in (out / "tables" / "runs.md").read_text()
