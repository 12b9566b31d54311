"""Planning experts on the real Procgen simulator: maze and heist solve every level tried, the
lookahead planner is seeded, and the expert kind goes through train-expert and collect-videos
like any other."""

import json

import numpy as np
import pytest

from bcvlr.data import VideoDataset
from bcvlr.envs import make
from bcvlr.experts.collect import collect
from bcvlr.experts.planning import PlannerConfig, PlanningExpert, distances_to, move_action
from bcvlr.experts.train import load_expert
from bcvlr.run.evaluate import evaluate
from bcvlr.tasks import get_task


def test_move_actions_follow_procgens_combos():
    # procgen's combos: 1 LEFT, 3 DOWN, 4 no-op, 5 UP, 7 RIGHT
    assert [move_action(-1, 0), move_action(0, -1), move_action(0, 0), move_action(0, 1),
            move_action(1, 0)] == [1, 3, 4, 5, 7]  # fmt: skip


def test_distances_go_around_walls():
    blocked = np.array([[0, 1, 0], [0, 1, 0], [0, 0, 0]], bool)  # [y, x]
    dist = distances_to(blocked, (0, 0))
    assert dist[0, 2] == 6 and dist[2, 1] == 3 and dist[0, 1] == np.inf


@pytest.mark.parametrize("game", ["maze", "heist"])
def test_scripted_planners_solve_every_level(game):
    task = get_task(game)
    expert = PlanningExpert(task, PlannerConfig(), seed=0)
    result = evaluate(task, expert.act, episodes=12, seed=21, inputs="simulator")
    assert (result.returns == 10.0).all(), result.returns
    assert result.lengths.max() < 200  # straight to the goal, no wandering to the timeout


def test_lookahead_planner_is_seeded():
    task = get_task("bigfish")

    def actions(seed):
        env = make(task, num_envs=2, seed=4)
        expert = PlanningExpert(task, PlannerConfig(horizon=4, rollouts=1), seed=seed)
        out = [expert.act(env) for _ in range(3) if env.step(expert.act(env)) is not None]
        env.close()
        return np.concatenate(out)

    assert (actions(1) == actions(1)).all()


def test_planner_expert_through_train_and_collect(tmp_path):
    from bcvlr.experts.planning import train_expert

    task = get_task("maze")
    train_expert(task, kind="planner", seed=0, out=tmp_path / "expert",
                 overrides=["score_episodes=4"])  # fmt: skip
    meta = json.loads((tmp_path / "expert" / "expert.json").read_text())
    assert meta["planner"] == "maze_path" and meta["score"] == 10.0 and meta["eval_episodes"] == 4
    assert load_expert(tmp_path / "expert", task).inputs == "simulator"
    stats = collect(task, tmp_path / "expert", steps=300, out=tmp_path / "videos", seed=2,
                    progress=False)  # fmt: skip
    assert stats["mean_score"] == 10.0
    data = VideoDataset(tmp_path / "videos")
    assert data.num_transitions >= 300
