"""Where a run lives: ``{runs root}/{method}/{task}/seed{seed}/``. The one definition, read by
the run directory, the `bcvlr run` command and the workflow's rules (so kept free of imports
that a Snakefile parse would pay for)."""

from __future__ import annotations

import os
from pathlib import Path


def run_path(root: str | os.PathLike, method: str, task: str, seed: int) -> Path:
    return Path(root) / method / task / f"seed{int(seed)}"
