import numpy as np

from bcvlr.envs import make_reward_free
from bcvlr.envs.action_log import ActionLog
from bcvlr.tasks import get_task


def test_replaying_the_log_puts_remade_envs_where_they_were():
    task = get_task("bigfish")
    rng = np.random.default_rng(0)
    env = make_reward_free(task, num_envs=2, seed=5)
    log = ActionLog.resume(None)
    obs = log.start(env)
    for _ in range(40):
        actions = rng.integers(0, task.action_space.size, size=2)
        obs = env.step(actions).obs
        log.add(actions)
    env.close()
    resumed = ActionLog.resume({"env_actions": log.state()})
    assert resumed.exact and resumed.seed_offset(7) == 0
    remade = make_reward_free(task, num_envs=2, seed=5)
    np.testing.assert_array_equal(resumed.start(remade), obs)
    remade.close()


def test_a_checkpoint_without_a_log_stays_inexact_on_every_later_resume():
    old = ActionLog.resume({"step": 10})  # a checkpoint written before action logs existed
    assert not old.exact and old.seed_offset(7) == 7
    old.add(np.array([1, 2]))
    assert len(old) == 0 and old.state() is None
    # the checkpoint that run writes holds no log, so its next resume is inexact too, instead of
    # replaying from the seed's start actions taken only since the first resume
    again = ActionLog.resume({"step": 20, "env_actions": old.state()})
    assert not again.exact and again.seed_offset(9) == 9
