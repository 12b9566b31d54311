"""Every registered task on its real simulator: reset, step, frames, seeding, reward-free view."""

import dataclasses

import numpy as np
import pytest

from bcvlr.envs import ObsStep, RewardFreeEnv, default_render_settings, make, make_reward_free
from bcvlr.tasks import TASKS, get_task

ALL_TASKS = sorted(TASKS)


def random_actions(env, rng: np.random.Generator) -> np.ndarray:
    space = env.action_space
    if space.is_discrete:
        return rng.integers(0, space.size, env.num_envs)
    return rng.uniform(-1, 1, (env.num_envs, space.size))


def rollout(task: str, seed: int, steps: int, num_envs: int) -> tuple[np.ndarray, list]:
    env = make(task, num_envs=num_envs, seed=seed)
    rng = np.random.default_rng(seed)
    frames, rewards = [env.reset()], []
    for _ in range(steps):
        s = env.step(random_actions(env, rng))
        frames.append(s.obs)
        rewards.append(s.reward)
    env.close()
    return np.stack(frames), rewards


@pytest.mark.parametrize("name", ALL_TASKS)
def test_task_resets_steps_and_renders_real_frames(name):
    task = get_task(name)
    num_envs = 4 if task.suite == "procgen" else 1
    frames, rewards = rollout(name, seed=7, steps=6, num_envs=num_envs)
    channels = 3 * task.frame_stack
    assert frames.shape == (7, num_envs, channels, 64, 64)
    assert frames.dtype == np.uint8
    # a real rendered scene, not a blank buffer
    assert frames[-1].std() > 5.0, f"{name}: frame looks blank"
    assert np.unique(frames[-1][0, -3:].reshape(3, -1), axis=1).shape[1] > 10  # many colours
    assert all(np.isfinite(r).all() for r in rewards)


@pytest.mark.parametrize("name", ALL_TASKS)
def test_same_seed_same_frames(name):
    num_envs = 2 if get_task(name).suite == "procgen" else 1
    a, ra = rollout(name, seed=3, steps=4, num_envs=num_envs)
    b, rb = rollout(name, seed=3, steps=4, num_envs=num_envs)
    np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(np.stack(ra), np.stack(rb))


@pytest.mark.parametrize("name", ["coinrun", "reacher_easy", "metaworld_reach"])
def test_different_seeds_differ(name):
    num_envs = 2 if get_task(name).suite == "procgen" else 1
    a, _ = rollout(name, seed=1, steps=3, num_envs=num_envs)
    b, _ = rollout(name, seed=2, steps=3, num_envs=num_envs)
    assert not np.array_equal(a, b)


def test_frame_stack_shifts_oldest_frame_out():
    env = make("reacher_easy", seed=0)
    first = env.reset()
    np.testing.assert_array_equal(first[:, 0:3], first[:, 6:9])  # filled with the reset frame
    s = env.step(np.zeros((1, 2)))
    np.testing.assert_array_equal(s.obs[:, 0:6], first[:, 3:9])
    env.close()


def test_dmc_episode_ends_at_time_limit_with_stats():
    task = get_task("point_mass_easy")
    env = make(task, seed=0)
    env.reset()
    for t in range(task.episode_length):
        s = env.step(np.zeros((1, 2)))
        if t < task.episode_length - 1:
            assert not s.done.any()
    assert s.truncated.all() and not s.terminated.any()
    assert len(s.episodes) == 1 and s.episodes[0].length == task.episode_length
    assert s.final_obs is not None and not np.array_equal(s.final_obs, s.obs)
    env.close()


def test_metaworld_reports_success_and_states():
    env = make("metaworld_reach", seed=0)
    env.reset()
    assert env.states().shape == (1, 39)
    s = env.step(np.zeros((1, 4)))
    assert s.success.dtype == bool
    env.close()


def test_procgen_vectorised_episode_bookkeeping():
    env = make("coinrun", num_envs=16, seed=0)
    env.reset()
    rng = np.random.default_rng(0)
    ended = []
    for _ in range(400):
        s = env.step(random_actions(env, rng))
        ended += s.episodes
        assert len(s.episodes) == int(s.done.sum())
    assert ended, "no coinrun episode ended in 400 random steps x 16 envs"
    assert all(e.length >= 1 for e in ended)
    assert {e.episode_return for e in ended} <= {0.0, 10.0}  # coinrun pays 10 for the coin


def test_reward_free_view_has_no_reward_by_construction():
    env = make_reward_free("reacher_easy", seed=0)
    assert isinstance(env, RewardFreeEnv)
    env.reset()
    s = env.step(np.zeros((1, 2)))
    assert isinstance(s, ObsStep)
    fields = {f.name for f in dataclasses.fields(ObsStep)}
    assert fields == {"obs", "done", "final_obs"}
    public = {a for a in dir(env) if not a.startswith("_")}
    assert not public & {"reward", "rewards", "success", "states", "env", "unwrapped"}
    env.close()


def test_bad_actions_rejected_with_clear_error():
    env = make("coinrun", num_envs=2, seed=0)
    env.reset()
    with pytest.raises(ValueError, match=r"\[0, 15\)"):
        env.step(np.array([0, 15]))
    with pytest.raises(ValueError, match="expected 2 discrete actions"):
        env.step(np.array([0]))
    cont = make("reacher_easy", seed=0)
    cont.reset()
    with pytest.raises(ValueError, match=r"shape \(1, 2\)"):
        cont.step(np.zeros((1, 3)))
    cont.close()


def test_subprocess_vecenv_matches_in_process():
    a = make("reacher_easy", num_envs=2, seed=5)
    b = make("reacher_easy", num_envs=2, seed=5, processes=True)
    try:
        np.testing.assert_array_equal(a.reset(), b.reset())
        acts = np.random.default_rng(0).uniform(-1, 1, (3, 2, 2))
        for act in acts:
            np.testing.assert_array_equal(a.step(act).obs, b.step(act).obs)
    finally:
        a.close()
        b.close()


@pytest.mark.parametrize("name,processes", [("metaworld_reach", False), ("reacher_easy", True)])
def test_frameless_envs_step_the_same_simulator_without_rendering(name, processes):
    """frames=False (state-based experts) renders nothing after a step: all-zero observations,
    and the same states, rewards, success and episode ends as with frames."""
    with_frames = make(name, seed=4)
    frameless = make(name, seed=4, processes=processes, frames=False)
    try:
        with_frames.reset()
        assert not frameless.reset().any()
        np.testing.assert_array_equal(with_frames.states(), frameless.states())
        rng = np.random.default_rng(0)
        size = with_frames.action_space.size
        ended = 0
        for _ in range(get_task(name).episode_length + 2):  # across an auto-reset
            act = rng.uniform(-1, 1, (1, size))
            a, b = with_frames.step(act), frameless.step(act)
            assert a.obs.any() and not b.obs.any()
            np.testing.assert_array_equal(with_frames.states(), frameless.states())
            np.testing.assert_array_equal(a.reward, b.reward)
            np.testing.assert_array_equal(a.success, b.success)
            np.testing.assert_array_equal(a.done, b.done)
            assert a.episodes == b.episodes
            ended += len(b.episodes)
        assert ended == 1
    finally:
        with_frames.close()
        frameless.close()
    with pytest.raises(ValueError, match="procgen has no low-dimensional states"):
        make("coinrun", num_envs=1, frames=False)


def test_render_differences_name_what_a_dataset_renders_otherwise():
    from bcvlr.envs import render_differences

    ours = dataclasses.asdict(default_render_settings("metaworld_reach"))
    assert render_differences("metaworld_reach", ours | {"mujoco": "9.9", "renderer": "x"}) == []
    diffs = render_differences("metaworld_reach", ours | {"camera": 0, "height": 84})
    assert diffs == ["camera: videos 0, env 'corner'", "height: videos 84, env 64"]
    # a camera variant is its own task: videos of the default camera do not fit it
    assert render_differences("metaworld_reach@behindGripper", ours) == [
        "camera: videos 'corner', env 'behindGripper'"]  # fmt: skip
    # an imported dataset records fewer settings: only the shared ones are compared
    assert render_differences("starpilot", {"source": "lapo", "width": 64, "height": 64}) == []
    assert render_differences("starpilot", {"distribution_mode": "hard"}) == [
        "distribution_mode: videos 'hard', env 'easy'"]  # fmt: skip


def test_metaworld_renders_from_the_tasks_camera():
    default = make("metaworld_drawer_open", seed=0)
    behind = make("metaworld_drawer_open@behindGripper", seed=0)
    try:
        assert default.render_settings["camera"] == "corner"
        assert behind.render_settings["camera"] == "behindGripper"
        # same seed, same scene: only the camera differs
        assert not np.array_equal(default.reset(), behind.reset())
    finally:
        default.close()
        behind.close()


@pytest.mark.parametrize("name", ["heist", "chaser", "coinrun", "starpilot"])
def test_procgen_state_restores_the_games_exactly(name):
    """get_state / set_state on the real simulator: after a restore, the same actions give
    the same frames, rewards, episode ends and episode statistics (what a planner needs)."""
    env = make(name, num_envs=4, seed=3)
    rng = np.random.default_rng(0)
    env.reset()
    for _ in range(20):
        env.step(random_actions(env, rng))
    saved = env.get_state()
    assert len(saved.games) == 4 and all(isinstance(g, bytes) and g for g in saved.games)
    actions = [random_actions(env, rng) for _ in range(60)]
    first = [env.step(a) for a in actions]
    env.set_state(saved)
    again = [env.step(a) for a in actions]
    for a, b in zip(first, again, strict=True):
        np.testing.assert_array_equal(a.obs, b.obs)
        np.testing.assert_array_equal(a.reward, b.reward)
        np.testing.assert_array_equal(a.done, b.done)
        assert a.episodes == b.episodes
    with pytest.raises(ValueError, match="a state of 4 envs, this env has 2"):
        make(name, num_envs=2, seed=3).set_state(saved)
    env.close()


@pytest.mark.parametrize("name", ["reacher_easy", "cheetah_run_backward", "jaco_reach_top_right"])
def test_dmc_frames_are_physics_renders(name):
    """DMCEnv keeps one camera; physics.render (what DrQv2's and the authors' wrappers call)
    builds one per frame: the same pixels, across steps and episodes."""
    from bcvlr.envs.dmc import DMCEnv

    task = get_task(name)
    env = DMCEnv(task, seed=0, render=default_render_settings(name))
    s, rng = env.settings, np.random.default_rng(0)
    flags = {"shadow": s.shadows, "reflection": s.reflections}
    for _ in range(2):
        frame = env.reset()
        for _ in range(4):
            expected = env._env.physics.render(height=s.height, width=s.width, camera_id=s.camera,
                                               render_flag_overrides=flags)  # fmt: skip
            np.testing.assert_array_equal(frame, expected.transpose(2, 0, 1))
            env.step(rng.uniform(-1, 1, task.action_space.size))
            frame = env.render()
    env.close()
