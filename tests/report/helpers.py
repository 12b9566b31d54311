"""Shared by the report tests."""

from __future__ import annotations

import numpy as np

from bcvlr.run.evaluate import EvalResult
from bcvlr.tasks import get_task


def evaluation(returns: np.ndarray, task: str) -> dict[str, float]:
    """The metrics an evaluation with these episode returns logs, as the harness writes them."""
    n = len(returns)
    return EvalResult(returns, np.zeros(n), np.ones(n)).metrics(get_task(task))
