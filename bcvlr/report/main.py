"""`bcvlr report`: Tables 1-10, rliable statistics and Figures 1 and 3-9 from the run directories.

Output layout (under ``--out``, default results/report)::

    README.md                  index linking everything below, plus excluded runs and flags
    manifest.json              every produced file, skipped figures with reasons (for Snakemake)
    tables/table{N}.{md,tex,csv}
    tables/runs.{md,csv}       every method's runs at the end of their budget
    stats/{suite}_{aggregates,profiles,poi,sample_efficiency}.csv, stats/notes.txt
    figures/*.png (+ .pdf with pdf=True)
"""

from __future__ import annotations

import argparse
import json
import logging
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from bcvlr.atomic import atomic_write_text
from bcvlr.report import stats
from bcvlr.report.specs import FIGURE_SPECS, RUNS_TABLE, SUITE_TABLES, TABLE_SPECS, TableSpec
from bcvlr.report.tables import (
    TableResult,
    build_table,
    runs_markdown,
    runs_table,
    score_index,
    to_frame,
    to_latex,
    to_markdown,
)
from bcvlr.results.aggregate import aggregate_frame, runs_roots, score_at
from bcvlr.results.paper import paper_cells, paper_summary
from bcvlr.results.schema import Run, RunCollection, collect_runs
from bcvlr.tasks import get_task

log = logging.getLogger(__name__)


@dataclass
class ReportResult:
    out: Path
    tables: dict[int, TableResult] = field(default_factory=dict)
    files: list[Path] = field(default_factory=list)
    skipped_figures: dict[str, str] = field(default_factory=dict)
    excluded_runs: list[str] = field(default_factory=list)
    stats_notes: list[str] = field(default_factory=list)
    synthetic_runs: int = 0
    aggregates: pd.DataFrame | None = None

    @property
    def flags(self) -> list[str]:
        return [f for t in self.tables.values() for f in t.flags()]


def _write(path: Path, text: str, result: ReportResult) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(path, text)
    result.files.append(path)


def _write_csv(path: Path, df: pd.DataFrame, result: ReportResult) -> None:
    _write(path, df.to_csv(index=False, float_format="%.6g"), result)


def _curve_array(
    runs_by: dict[tuple[str, str], list[Run]], ss: stats.SuiteScores, points: list[int]
) -> tuple[dict[str, np.ndarray], list[int], list[str]]:
    """(runs, tasks, points) normalised score arrays for the sample-efficiency curves, over the
    points every selected run reaches."""
    arrays: dict[str, np.ndarray] = {}
    notes: list[str] = []
    for m, mat in ss.scores.items():
        k = mat.shape[0]
        arr = np.full((k, len(ss.tasks), len(points)), np.nan)
        for j, task in enumerate(ss.tasks):
            expert = get_task(task).expert_score
            for i, run in enumerate(runs_by.get((m, task), [])[:k]):
                for p, at in enumerate(points):
                    hit = score_at(run, at)
                    if hit is not None:
                        arr[i, j, p] = hit[0] / expert
        arrays[m] = arr
    keep = [p for p in range(len(points)) if all(not np.isnan(a[..., p]).any()
                                                   for a in arrays.values())]  # fmt: skip
    if arrays and len(keep) < len(points):
        lost = [points[p] for p in range(len(points)) if p not in keep]
        notes.append(f"{ss.suite}: sample-efficiency points without data for every run: {lost}")
    return {m: a[..., keep] for m, a in arrays.items()}, [points[p] for p in keep], notes


def build_report(
    runs: RunCollection,
    out: str | os.PathLike,
    *,
    expected_seeds: int = 3,
    reps: int = 2000,
    rng_seed: int = 0,
    figures: bool = True,
    pdf: bool = False,
    paper_dir: str | os.PathLike | None = None,
) -> ReportResult:
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    result = ReportResult(out)
    result.excluded_runs = runs.excluded_lines()
    result.synthetic_runs = sum(
        bool(r.info.get("labels", {}).get("synthetic")) for r in runs.complete
    )
    points = aggregate_frame(runs)
    index = score_index(points)
    try:
        paper, summary = paper_cells(paper_dir), paper_summary(paper_dir)
    except FileNotFoundError as e:
        log.warning("paper reference data not found (%s): tables show ours only", e)
        paper = summary = None

    for spec in TABLE_SPECS:
        t = build_table(spec, index, paper, summary, expected_seeds)
        result.tables[spec.number] = t
        _write(out / "tables" / f"{spec.name}.md", to_markdown(t), result)
        _write(out / "tables" / f"{spec.name}.tex", to_latex(t), result)
        _write_csv(out / "tables" / f"{spec.name}.csv", to_frame(t), result)

    every_run = runs_table(points)
    _write(out / "tables" / f"{RUNS_TABLE}.md", runs_markdown(every_run), result)
    _write_csv(out / "tables" / f"{RUNS_TABLE}.csv", every_run, result)

    # rliable, one suite at a time, on the suite's main table
    runs_by: dict[tuple[str, str], list[Run]] = {}
    for r in sorted(runs.complete, key=lambda r: r.seed):
        if r.budget <= get_task(r.task).budget:
            runs_by.setdefault((r.method, r.task), []).append(r)
    aggs, profs, pois, effs = [], [], [], []
    suite_notes: dict[str, str] = {}
    for suite in SUITE_TABLES:
        ss = stats.build_suite_scores(index, suite)
        result.stats_notes += ss.notes
        if not ss.scores:
            result.stats_notes.append(f"{suite}: no method has runs on every covered task")
            continue
        if len(ss.tasks) < len(ss.all_tasks):
            suite_notes[suite] = f" of {len(ss.all_tasks)}"
        aggs.append(stats.aggregate_estimates(ss, reps=reps, seed=rng_seed))
        profs.append(stats.performance_profiles(ss, reps=reps, seed=rng_seed))
        pois.append(stats.probability_of_improvement(ss, reps=reps, seed=rng_seed))
        arrays, pts, notes = _curve_array(runs_by, ss, stats.curve_points(suite))
        result.stats_notes += notes
        if pts:
            effs.append(stats.sample_efficiency(arrays, pts, suite, reps=reps, seed=rng_seed))
    agg = pd.concat(aggs) if aggs else stats.aggregate_estimates(_empty(), reps=1, seed=0)
    prof = pd.concat(profs) if profs else pd.DataFrame(columns=["suite"])
    poi = pd.concat(pois) if pois else pd.DataFrame(columns=["suite"])
    eff = pd.concat(effs) if effs else pd.DataFrame(columns=["suite", "at"])
    result.aggregates = agg
    for suite in sorted(set(agg["suite"])):
        for name, df in (("aggregates", agg), ("profiles", prof), ("poi", poi),
                         ("sample_efficiency", eff)):  # fmt: skip
            _write_csv(out / "stats" / f"{suite}_{name}.csv", df[df["suite"] == suite], result)
    _write(out / "stats" / "notes.txt", "".join(f"{n}\n" for n in result.stats_notes), result)

    fig_results = []
    if figures:
        from bcvlr.report import figures as F

        fig_dir = out / "figures"
        fig_results.append(F.figure1(agg, fig_dir, pdf, suite_notes))
        for fspec in FIGURE_SPECS:
            fig_results.append(F.curves_figure(fspec, runs.complete, fig_dir, pdf))
        for suite in SUITE_TABLES:
            fig_results += F.rliable_figures(suite, agg, prof, poi, eff, fig_dir, pdf)
        for fr in fig_results:
            result.files += fr.files
            if fr.skipped:
                result.skipped_figures[fr.name] = fr.skipped
    else:
        result.skipped_figures["all figures"] = "--no-figures"

    _write(out / "README.md", _index(result, fig_results, expected_seeds, reps, rng_seed), result)
    manifest = {
        "files": [str(p.relative_to(out)) for p in result.files] + ["manifest.json"],
        "skipped_figures": result.skipped_figures,
        "excluded_runs": result.excluded_runs,
        "paper_flags": result.flags,
        "stats_notes": result.stats_notes,
        "synthetic_runs": result.synthetic_runs,
        "settings": {"expected_seeds": expected_seeds, "reps": reps, "rng_seed": rng_seed},
    }
    _write(out / "manifest.json", json.dumps(manifest, indent=2) + "\n", result)
    return result


def _empty() -> stats.SuiteScores:
    return stats.SuiteScores("none", [], [], {})


def _table_line(spec: TableSpec, t: TableResult) -> str:
    cells = [c for c in t.cells() if not c.is_expert and not c.is_summary]
    have = sum(c.has_value for c in cells)
    return (
        f"- Table {spec.number}: {spec.caption} "
        f"[md](tables/{spec.name}.md) · [tex](tables/{spec.name}.tex) · "
        f"[csv](tables/{spec.name}.csv) — {have}/{len(cells)} cells with runs"
    )


def _index(result: ReportResult, figs: list, expected_seeds: int, reps: int, rng_seed: int) -> str:
    lines = [
        "# BCV-LR benchmark report",
        "",
        "Generated by `bcvlr report`. Our numbers are mean ± sample std over complete runs; the "
        f"paper's are printed below each cell with the difference (Δ = ours − paper). Cells "
        f"expect {expected_seeds} seed(s); missing data shows as “—” with the number of missing "
        f"seeds. Statistics: rliable stratified bootstrap, {reps} replications, seed {rng_seed}.",
        "",
        "## Tables",
        "",
    ]
    if result.synthetic_runs:
        lines[4:4] = [
            f"**{result.synthetic_runs} of the runs are synthetic** (labels.synthetic in run.json):"
            " these numbers are not measurements.",
            "",
        ]
    for spec in TABLE_SPECS:
        lines.append(_table_line(spec, result.tables[spec.number]))
    lines.append(f"- Every method's runs at the end of their budget, with or without a paper "
                 f"column: [{RUNS_TABLE}.md](tables/{RUNS_TABLE}.md)")  # fmt: skip
    lines += ["", "## Statistics (rliable, video-normalised scores)", ""]
    stats_files = sorted(p for p in result.files if p.parent.name == "stats")
    lines += [f"- [{p.name}](stats/{p.name})" for p in stats_files] or ["- none"]
    lines += ["", "## Figures", ""]
    for fr in figs:
        png = [p for p in fr.files if p.suffix == ".png"]
        if png:
            lines.append(
                f"- Figure {fr.number}: {fr.title} — [{png[0].name}](figures/{png[0].name})"
            )
        else:
            lines.append(f"- Figure {fr.number}: {fr.title} — *skipped: {fr.skipped}*")
    if not figs:
        lines.append("- figures not drawn (--no-figures)")
    lines += ["", "## Paper inconsistencies flagged", ""]
    lines += [f"- {f}" for f in result.flags] or ["- none"]
    lines += ["", "## Runs not averaged in", ""]
    lines += [f"- {x}" for x in result.excluded_runs] or ["- none"]
    if result.stats_notes:
        lines += ["", "## Statistics notes", ""] + [f"- {n}" for n in result.stats_notes]
    return "\n".join(lines) + "\n"


def main(args: argparse.Namespace) -> None:
    from bcvlr.errors import CliError

    # rliable logs every estimate at INFO; only our own messages (skipped figures) are wanted
    logging.basicConfig(level=logging.WARNING, format="%(message)s")
    logging.getLogger("bcvlr").setLevel(logging.INFO)
    roots = runs_roots(args)
    runs = collect_runs(roots)
    for line in runs.excluded_lines():
        print(f"not averaged in: {line}")
    if runs.invalid and not args.skip_invalid:
        raise CliError(
            f"{len(runs.invalid)} run directory(ies) fail the schema check (listed above); "
            "fix or remove them, or pass --skip-invalid"
        )
    res = build_report(
        runs, args.out, expected_seeds=args.seeds, reps=args.reps, rng_seed=args.rng_seed,
        figures=not args.no_figures,
    )  # fmt: skip
    print(
        f"report: {len(runs.complete)} complete run(s), {len(res.files)} file(s) -> "
        f"{res.out / 'README.md'}"
    )
