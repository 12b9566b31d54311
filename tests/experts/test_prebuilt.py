"""The expert the repository ships (assets/experts): copied by `train-expert --from`, checked
for task and kind, and it acts on the real simulator."""

import json

import numpy as np

from bcvlr.cli import main
from bcvlr.envs import make
from bcvlr.experts.train import load_expert
from bcvlr.tasks import get_task
from tests.workflow.helpers import REPO

SHIPPED = REPO / "assets/experts/reacher_hard"


def test_the_shipped_expert_is_copied_and_acts(tmp_path, capsys):
    out = tmp_path / "reacher_hard" / "seed0"
    assert main(["train-expert", "--task", "reacher_hard", "--from", str(SHIPPED),
                 "--out", str(out)]) == 0  # fmt: skip
    meta = json.loads((out / "expert.json").read_text())
    assert meta["copied_from"] == str(SHIPPED) and meta["final_score"] > 900
    task = get_task("reacher_hard")
    expert = load_expert(out, task)
    env = make(task, num_envs=1, seed=0, frames=False)
    env.reset()
    action = expert.act(env.states())
    env.close()
    assert action.shape == (1, 2) and np.abs(action).max() <= 1


def test_an_expert_of_another_task_or_kind_is_refused(tmp_path, capsys):
    for argv in (["--task", "reacher_easy"], ["--task", "reacher_hard", "--kind", "drqv2_pixels"]):
        assert main(["train-expert", *argv, "--from", str(SHIPPED),
                     "--out", str(tmp_path / "x")]) == 2  # fmt: skip
        assert "expert is a 'ddpg_states' for 'reacher_hard'" in capsys.readouterr().err
    assert not (tmp_path / "x").exists()
