"""Every run file the docs cite is committed: a path under docs/runs/ named in README.md or
docs/*.md exists (brace lists such as {a,b}.txt expanded)."""

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
