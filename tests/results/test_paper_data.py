"""results/paper/*.csv against the paper text itself, and against the task registry."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from bcvlr.results.paper import paper_cells, paper_summary
from bcvlr.tasks import TASKS

REPO_ROOT = Path(__file__).resolve().parents[2]
PAPER = REPO_ROOT.parent / "shared/paper/bcv-lr-paper.txt"
_NUM = re.compile(r"^-?\d+(\.\d+)?$")


def _paper_lines() -> list[str]:
    if not PAPER.exists():
        pytest.skip(f"paper text not found at {PAPER} (it lives outside the repository)")
    return PAPER.read_text(encoding="utf-8").splitlines()


def _cells_of(line: str) -> tuple[str, list[tuple[str, str]]]:
    """Split a printed row into its label and (mean, std) strings; token-based on purpose, so
    that it does not share the transcription's regular expression."""
    tokens = line.replace("±", " ± ").split()
    i = 0
    while i < len(tokens) and not _NUM.match(tokens[i]):
        i += 1
    label, rest = " ".join(tokens[:i]), tokens[i:]
    cells: list[tuple[str, str]] = []
    j = 0
    while j < len(rest):
        if j + 2 < len(rest) and rest[j + 1] == "±":
            cells.append((rest[j], rest[j + 2]))
            j += 3
        else:
            cells.append((rest[j], ""))
            j += 1
    return label, cells


def _row(lines: list[str], table: int, label: str) -> list[tuple[str, str]]:
    start = next(i for i, ln in enumerate(lines) if ln.strip().startswith(f"Table {table}:"))
    for ln in lines[start + 1 : start + 40]:
        got, cells = _cells_of(ln)
        if got == label and cells:
            return cells
    raise AssertionError(f"row {label!r} of Table {table} not found in {PAPER}")


def _fmt(x: float, decimals: int) -> str:
    return f"{x:.{decimals}f}"


def test_every_cell_matches_the_paper_text() -> None:
    lines = _paper_lines()
    df = paper_cells()
    checked = 0
    for (table, label), group in df.groupby(["table", "paper_task"], sort=False):
        printed = _row(lines, int(table), str(label))
        assert len(printed) == len(group), (table, label)
        for (_, cell), (mean, std) in zip(group.iterrows(), printed, strict=True):
            d = int(cell["decimals"])
            assert _fmt(cell["mean"], d) == mean, (table, label, cell["method"])
            if cell["is_expert"]:
                assert std == ""
            else:
                assert _fmt(cell["std"], d) == std, (table, label, cell["method"])
            checked += 1
    assert checked == 376 >= 15
    assert set(df["table"]) == set(range(1, 11))


@pytest.mark.parametrize(
    ("table", "label", "method", "mean", "std"),
    [  # a hand-picked sample, read off the paper by eye
        (1, "Bigfish", "laifo", 0.8, 0.0),
        (1, "Fruitbot", "ilpo", -2.0, 0.7),
        (1, "Starpilot", "bco", 12.8, 13.9),
        (1, "Bossfight", "bcvlr", 10.3, 0.3),
        (2, "ball_in_up_catch", "bco", 404, 363),
        (2, "cheetah_run_backward", "drqv2", 332, 12),
        (3, "Starpilot", "bcvlr_m", 44.3, 1.9),
        (4, "point_mass_easy", "drqv2", 107, 143),
        (5, "reacher_easy", "bcvlr", 569, 206),
        (6, "Faucet-close", "drqv2", 0.50, 0.28),
        (7, "Fruitbot", "lapo_bc", 6.2, 1.9),
        (8, "reacher_hard", "bcvlr_ft_la", 876, 15),
        (9, "finger_spin", "bcvlr_1000to2", 956, 20),
        (10, "Fruitbot", "ppo", -1.9, 1.0),
        (10, "reacher_hard", "drqv2", 92, 98),
        (10, "finger_spin", "bcvlr_offline", 978, 7),
    ],
)
def test_sample_cells(table: int, label: str, method: str, mean: float, std: float) -> None:
    lines = _paper_lines()
    df = paper_cells()
    cell = df[(df.table == table) & (df.paper_task == label) & (df.method == method)]
    assert len(cell) == 1
    cell = cell.iloc[0]
    assert (cell["mean"], cell["std"]) == (mean, std)
    cols = list(df[(df.table == table) & (df.paper_task == label)]["method"])
    d = int(cell["decimals"])
    assert _row(lines, table, label)[cols.index(method)] == (_fmt(mean, d), _fmt(std, d))


def test_summary_rows_match_the_paper_text() -> None:
    lines = _paper_lines()
    s = paper_summary()
    labels = {1: ["Mean", "Video-norm Mean"], 2: ["Mean", "Video-norm Mean"]}
    labels[6] = ["Mean Success Rate"]
    for table, names in labels.items():
        for name in names:
            printed = [m for m, _ in _row(lines, table, name)]
            got = s[(s.table == table) & (s.paper_row == name)]
            assert [_fmt(v, int(d)) for v, d in zip(got.value, got.decimals, strict=True)] == (
                printed
            )


def test_names_and_experts_follow_the_registry() -> None:
    df = paper_cells()
    assert set(df["task"]) <= set(TASKS)
    assert "ball_in_cup_catch" in set(df["task"]) and "ball_in_up_catch" not in set(df["task"])
    for _, cell in df[df["is_expert"]].iterrows():
        assert cell["mean"] == TASKS[cell["task"]].expert_score, cell["task"]
    for _, cell in df.iterrows():
        task = TASKS[cell["task"]]
        assert cell["budget_unit"] == task.budget_unit
        assert cell["step"] in task.eval.report_at
        assert cell["table"] in task.paper_tables, (cell["table"], task.name)
    rewards = set(df[df["uses_rewards"]]["method"])
    assert rewards == {"lapo", "ppo", "taco", "drqv2"}


def test_summary_consistency_flags_are_exactly_the_known_slips() -> None:
    df, s = paper_cells(), paper_summary()
    experts = df[df["is_expert"]].set_index(["table", "task"])["mean"]
    flagged = []
    for _, r in s.iterrows():
        cells = df[(df.table == r.table) & (df.method == r.method)]
        if r.row == "mean":
            value = cells["mean"].mean()
        else:
            norm = cells["mean"].to_numpy() / experts.loc[r.table].loc[cells.task].to_numpy()
            value = norm.mean()
        agrees = abs(value - r.value) <= 0.5 * 10.0 ** -int(r.decimals) + 1e-9
        assert agrees == r.consistent, (r.table, r.row, r.method, value)
        if not agrees:
            flagged.append((r.table, r.method, round(cells["mean"].sum() / 6)))
    assert flagged == [(2, "laifo", 158), (2, "bco", 336)]
