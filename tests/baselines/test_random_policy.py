"""The random policy's floors: uniform, and holding still (the zero action)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

from baselines import random_policy
from bcvlr.cli import main
from bcvlr.run.evaluate import evaluate
from bcvlr.tasks import get_task


def test_the_zero_policy_scores_the_episodes_a_rendered_evaluation_scores(tmp_path: Path) -> None:
    argv = ["run", "--method", "random", "--task", "reacher_easy", "--seed", "0", "--budget", "1000",
            "--eval-episodes", "2", "--set", "policy=zero", "--runs-root", str(tmp_path),
            "--no-progress"]  # fmt: skip
    assert main(argv) == 0
    run = tmp_path / "random" / "reacher_easy" / "seed0"
    assert json.loads((run / "run.json").read_text())["config"]["policy"] == "zero"
    m = pd.read_csv(run / "metrics.csv").set_index("metric").value
    task = get_task("reacher_easy")
    rendered = evaluate(task, lambda obs: np.zeros((len(obs), 2), np.float32), 2, 1_000_003)
    assert m["eval/return"] == rendered.mean_return and m["eval/episodes"] == 2


def test_holding_still_is_refused_on_discrete_actions(tmp_path: Path, capsys) -> None:
    argv = ["run", "--method", "random", "--task", "starpilot", "--set", "policy=zero",
            "--runs-root", str(tmp_path / "runs")]  # fmt: skip
    assert main(argv) == 2
    last = capsys.readouterr().err.strip().splitlines()[-1]
    assert last.endswith("policy zero needs continuous actions; starpilot has discrete ones")
    assert not (tmp_path / "runs").exists()
    assert random_policy.Config().policy == "uniform"
