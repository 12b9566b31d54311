import dataclasses
import json

import pytest

from bcvlr.tasks import TASKS, UnknownTaskError, get_task, registry_json, tasks_of


def test_registry_has_the_29_tasks():
    assert len(TASKS) == 29
    assert [len(tasks_of(s)) for s in ("procgen", "dmc", "metaworld")] == [16, 9, 4]


def test_budgets_and_protocol_follow_the_paper():
    for t in tasks_of("procgen"):
        assert (t.budget, t.budget_unit, t.num_envs, t.frame_stack) == (100_000, "env_steps", 64, 1)
        assert t.action_space.kind == "discrete" and t.action_space.size == 15
    for t in tasks_of("dmc"):
        assert (t.budget, t.budget_unit, t.action_repeat, t.frame_stack) == (
            100_000,
            "frames",
            2,
            3,
        )
        assert t.policy_steps == 50_000
        assert t.eval.report_at == (20_000, 50_000, 100_000)
    for t in tasks_of("metaworld"):
        assert (t.budget, t.action_space.size, t.eval.metric) == (50_000, 4, "success")


def test_expert_scores_are_the_papers():
    assert get_task("starpilot").expert_score == 67.0  # Table 1
    assert get_task("ball_in_cup_catch").expert_score == 986.0  # Table 2 ("ball_in_up_catch")
    assert get_task("walker_walk").expert_score is None  # only in Figures 8/9
    assert get_task("metaworld_drawer_open").expert_score == 1.0  # Table 6


def test_unknown_task_names_the_task_and_suggests():
    with pytest.raises(UnknownTaskError, match="unknown task 'reacher_hrad'.*reacher_hard"):
        get_task("reacher_hrad")


def test_registry_json_fields():
    rows = json.loads(registry_json())
    assert len(rows) == 29
    fields = {"name", "suite", "budget", "budget_unit", "action_space", "episode_length",
              "eval", "expert_score", "policy_steps"}  # fmt: skip
    assert fields <= set(rows[0])


def test_metaworld_camera_variants_are_tasks_of_their_own():
    default = get_task("metaworld_drawer_open")
    assert default.camera == "corner"
    behind = get_task("metaworld_drawer_open@behindGripper")
    assert (behind.name, behind.camera) == ("metaworld_drawer_open@behindGripper", "behindGripper")
    assert dataclasses.replace(behind, name=default.name, camera=default.camera) == default
    assert get_task("metaworld_drawer_open@corner") is default
    assert all(t.camera is None for t in TASKS.values() if t.suite != "metaworld")


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("metaworld_drawer_open@side", "unknown camera 'side'; Metaworld's cameras are corner"),
        ("reacher_easy@corner", "only Metaworld tasks take a camera"),
        ("metaworld_drawr_open@corner", "Did you mean: metaworld_drawer_open"),
    ],
)
def test_camera_variant_errors_name_the_problem(name, message):
    with pytest.raises(UnknownTaskError, match=message):
        get_task(name)
