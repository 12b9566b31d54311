"""The URLB tasks built on real dm_control physics (cheap: ~0.1 s to build an env)."""

from __future__ import annotations

import os

os.environ.setdefault("MUJOCO_GL", "egl")

import numpy as np
import pytest

from bcvlr.envs import urlb
from bcvlr.tasks import tasks_of

REGISTRY_URLB = [t for t in tasks_of("dmc") if t.sim_id.split("/")[0] in {"cheetah", "jaco"}]


def _random_action(spec, rng: np.random.Generator) -> np.ndarray:
    return rng.uniform(spec.minimum, spec.maximum).astype(spec.dtype)


def _flat(observation) -> np.ndarray:
    return np.concatenate([np.asarray(v, dtype=np.float64).ravel() for v in observation.values()])


def test_registry_urlb_tasks_are_all_loadable():
    assert {t.sim_id for t in REGISTRY_URLB} == {
        "cheetah/run_backward",
        "jaco/reach_top_right",
        "jaco/reach_bottom_left",
    }
    assert all(t.sim_id in urlb.TASKS for t in REGISTRY_URLB)


@pytest.mark.parametrize("task", REGISTRY_URLB, ids=lambda t: t.name)
def test_episode_matches_registry(task):
    env = urlb.load(task.sim_id, seed=0)
    spec = env.action_spec()
    assert spec.shape == (task.action_space.size,)
    rng = np.random.default_rng(0)
    ts = env.reset()
    assert ts.first()
    rewards = []
    while not ts.last():
        ts = env.step(_random_action(spec, rng))
        rewards.append(ts.reward)
    # The registry counts episode length in policy steps after action repeat.
    assert len(rewards) == task.episode_length * task.action_repeat
    rewards = np.asarray(rewards, dtype=np.float64)
    assert np.all(np.isfinite(rewards))
    assert np.all((rewards >= 0.0) & (rewards <= 1.0))


@pytest.mark.parametrize("name", urlb.TASKS)
def test_reset_step_render(name):
    env = urlb.load(name, seed=3)
    spec = env.action_spec()
    env.reset()
    rng = np.random.default_rng(1)
    for _ in range(5):
        ts = env.step(_random_action(spec, rng))
        assert np.isfinite(ts.reward) and 0.0 <= ts.reward <= 1.0
        assert np.all(np.isfinite(_flat(ts.observation)))
    img = env.physics.render(64, 64, camera_id=urlb.camera_for(name))
    assert img.dtype == np.uint8 and img.shape == (64, 64, 3)
    assert img.std() > 5.0


@pytest.mark.parametrize("name", ["cheetah/run_backward", "jaco/reach_top_right"])
def test_same_seed_same_observations(name):
    def rollout(seed: int) -> list[np.ndarray]:
        env = urlb.load(name, seed=seed)
        rng = np.random.default_rng(7)
        obs = [_flat(env.reset().observation)]
        obs += [_flat(env.step(_random_action(env.action_spec(), rng)).observation)]
        obs += [_flat(env.reset().observation)]  # the second episode too
        return obs

    a, b, c = rollout(11), rollout(11), rollout(12)
    for x, y in zip(a, b, strict=True):
        np.testing.assert_array_equal(x, y)
    assert not np.array_equal(a[0], c[0])


def test_cheetah_rewards_running_backwards():
    env = urlb.load("cheetah/run_backward", seed=0)
    env.reset()
    physics = env.physics

    def reward_at(speed: float) -> float:
        with physics.reset_context():
            physics.data.qvel[:] = 0.0
            physics.data.qvel[0] = speed  # rootx slide joint: the torso's horizontal velocity
        assert physics.speed() == pytest.approx(speed)
        return env.task.get_reward(physics)

    assert reward_at(-10.0) == pytest.approx(1.0)
    assert reward_at(-12.0) == pytest.approx(1.0)
    assert reward_at(-5.0) == pytest.approx(0.5)  # linear ramp from 0 at rest to 1 at -10 m/s
    assert reward_at(0.0) == pytest.approx(0.0)
    assert reward_at(5.0) == pytest.approx(0.0)
    assert reward_at(10.0) == pytest.approx(0.0)


def test_cheetah_floor_extends_behind_the_start():
    env = urlb.load("cheetah/run_backward", seed=0)
    env.reset()
    physics = env.physics
    half_length = physics.named.model.geom_size["ground"][0]
    floor_x = physics.named.model.geom_pos["ground"][0]
    assert floor_x - half_length < -100.0


@pytest.mark.parametrize("target", sorted(urlb.JACO_TARGETS))
def test_jaco_target_is_fixed(target):
    positions, hands = [], []
    for seed in (0, 1):
        env = urlb.load(f"jaco/reach_{target}", seed=seed)
        env.reset()
        positions.append(env.task.target_position(env.physics))
        hands.append(env.task.hand_position(env.physics))
    np.testing.assert_allclose(positions[0][:2], urlb.JACO_TARGETS[target], atol=1e-4)
    np.testing.assert_allclose(positions[0], positions[1], atol=1e-4)
    assert abs(positions[0][2]) < 5e-3  # resting on the table
    assert not np.allclose(hands[0], hands[1])  # the seed still randomises the arm


def test_jaco_reward_is_one_at_the_target():
    env = urlb.load("jaco/reach_top_right", seed=0)
    env.reset()
    physics = env.physics
    far = env.task.get_reward(physics)
    assert 0.0 <= far < 0.5
    hand, target = env.task.hand_position(physics), env.task.target_position(physics)
    assert np.linalg.norm(hand - target) > 0.05
    # Move the brick to the pinch site instead of steering the arm there.
    env.task.prop.set_pose(physics, position=hand)
    physics.forward()
    assert env.task.get_reward(physics) == pytest.approx(1.0)


def test_jaco_timing():
    env = urlb.load("jaco/reach_bottom_left", seed=0)
    assert env.control_timestep() == pytest.approx(0.04)
    assert env.physics.timestep() == pytest.approx(0.002)
    assert env.action_spec().shape == (9,)


def test_unknown_task_is_named():
    with pytest.raises(ValueError, match="cheetah/run"):
        urlb.load("cheetah/run", seed=0)
    with pytest.raises(ValueError, match="jaco/reach_middle"):
        urlb.camera_for("jaco/reach_middle")
    with pytest.raises(ValueError, match="middle"):
        urlb.load_jaco_reach("middle", seed=0)
    assert urlb.camera_for("cheetah/run_backward") == 0
    assert urlb.camera_for("jaco/reach_bottom_left") == "front_close"
