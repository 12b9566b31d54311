"""The paper's published numbers (results/paper/*.csv), transcribed from the paper text.

``paper_tables.csv``: every cell of Tables 1-10, long format (one row per table x task x method),
with the printed mean, the printed ± (empty for the expert column) and the printed number of
decimals. ``paper_summary_rows.csv``: the printed Mean / Video-norm Mean / Mean Success Rate rows,
with ``consistent = 0`` where the printed value is not the mean of the paper's own cells.
"""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd

from bcvlr.results.provenance import REPO_ROOT

PAPER_DIR = REPO_ROOT / "results" / "paper"
TABLES_CSV = "paper_tables.csv"
SUMMARY_CSV = "paper_summary_rows.csv"


def paper_dir() -> Path:
    # an override for installs where the package is not inside the repository checkout
    return Path(os.environ.get("BCVLR_PAPER_DIR", PAPER_DIR))


def paper_cells(directory: str | os.PathLike | None = None) -> pd.DataFrame:
    d = Path(directory) if directory is not None else paper_dir()
    df = pd.read_csv(d / TABLES_CSV, dtype={"uses_rewards": int, "is_expert": int})
    df["uses_rewards"] = df["uses_rewards"].astype(bool)
    df["is_expert"] = df["is_expert"].astype(bool)
    return df


def paper_summary(directory: str | os.PathLike | None = None) -> pd.DataFrame:
    d = Path(directory) if directory is not None else paper_dir()
    df = pd.read_csv(d / SUMMARY_CSV, dtype={"consistent": int}, keep_default_na=False)
    df["consistent"] = df["consistent"].astype(bool)
    df["value"] = df["value"].astype(float)
    return df
