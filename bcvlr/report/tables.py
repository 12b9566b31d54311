"""Tables 1-10 in the paper's layout: our mean ± std over seeds beside the paper's numbers.

Cells are computed first (``build_table``, pure data), then rendered to Markdown, LaTeX and CSV.
Rules: a cell without runs is missing ("—" and the number of missing seeds), never zero; a
summary row (Mean, Video-norm Mean) is missing unless every task of the table has data; the
best non-expert value of a row is bold; a paper summary value that is not the mean of the
paper's own cells is flagged.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field

import numpy as np
import pandas as pd

from bcvlr.methods import METHODS
from bcvlr.report.specs import EXPERT, ROW_DECIMALS, TableSpec, method_label
from bcvlr.tasks import get_task

DASH = "—"

# (method, task, at) -> [(seed, score, reduced_budget)]
ScoreIndex = Mapping[tuple[str, str, int], Sequence[tuple[int, float, bool]]]


def score_index(points: pd.DataFrame) -> dict[tuple[str, str, int], list[tuple[int, float, bool]]]:
    """Index ``aggregate_frame`` rows at the tasks' own budget (extended runs only feed Fig 9)."""
    out: dict[tuple[str, str, int], list[tuple[int, float, bool]]] = {}
    std = points[~points["extended_budget"].astype(bool)]
    for r in std.itertuples(index=False):
        out.setdefault((r.method, r.task, int(r.at)), []).append(
            (int(r.seed), float(r.score), bool(r.reduced_budget))
        )
    for v in out.values():
        v.sort()
    return out


@dataclass
class Cell:
    table: int
    row: str  # task name or summary key
    row_label: str
    column: str
    method: str
    decimals: int
    is_expert: bool = False
    is_summary: bool = False
    uses_rewards: bool = False
    n: int = 0
    expected: int = 0
    mean: float = math.nan
    std: float = math.nan
    seeds: list[int] = field(default_factory=list)
    reduced_budget: bool = False
    missing_tasks: list[str] = field(default_factory=list)
    paper_mean: float = math.nan
    paper_std: float = math.nan
    paper_decimals: int | None = None
    bold: bool = False
    paper_bold: bool = False
    flag: str = ""

    @property
    def has_value(self) -> bool:
        return not math.isnan(self.mean)

    @property
    def has_paper(self) -> bool:
        return not math.isnan(self.paper_mean)

    @property
    def diff(self) -> float:
        return self.mean - self.paper_mean

    @property
    def missing_seeds(self) -> int:
        return max(self.expected - self.n, 0)


@dataclass
class TableResult:
    spec: TableSpec
    rows: list[list[Cell]]  # task rows then summary rows; columns then the expert column
    notes: list[str] = field(default_factory=list)

    def cells(self) -> list[Cell]:
        return [c for row in self.rows for c in row]

    def cell(self, row: str, column: str) -> Cell:
        return next(c for c in self.cells() if c.row == row and c.column == column)

    def flags(self) -> list[str]:
        return [f"Table {self.spec.number}, {c.row_label} / {c.column}: {c.flag}" for c in
                self.cells() if c.flag]  # fmt: skip


def _round(x: float, d: int) -> float:
    return float(np.round(x, d))


def _summary_from_cells(values: Sequence[float], experts: Sequence[float], key: str) -> float:
    if key == "video_norm_mean":
        # no random-policy baseline: the paper normalises by the expert score alone
        return float(np.mean(np.asarray(values) / np.asarray(experts)))
    return float(np.mean(values))


def _paper_inconsistency(
    printed: float, decimals: int, cells: Sequence[float], experts: Sequence[float], key: str
) -> str:
    """Why a printed summary value disagrees with the paper's own cells, or ''."""
    recomputed = _summary_from_cells(cells, experts, key)
    tol = 0.5 * 10.0**-decimals + 1e-9
    if abs(recomputed - printed) <= tol:
        return ""
    text = (
        f"paper prints {printed:.{decimals}f}, but its {len(cells)} task cells give "
        f"{recomputed:.{decimals}f}"
    )
    if key == "mean":
        total = float(np.sum(cells))
        for k in range(1, 2 * len(cells) + 1):
            if k != len(cells) and abs(total / k - printed) <= tol:
                text += f" (the printed value is their sum divided by {k}, not {len(cells)})"
                break
    return text


def build_table(
    spec: TableSpec,
    scores: ScoreIndex,
    paper: pd.DataFrame | None,
    paper_summary: pd.DataFrame | None,
    expected_seeds: int,
) -> TableResult:
    paper_by = {}
    if paper is not None:
        p = paper[paper["table"] == spec.number]
        paper_by = {(r.task, r.method): r for r in p.itertuples(index=False)}
    rows: list[list[Cell]] = []
    for task in spec.tasks:
        label = task
        d = ROW_DECIMALS.get((spec.number, task), spec.decimals)
        row: list[Cell] = []
        for col in spec.columns:
            method = col.method_for(task)
            cell = Cell(
                spec.number, task, label, col.label, method, d,
                uses_rewards=col.uses_rewards, expected=expected_seeds,
            )  # fmt: skip
            got = scores.get((method, task, spec.at), [])
            if got:
                vals = np.array([s for _, s, _ in got], dtype=float)
                cell.n = len(vals)
                cell.seeds = [seed for seed, _, _ in got]
                cell.mean = float(vals.mean())
                # sample std over seeds (ddof=1); undefined for one seed, shown without ±
                cell.std = float(vals.std(ddof=1)) if len(vals) > 1 else math.nan
                cell.reduced_budget = any(r for _, _, r in got)
            pr = paper_by.get((task, method))
            if pr is not None:
                cell.paper_mean, cell.paper_std = float(pr.mean), float(pr.std)
                cell.paper_decimals = int(pr.decimals)
            row.append(cell)
        expert = get_task(task).expert_score
        ex = Cell(spec.number, task, label, spec.expert_label, EXPERT, d, is_expert=True)
        if expert is not None:
            ex.mean, ex.n, ex.expected = float(expert), 1, 1
        pr = paper_by.get((task, EXPERT))
        if pr is not None:
            ex.paper_mean, ex.paper_decimals = float(pr.mean), int(pr.decimals)
        row.append(ex)
        rows.append(row)

    task_rows = list(rows)
    for key, label in spec.summary_rows:
        d = spec.summary_decimals(key)
        row = []
        for j, col_label in enumerate([c.label for c in spec.columns] + [spec.expert_label]):
            task_cells = [r[j] for r in task_rows]
            first = task_cells[0]
            cell = Cell(
                spec.number, key, label, col_label, first.method, d, is_expert=first.is_expert,
                is_summary=True, uses_rewards=first.uses_rewards,
            )  # fmt: skip
            experts = [get_task(c.row).expert_score for c in task_cells]
            cell.missing_tasks = [c.row for c in task_cells if not c.has_value]
            if not cell.missing_tasks and all(e for e in experts):
                cell.mean = _summary_from_cells([c.mean for c in task_cells], experts, key)
                cell.n = min(c.n for c in task_cells)
                cell.reduced_budget = any(c.reduced_budget for c in task_cells)
            if paper_summary is not None:
                ps = paper_summary[
                    (paper_summary["table"] == spec.number)
                    & (paper_summary["row"] == key)
                    & (paper_summary["column"] == col_label)
                ]
                if len(ps):
                    cell.paper_mean = float(ps["value"].iloc[0])
                    cell.paper_decimals = int(ps["decimals"].iloc[0])
                    paper_cells = [c.paper_mean for c in task_cells]
                    if all(not math.isnan(v) for v in paper_cells):
                        cell.flag = _paper_inconsistency(
                            cell.paper_mean, cell.paper_decimals, paper_cells, experts, key
                        )
            row.append(cell)
        rows.append(row)

    for row in rows:
        _bold(row)
    result = TableResult(spec, rows)
    result.notes = _notes(result)
    return result


def _bold(row: list[Cell]) -> None:
    """Bold the highest non-expert value, ours and the paper's separately; ties at the printed
    precision are all bold, as in the paper."""
    cands = [c for c in row if not c.is_expert]
    ours = [c for c in cands if c.has_value]
    if ours:
        best = max(_round(c.mean, c.decimals) for c in ours)
        for c in ours:
            c.bold = _round(c.mean, c.decimals) == best
    theirs = [c for c in cands if c.has_paper]
    if theirs:
        best = max(_round(c.paper_mean, c.paper_decimals or 0) for c in theirs)
        for c in theirs:
            c.paper_bold = _round(c.paper_mean, c.paper_decimals or 0) == best


def _notes(result: TableResult) -> list[str]:
    notes = []
    cells = [c for c in result.cells() if not c.is_expert]
    if any(c.reduced_budget for c in cells):
        notes.append(
            "‡ from reduced-budget (mini) runs, read at the same fraction of their budget: "
            "not comparable with the paper."
        )
    if any(c.uses_rewards for c in cells):
        notes.append("† uses the environment's rewards (underlined in the paper).")
    return notes


# -- rendering ---------------------------------------------------------------------------------
def _num(x: float, d: int) -> str:
    s = f"{x:.{d}f}"
    # "-0.0" reads as a sign where there is none
    return s[1:] if s.startswith("-") and float(s) == 0 else s


def _ours_text(c: Cell, pm: str) -> str:
    if not c.has_value:
        if c.is_summary:
            return f"{DASH} ({len(c.missing_tasks)} task(s) missing)"
        return f"{DASH} ({c.missing_seeds} seed(s) missing)" if c.expected else DASH
    s = _num(c.mean, c.decimals)
    if not c.is_summary and not c.is_expert and not math.isnan(c.std):
        s += f" {pm} {_num(c.std, c.decimals)}"
    return s


def _seed_note(c: Cell) -> str:
    if c.is_expert or c.is_summary or not c.has_value or c.n == c.expected:
        return ""
    return f" ({c.n}/{c.expected} seeds)"


def _paper_text(c: Cell, pm: str) -> str:
    d = c.paper_decimals if c.paper_decimals is not None else c.decimals
    s = _num(c.paper_mean, d)
    if not c.is_expert and not c.is_summary and not math.isnan(c.paper_std):
        s += f" {pm} {_num(c.paper_std, d)}"
    return s


def _diff_text(c: Cell) -> str:
    d = c.paper_decimals if c.paper_decimals is not None else c.decimals
    s = f"{c.diff:+.{d}f}"
    # a difference that rounds to zero has no sign
    return s[1:] if float(s) == 0 else s


def _header(spec: TableSpec) -> list[str]:
    return [spec.row_header] + [c.label for c in spec.columns] + [spec.expert_label]


def to_markdown(result: TableResult) -> str:
    spec = result.spec
    flags: list[str] = []
    head = [spec.row_header]
    for col in spec.columns:
        head.append(col.label + (" †" if col.uses_rewards else ""))
    head.append(f"*{spec.expert_label}*")
    lines = [
        f"## Table {spec.number}",
        "",
        spec.caption + f" Ours: mean ± std over seeds at {spec.at:,}; paper below each cell.",
        "",
        "| " + " | ".join(head) + " |",
        "|" + "|".join(["---"] + [":---:"] * (len(head) - 1)) + "|",
    ]
    for row in result.rows:
        label = row[0].row_label
        out = [f"**{label}**" if row[0].is_summary else label]
        for c in row:
            ours = _ours_text(c, "±")
            if c.bold:
                ours = f"**{ours}**"
            ours += _seed_note(c) + (" ‡" if c.reduced_budget else "")
            if c.has_paper and not (c.is_expert and c.has_value and c.mean == c.paper_mean):
                paper = _paper_text(c, "±")
                if c.paper_bold:
                    paper = f"**{paper}**"
                delta = f", Δ {_diff_text(c)}" if c.has_value else ""
                ours += f"<br><sub>paper {paper}{delta}</sub>"
            if c.flag:
                flags.append(c.flag)
                ours += f" ⚠{len(flags)}"
            out.append(ours)
        lines.append("| " + " | ".join(out) + " |")
    lines.append("")
    for note in result.notes:
        lines.append(f"{note}  ")
    for i, f in enumerate(flags, 1):
        lines.append(f"⚠{i} Paper inconsistency: {f}.  ")
    return "\n".join(lines).rstrip() + "\n"


def _tex_escape(s: str) -> str:
    for a, b in (("\\", r"\textbackslash{}"), ("_", r"\_"), ("&", r"\&"), ("%", r"\%"),
                 ("#", r"\#"), ("->", r"$\rightarrow$"), ("—", "---"), ("‡", r"$^\ddagger$"),
                 ("±", r"$\pm$"), ("†", r"$^\dagger$")):  # fmt: skip
        s = s.replace(a, b)
    return s


def to_latex(result: TableResult) -> str:
    spec = result.spec
    pm = r"$\pm$"
    head = [_tex_escape(spec.row_header)]
    for col in spec.columns:
        lab = _tex_escape(col.label)
        head.append(rf"\underline{{{lab}}}" if col.uses_rewards else lab)
    head.append(rf"\textit{{{_tex_escape(spec.expert_label)}}}")
    lines = [
        "% Generated by `bcvlr report`; needs no package beyond standard LaTeX (\\shortstack).",
        r"\begin{table}[t]",
        r"\centering\small",
        rf"\caption{{{_tex_escape(spec.caption)} Ours: mean {pm} std over seeds; paper's "
        r"value below each cell.}",
        rf"\label{{tab:bcvlr-{spec.number}}}",
        r"\begin{tabular}{l" + "c" * (len(head) - 1) + "}",
        r"\hline",
        " & ".join(head) + r" \\",
        r"\hline",
    ]
    flags: list[str] = []
    first_summary = next((i for i, r in enumerate(result.rows) if r[0].is_summary), None)
    for i, row in enumerate(result.rows):
        if i == first_summary:
            lines.append(r"\hline")
        out = [_tex_escape(row[0].row_label)]
        for c in row:
            ours = _tex_escape(_ours_text(c, "±") + _seed_note(c))
            if c.bold:
                ours = rf"\textbf{{{ours}}}"
            if c.reduced_budget:
                ours += r"$^\ddagger$"
            if c.flag:
                flags.append(c.flag)
                ours += rf"$^{{({len(flags)})}}$"
            if c.has_paper and not (c.is_expert and c.has_value and c.mean == c.paper_mean):
                paper = _tex_escape(_paper_text(c, "±"))
                if c.paper_bold:
                    paper = rf"\textbf{{{paper}}}"
                delta = rf" ($\Delta$ {_diff_text(c)})" if c.has_value else ""
                ours = rf"\shortstack{{{ours}\\ \scriptsize paper {paper}{delta}}}"
            out.append(ours)
        lines.append(" & ".join(out) + r" \\")
    lines += [r"\hline", r"\end{tabular}"]
    notes = [_tex_escape(n) for n in result.notes]
    notes += [f"({i}) Paper inconsistency: {_tex_escape(f)}." for i, f in enumerate(flags, 1)]
    if notes:
        lines.append(r"\par\footnotesize " + r" \\ ".join(notes))
    lines.append(r"\end{table}")
    return "\n".join(lines) + "\n"


CSV_COLUMNS = [
    "table", "row", "row_label", "column", "method", "is_expert", "is_summary", "uses_rewards",
    "at", "n_seeds", "expected_seeds", "missing_seeds", "missing_tasks", "mean", "std", "bold",
    "reduced_budget", "paper_mean", "paper_std", "diff", "paper_bold", "flag", "seeds",
]  # fmt: skip


def to_frame(result: TableResult) -> pd.DataFrame:
    recs = []
    for c in result.cells():
        d = asdict(c)
        recs.append(
            {
                **{k: d[k] for k in ("table", "row", "row_label", "column", "method", "is_expert",
                                     "is_summary", "uses_rewards", "mean", "std", "bold",
                                     "reduced_budget", "paper_mean", "paper_std", "paper_bold",
                                     "flag")},
                "at": result.spec.at, "n_seeds": c.n, "expected_seeds": c.expected,
                "missing_seeds": c.missing_seeds if not c.is_summary else math.nan,
                "missing_tasks": " ".join(c.missing_tasks),
                "diff": c.diff if c.has_value and c.has_paper else math.nan,
                "seeds": " ".join(map(str, c.seeds)),
            }
        )  # fmt: skip
    return pd.DataFrame(recs, columns=CSV_COLUMNS)


# -- every method with runs, whether or not a paper table has its column ----------------------
RUNS_COLUMNS = ["task", "method", "label", "budget", "seeds", "mean", "std"]


def runs_table(points: pd.DataFrame) -> pd.DataFrame:
    """Per task and method: the score at the end of the runs' budget (the task's, or a reduced
    one), mean and sample std over seeds; methods in bcvlr/methods.py's order, then by name."""
    end = points[(points["at"] == points["task"].map(lambda t: get_task(t).budget))
                 & ~points["extended_budget"]]  # fmt: skip
    rows = []
    for (task, method, budget), group in end.groupby(["task", "method", "budget"]):
        scores = group["score"].to_numpy(float)
        std = float(np.std(scores, ddof=1)) if len(scores) > 1 else math.nan
        rows.append([task, method, method_label(method), int(budget), len(scores),
                     float(scores.mean()), std])  # fmt: skip
    order = {m: i for i, m in enumerate(METHODS)}
    table = pd.DataFrame(rows, columns=RUNS_COLUMNS)
    key = table["method"].map(lambda m: (order.get(m, len(order)), m))
    return table.assign(_key=key).sort_values(["task", "_key"]).drop(columns="_key")


def runs_markdown(table: pd.DataFrame) -> str:
    lines = [
        "# Every method's runs",
        "",
        "The evaluation return at the end of each run's budget (environment frames, or steps on "
        "Procgen): mean ± sample std over seeds. Every method with complete runs is here, "
        "whether or not one of the paper's tables has its column.",
        "",
        "| Task | Method | Budget | Seeds | Return |",
        "| --- | --- | ---: | ---: | ---: |",
    ]
    for r in table.itertuples():
        spread = "" if math.isnan(r.std) else f" ± {r.std:.2f}"
        lines.append(f"| {r.task} | {r.label} | {r.budget:,} | {r.seeds} | {r.mean:.2f}{spread} |")
    if table.empty:
        lines.append("| — | no complete runs | | | |")
    return "\n".join(lines) + "\n"
