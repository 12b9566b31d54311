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


def test_goal_distance_paths_lines_and_fallbacks():
    from bcvlr.envs.procgen_state import ENTITY_DTYPE, GameLayout
    from bcvlr.experts.planning import Goal, goal_distance

    grid = np.full((3, 4), 100)  # [y, x]
    grid[0:2, 1] = 51  # a wall between x=0 and x=2 on the two lower rows
    grid[0, 2] = 7  # a target cell
    agent = np.zeros(1, ENTITY_DTYPE)[0]
    agent["x"], agent["y"] = 0.5, 0.5
    layout = GameLayout("test", 0, 1000, False, 1.0, grid, np.zeros(0, ENTITY_DTYPE))
    around = goal_distance(layout, Goal(cells=(7,), blocked=(51,)))
    assert around(agent) == 6  # up two rows, across, down two
    straight = goal_distance(layout, Goal(cells=(7,)))
    assert straight(agent) == pytest.approx(2.0)
    end = np.zeros(1, ENTITY_DTYPE)
    end["type"], end["x"], end["y"] = 5, 3.5, 2.5
    layout.entities = end
    assert goal_distance(layout, Goal(entity=5, cells=(9,), vertical=True))(agent) == 2.0
    layout.entities = np.zeros(0, ENTITY_DTYPE)
    assert goal_distance(layout, Goal(entity=5))(agent) == 0.0  # nothing left to reach


def test_plunder_fields_read_to_the_end():
    from bcvlr.envs.procgen_state import read_state

    env = make(get_task("plunder"), num_envs=2, seed=3)
    env.step(np.full(2, 9))  # fire
    for data in env.get_state().games:
        extra = read_state(data).extra
        assert 0.0 < extra["juice_left"] <= 1.0 and extra["target_quota"] == 20
    env.close()
