"""The random policy's floors: uniform, and holding still (the zero action)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from baselines import random_policy
from bcvlr.cli import main
from bcvlr.run.evaluate import evaluate
from bcvlr.run.seeding import eval_seed
from bcvlr.tasks import get_task


@pytest.mark.parametrize("policy", ["uniform", "zero"])
def test_unrendered_evaluations_score_what_rendered_ones_score(tmp_path: Path, policy) -> None:
    argv = ["run", "--method", "random", "--task", "reacher_easy", "--seed", "0", "--budget", "1000",
            "--eval-episodes", "2", "--set", f"policy={policy}", "--runs-root", str(tmp_path),
            "--no-progress"]  # fmt: skip
    assert main(argv) == 0
    run = tmp_path / "random" / "reacher_easy" / "seed0"
    assert json.loads((run / "run.json").read_text())["config"]["policy"] == policy
    m = pd.read_csv(run / "metrics.csv").set_index("metric").value
    rng = np.random.default_rng(0)  # the run's stream: seed 0

    def act(obs: np.ndarray) -> np.ndarray:
        if policy == "zero":
            return np.zeros((len(obs), 2), np.float32)
        return rng.uniform(-1, 1, (len(obs), 2)).astype(np.float32)

    rendered = evaluate(get_task("reacher_easy"), act, 2, eval_seed(0, 0))
    assert m["eval/return"] == rendered.mean_return and m["eval/episodes"] == 2


def test_holding_still_is_refused_on_discrete_actions(tmp_path: Path, capsys) -> None:
    argv = ["run", "--method", "random", "--task", "starpilot", "--set", "policy=zero",
            "--runs-root", str(tmp_path / "runs")]  # fmt: skip
    assert main(argv) == 2
    last = capsys.readouterr().err.strip().splitlines()[-1]
    assert last.endswith("policy zero needs continuous actions; starpilot has discrete ones")
    assert not (tmp_path / "runs").exists()
    assert random_policy.Config().policy == "uniform"


def test_the_zero_method_is_the_random_policy_holding_still(tmp_path: Path, capsys) -> None:
    """`--method zero` records under its own name what `random --set policy=zero` scores."""
    common = ["--task", "reacher_easy", "--seed", "1", "--budget", "1000", "--eval-episodes", "3",
              "--runs-root", str(tmp_path), "--no-progress"]  # fmt: skip
    assert main(["run", "--method", "zero", *common]) == 0
    assert main(["run", "--method", "random", "--set", "policy=zero", *common]) == 0

    def score(method: str) -> float:
        m = pd.read_csv(tmp_path / method / "reacher_easy" / "seed1" / "metrics.csv")
        return m.set_index("metric").value["eval/return"]

    assert score("zero") == score("random")
    assert main(["run", "--method", "zero", "--task", "starpilot",
                 "--runs-root", str(tmp_path / "procgen")]) == 2  # fmt: skip
    assert "runs on dmc, metaworld tasks" in capsys.readouterr().err
    assert not (tmp_path / "procgen").exists()
