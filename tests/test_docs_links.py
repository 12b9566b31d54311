"""Every run file the docs cite is committed: a path under docs/runs/ named in README.md or
docs/*.md exists (brace lists such as {a,b}.txt expanded), and every measurement in
docs/baselines.md sits in a block that cites its run files."""

from __future__ import annotations

import itertools
import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
CITED = re.compile(r"docs/runs/[A-Za-z0-9_./{},*-]+")


def _expand(path: str) -> list[str]:
    parts = re.split(r"\{([^}]*)\}", path)
    choices = [[p] if i % 2 == 0 else p.split(",") for i, p in enumerate(parts)]
    return ["".join(c) for c in itertools.product(*choices)]


def cited_paths() -> set[str]:
    found: set[str] = set()
    for doc in [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]:
        for match in CITED.findall(doc.read_text()):
            found.update(_expand(match.rstrip(".,")))
    return found


def test_brace_lists_expand():
    assert _expand("docs/runs/x/{a,b}.txt") == ["docs/runs/x/a.txt", "docs/runs/x/b.txt"]


def test_every_cited_run_file_is_committed():
    missing = sorted(p for p in cited_paths() if "*" not in p and not (REPO / p).exists())
    assert not missing, f"cited in docs but not in the repository: {missing}"


def glance_rows(text: str) -> list[list[str]]:
    """The rows of docs/baselines.md's at-a-glance table, as lists of cells."""
    start = text.index("| method | task, budget | result vs random | run files |")
    table = text[start : text.index("\n\n", start)].split("\n")[2:]
    return [[c.strip() for c in row.strip().strip("|").split("|")] for row in table]


def without_run_files(rows: list[list[str]]) -> list[str]:
    """The methods of rows whose last cell cites no run folder under docs/runs/."""
    return [r[0] for r in rows if not CITED.search(r[-1])]


def test_every_result_at_a_glance_names_its_run_files():
    rows = glance_rows((REPO / "docs" / "baselines.md").read_text())
    assert len(rows) > 5
    assert without_run_files(rows) == []


def test_a_glance_row_without_its_run_files_is_caught():
    text = (
        "| method | task, budget | result vs random | run files |\n| --- | --- | --- | --- |\n"
        "| X | t | 1.0 vs 0.5 | `docs/runs/x/` |\n| Y | t | 2.0 vs 0.5 | |\n"
        "| Z | t | 3.0 vs 0.5 | not kept |\n\nmore text"
    )
    assert without_run_files(glance_rows(text)) == ["Y", "Z"]


MEASUREMENT = re.compile(r"±|\bp = \d|\bp < \d")
# A block runs from a heading or a paragraph with a bold or italic lead to the next one.
BLOCK_START = re.compile(r"\n\n(?=#{1,3} |\*\*|\*[A-Z])")


def uncited_measurements(text: str) -> list[str]:
    """The first line of each block that reports a measurement (a ± or a p-value) but cites no
    run files under docs/runs/; a method's "Source." block quotes its paper, not a run."""
    blocks = BLOCK_START.split(text)
    return [
        b.strip().split("\n")[0][:80]
        for b in blocks
        if MEASUREMENT.search(b) and not CITED.search(b) and not b.startswith("**Source.**")
    ]


def test_every_measurement_in_baselines_cites_its_run_files():
    text = (REPO / "docs" / "baselines.md").read_text()
    assert uncited_measurements(text) == []
    assert "not kept" not in text, "a number whose run files are gone: measure it again or cut it"


def test_a_measurement_without_run_files_is_caught():
    text = (
        "## M\n\n**Measured.** 1.0 ± 0.5 (`docs/runs/x/`)\n\n| a | 2.0 ± 1.0 |\n\n"
        "*Measured again.* 3.0 ± 0.1, p = 0.04\n\n**Source.** the paper: 5 ± 1\n\n## N\n\np = 0.2"
    )
    assert uncited_measurements(text) == ["*Measured again.* 3.0 ± 0.1, p = 0.04", "## N"]
