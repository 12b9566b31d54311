"""WindowReplay: windows of consecutive observations never cross an episode end or a restart."""

from pathlib import Path

import numpy as np
import pytest

from bcvlr.data.window_replay import WindowReplay
from bcvlr.tasks import ActionSpace
from tests.data.replay_stream import OBS_SHAPE, STACK, Stream, frame_id, newest_id

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "window_replay"

DISCRETE = ActionSpace(kind="discrete", size=15)


def frames(values) -> np.ndarray:
    """One 1x1x1 'frame' per env whose pixel is the frame's id."""
    return np.asarray(values, np.uint8).reshape(-1, 1, 1, 1)


def stream(replay: WindowReplay, start: int, steps: int) -> None:
    """``steps`` steps of 2 envs from frame ids start, start+1, ... (env 1: +100); the action
    taken from frame k is k, so every window's action names its last transition."""
    for k in range(start, start + steps):
        replay.add(np.array([k, k + 100]), frames([k + 1, k + 101]), np.zeros(2, bool), None)


def transitions(replay: WindowReplay, window: int) -> set[tuple[int, ...]]:
    obs, act = replay.sample(512, window)
    ids = obs.reshape(len(obs), window).astype(int)
    for row, a in zip(ids, act, strict=True):
        assert a == row[-2], "the action is the one taken from the window's second-last frame"
    return {tuple(r) for r in ids}


def two_episodes_per_env() -> WindowReplay:
    replay = WindowReplay(64, 2, (1, 1, 1), DISCRETE, seed=0)
    replay.start(frames([0, 100]))
    stream(replay, 0, 3)
    # both episodes end: final frames 50/150 are stored, the next ones start at 60/160
    replay.add(np.array([3, 103]), frames([60, 160]), np.ones(2, bool), frames([50, 150]))
    stream(replay, 60, 3)
    return replay


def test_windows_are_consecutive_frames_of_one_env():
    replay = WindowReplay(64, 2, (1, 1, 1), DISCRETE, seed=0)
    replay.start(frames([0, 100]))
    stream(replay, 0, 10)
    seen = transitions(replay, 3)
    assert all(b == a + 1 and c == b + 1 for a, b, c in seen)
    assert (7, 8, 9) in seen and (107, 108, 109) in seen


def test_episode_ends_split_windows():
    replay = two_episodes_per_env()
    seen = transitions(replay, 2)
    assert (3, 50) in seen and (60, 61) in seen
    assert not any(a == 50 or b == 60 for a, b in seen if (a, b) != (60, 61))


def test_restart_after_a_resume_closes_every_stream_at_its_last_observation():
    replay = WindowReplay(64, 2, (1, 1, 1), DISCRETE, seed=0)
    replay.start(frames([0, 100]))
    stream(replay, 0, 5)  # pending: frames 5 and 105
    resumed = WindowReplay(64, 2, (1, 1, 1), DISCRETE, seed=0)
    resumed.load_state_dict(replay.state_dict())
    resumed.restart(frames([40, 140]))  # the envs restarted at fresh episodes
    stream(resumed, 40, 4)
    seen = transitions(resumed, 2)
    assert (4, 5) in seen and (104, 105) in seen  # the last action before the kill is kept
    assert (40, 41) in seen
    assert all(b == a + 1 for a, b in seen), "no window joins the old stream to the new one"
    assert resumed.transitions == 2 * (5 + 4)  # two envs


def test_a_diagnostic_with_its_own_rng_leaves_the_training_stream_alone():
    replay = WindowReplay(64, 2, (1, 1, 1), DISCRETE, seed=0)
    twin = WindowReplay(64, 2, (1, 1, 1), DISCRETE, seed=0)
    for r in (replay, twin):
        r.start(frames([0, 100]))
        stream(r, 0, 10)
    replay.sample(16, 2, rng=np.random.default_rng(7))
    assert all((a == b).all() for a, b in zip(replay.sample(8), twin.sample(8), strict=True))


def test_windows_lists_each_window_once_with_its_episode():
    replay = two_episodes_per_env()
    obs, act, episode = replay.windows(2)
    ids = [tuple(r) for r in obs.reshape(len(obs), 2).astype(int)]
    assert sorted(ids) == sorted(transitions(replay, 2)) and len(set(ids)) == len(ids)
    assert (act == obs.reshape(len(obs), 2)[:, 0]).all()
    by_window = dict(zip(ids, episode.tolist(), strict=True))
    assert by_window[(0, 1)] == by_window[(3, 50)] != by_window[(60, 61)]
    assert by_window[(0, 1)] != by_window[(100, 101)], "the envs' streams are apart"


def test_windows_of_the_newest_entries_only_and_at_most_limit():
    replay = WindowReplay(64, 2, (1, 1, 1), DISCRETE, seed=0)
    replay.start(frames([0, 100]))
    stream(replay, 0, 40)  # 32 entries per env: the ring has wrapped
    obs, _, _ = replay.windows(2, newest=5)
    expected = [(k, k + 1) for k in (35, 36, 37, 38, 135, 136, 137, 138)]
    assert sorted(tuple(r) for r in obs.reshape(len(obs), 2).astype(int)) == expected
    assert len(replay.windows(2)[0]) == 2 * 31
    assert len(replay.windows(2, limit=10)[0]) == 10


def test_a_full_replay_holds_its_capacity_of_transitions_not_every_one_added():
    replay = WindowReplay(16, 2, (1, 1, 1), DISCRETE, seed=0)
    replay.start(frames([0, 100]))
    stream(replay, 0, 5)
    assert replay.stored_transitions == replay.transitions == 10
    stream(replay, 5, 20)
    assert replay.transitions == 50
    assert replay.stored_transitions == 16  # 8 slots per env, each the start of a transition


def test_with_an_action_lead_the_action_is_the_one_lead_steps_before_the_last_transition():
    """(o_t, o_t+1, o_t+2) with a lead of 1 comes with a_t (taken from the first frame), and
    no window crosses an episode end for it (63 and 163 are still pending)."""
    replay = two_episodes_per_env()
    obs, act = replay.sample(512, 3, action_lead=1)
    ids = obs.reshape(len(obs), 3).astype(int)
    assert (act == ids[:, 0]).all()
    assert {tuple(r) for r in ids} == {(0, 1, 2), (1, 2, 3), (2, 3, 50), (60, 61, 62),
                                       (100, 101, 102), (101, 102, 103), (102, 103, 150),
                                       (160, 161, 162)}  # fmt: skip
    obs, act, _ = replay.windows(3, action_lead=1)
    assert (act == obs.reshape(len(obs), 3)[:, 0]).all() and len(obs) == 8


def test_the_observations_held_on_a_device_give_the_sampled_windows():
    """WindowReplay.hold_on: sample_on gathers from the held copy, written as entries are
    stored (ring wrap included) and refreshed by load_state_dict: the same windows and actions
    as sample() draws from the same stream."""
    import torch

    def replay_with(held: bool) -> WindowReplay:
        r = WindowReplay(16, 2, (1, 1, 1), DISCRETE, seed=3)
        if held:
            assert r.hold_on(torch.device("cpu"), 1.0)["replay_on_device/mb"] > 0
        r.start(frames([0, 100]))
        stream(r, 0, 5)
        return r

    plain, held = replay_with(False), replay_with(True)
    for start in (5, 20):  # the second round wraps each env's ring of 8
        for _ in range(4):
            obs, act = plain.sample(32, 3, action_lead=1)
            t_obs, t_act = held.sample_on(torch.device("cpu"), 32, 3, action_lead=1)
            assert np.array_equal(t_obs.numpy(), obs) and np.array_equal(t_act.numpy(), act)
        stream(plain, start, 15)
        stream(held, start, 15)
    resumed = WindowReplay(16, 2, (1, 1, 1), DISCRETE, seed=9)
    resumed.hold_on(torch.device("cpu"), 1.0)
    resumed.load_state_dict(plain.state_dict())
    obs, _ = plain.sample(32, 2)
    assert np.array_equal(resumed.sample_on(torch.device("cpu"), 32, 2)[0].numpy(), obs)


def test_observations_over_the_limit_are_not_held():
    """hold_on within its limit only: over it, sample_on copies each batch, the same windows."""
    import torch

    replay = WindowReplay(16, 2, (1, 1, 1), DISCRETE, seed=3)
    assert replay.hold_on(torch.device("cpu"), 0.0) == {"replay_on_device/mb": 0.0}
    plain = WindowReplay(16, 2, (1, 1, 1), DISCRETE, seed=3)
    for r in (replay, plain):
        r.start(frames([0, 100]))
        stream(r, 0, 5)
    obs, act = plain.sample(8, 2)
    t_obs, t_act = replay.sample_on(torch.device("cpu"), 8, 2)
    assert np.array_equal(t_obs.numpy(), obs) and np.array_equal(t_act.numpy(), act)


def test_a_checkpoint_holds_the_written_entries_and_resumes_to_the_same_replay():
    """A replay partly filled (one env one entry ahead, after an episode end) saves only the
    entries written so far; restored, it is the same buffer and draws the same windows."""
    replay = two_episodes_per_env()
    state = replay.state_dict()
    assert state["frames"].shape[:2] == (2, int(replay.count.max())) < replay.frames.shape[:2]
    resumed = WindowReplay(64, 2, (1, 1, 1), DISCRETE, seed=1)
    resumed.load_state_dict(state)
    for k in ("frames", "act", "has_next", "pos", "count"):
        np.testing.assert_array_equal(getattr(resumed, k), getattr(replay, k))
    np.testing.assert_array_equal(resumed.sample(64, 2)[0], replay.sample(64, 2)[0])


def stacked_replay(stream: Stream, capacity: int = 16, held: bool = False) -> WindowReplay:
    replay = WindowReplay(capacity, stream.envs, OBS_SHAPE, DISCRETE, seed=2, frame_stack=STACK)
    if held:
        import torch

        replay.hold_on(torch.device("cpu"), 1.0)
    replay.start(stream.start())
    return replay


def assert_envs_stacks(stream: Stream, obs: np.ndarray) -> None:
    """Every observation (..., STACK * CHANNELS, 1, 1) is the stack the envs showed."""
    for o in obs.reshape(-1, *OBS_SHAPE):
        np.testing.assert_array_equal(o, stream.stacks[newest_id(o)])


@pytest.mark.parametrize("final", [True, False], ids=["final-frames", "no-final-frames"])
def test_stacked_observations_are_rebuilt_as_the_envs_stacked_them(final):
    """With frame_stack 3 the replay keeps one frame per entry; the windows it samples and
    lists are the envs' stacked observations (episode starts repeat their first frame),
    through ring wraps, a restart and a checkpoint, from its own frames or a held copy."""
    import torch

    stream = Stream(seed=0, final=final)
    replay, held = stacked_replay(stream), None
    twin = Stream(seed=0, final=final)
    held = stacked_replay(twin, held=True)
    for step in range(120):
        replay.add(*stream.step())
        held.add(*twin.step())
        if step == 60:  # a resume whose envs restarted at fresh episodes
            state = replay.state_dict()
            replay = WindowReplay(16, 2, OBS_SHAPE, DISCRETE, seed=7, frame_stack=STACK)
            replay.load_state_dict(state)
            replay.restart(stream.reset())
            held.restart(twin.reset())
        if step >= 3 and step % 6 == 0:
            obs, act = replay.sample(64, 3, action_lead=1)
            assert_envs_stacks(stream, obs)
            t_obs, t_act = held.sample_on(torch.device("cpu"), 64, 3, action_lead=1)
            assert_envs_stacks(twin, t_obs.numpy())
    obs, _, _ = replay.windows(3)
    assert_envs_stacks(stream, obs)
    assert replay.frames.shape[1:3] == (8 + STACK - 1, OBS_SHAPE[0] // STACK)
    starts = [o for o in obs.reshape(-1, *OBS_SHAPE) if frame_id(o[:2]) == newest_id(o)]
    assert starts, "episode starts, whose stacks repeat one frame, were sampled"


def test_a_checkpoint_of_stacked_observations_loads_and_draws_what_it_would_have_drawn():
    """Checkpoints written before frames were kept alone (tests/fixtures/window_replay/
    record.py, with the replay of b45586e): loaded, the replay draws and lists the windows
    that replay drew next, wrapped rings included."""
    import torch

    cases = torch.load(FIXTURES / "stacked.pt", weights_only=False)
    for case in cases.values():
        replay = WindowReplay(16, 2, OBS_SHAPE, DISCRETE, seed=0, frame_stack=STACK)
        replay.load_state_dict(case["state"])
        obs, act = replay.sample(32, 3, action_lead=1)
        np.testing.assert_array_equal(obs, case["sample"][0])
        np.testing.assert_array_equal(act, case["sample"][1])
        for got, recorded in zip(replay.windows(3), case["windows"], strict=True):
            np.testing.assert_array_equal(got, recorded)
    assert cases["wrapped"]["state"]["count"].min() > 8, "the recording has a wrapped ring"
