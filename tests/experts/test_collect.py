"""collect-videos on real simulators: the dataset validates, its frames are exactly what the
env renders for the recorded actions, and an interrupted collection resumes."""

import numpy as np
import pytest

from bcvlr.data import VideoDataset
from bcvlr.envs import make
from bcvlr.experts.collect import collect
from bcvlr.experts.scripted import train_expert
from bcvlr.tasks import get_task


@pytest.fixture(scope="module")
def reach_expert(tmp_path_factory):
    out = tmp_path_factory.mktemp("expert")
    train_expert(get_task("metaworld_reach"), kind="scripted", seed=0, out=out)
    return out


def test_scripted_experts_succeed(tmp_path):
    """Scripted Metaworld experts: success >= 0.9 on each task over 10 episodes."""
    from bcvlr.experts.train import load_expert
    from bcvlr.run.evaluate import evaluate

    for name in ("metaworld_reach", "metaworld_faucet_open", "metaworld_faucet_close",
                 "metaworld_drawer_open"):  # fmt: skip
        task = get_task(name)
        train_expert(task, kind="scripted", seed=0, out=tmp_path / name)
        expert = load_expert(tmp_path / name, task)
        # Episodes run to the time limit (250 policy steps); success shows within ~50.
        result = evaluate(task, expert.act, episodes=10, seed=11, inputs="states")
        assert result.success_rate >= 0.9, (name, result.success_rate)


def test_collected_frames_equal_what_the_env_renders(reach_expert, tmp_path):
    task = get_task("metaworld_reach")
    stats = collect(task, reach_expert, steps=260, out=tmp_path / "v", seed=3, progress=False)
    ds = VideoDataset(tmp_path / "v", task=task.name)
    assert ds.num_transitions >= 260 and ds.complete
    assert stats["success_rate"] == 1.0 and stats["episodes"] == ds.num_episodes
    labels = ds.open_labels()
    frames = ds.episode_frames(0)
    actions = labels.episode(0).actions
    env = make(task, seed=3)  # the collector's first env: same seed, same goal
    obs = env.reset()
    np.testing.assert_array_equal(obs[0, -3:], frames[0])
    for t in (0, 1, 2, 3):
        obs = env.step(actions[t][None]).obs
        np.testing.assert_array_equal(obs[0, -3:], frames[t + 1])
    env.close()
    assert ds.render == env.render_settings


def test_collection_resumes_after_a_kill(reach_expert, tmp_path):
    import json
    import os
    import signal
    import subprocess
    import sys
    import time

    out = tmp_path / "v"
    cmd = [sys.executable, "-m", "bcvlr.cli", "collect-videos", "--task", "metaworld_reach",
           "--expert", str(reach_expert), "--steps", "1000", "--out", str(out),
           "--chunk-frames", "200", "--no-progress"]  # fmt: skip
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 120
    while time.time() < deadline:  # kill once the first chunk is on disk
        manifest = out / "manifest.json"
        if manifest.exists() and json.loads(manifest.read_text())["chunks"]:
            break
        time.sleep(0.2)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    partial = json.loads((out / "manifest.json").read_text())
    assert not partial["complete"] and 1 <= len(partial["chunks"]) < 4
    assert subprocess.run(cmd, capture_output=True).returncode == 0
    ds = VideoDataset(out, deep=True)
    assert ds.complete and ds.num_transitions >= 1000 and ds.num_episodes == 4
    assert ds.expert["episodes"] == 4
    firsts = [ds.episode_frames(e)[0].tobytes() for e in range(ds.num_episodes)]
    assert len(set(firsts)) == 4  # the resumed episodes are new ones, not replays


def test_action_noise_perturbs_the_stored_actions_the_env_received(reach_expert, tmp_path):
    from bcvlr.experts.train import load_expert

    task = get_task("metaworld_reach")
    collect(task, reach_expert, steps=250, out=tmp_path / "v", seed=3, progress=False,
            action_noise=0.3)  # fmt: skip
    ds = VideoDataset(tmp_path / "v", task=task.name)
    assert ds.expert["action_noise"] == 0.3
    actions = ds.open_labels().episode(0).actions
    frames = ds.episode_frames(0)
    env = make(task, seed=3)
    obs = env.reset()
    expert = load_expert(reach_expert, task)
    deviations = []
    for t in range(5):
        deviations.append(np.abs(actions[t] - expert.act(env.states())[0]).max())
        obs = env.step(actions[t][None]).obs
        np.testing.assert_array_equal(obs[0, -3:], frames[t + 1])  # the stored action was played
    env.close()
    assert np.abs(actions).max() <= 1.0 and min(deviations) > 0


def test_action_noise_is_refused_for_discrete_actions(tmp_path, capsys):
    from bcvlr.cli import main

    code = main(["collect-videos", "--task", "starpilot", "--expert", str(tmp_path),
                 "--out", str(tmp_path / "v"), "--action-noise", "0.1"])  # fmt: skip
    assert code == 2
    assert "continuous actions only" in capsys.readouterr().err


def test_collect_refuses_negative_or_discrete_action_noise_before_loading_an_expert(tmp_path):
    for task, std in (("starpilot", 0.1), ("reacher_easy", -0.1)):
        with pytest.raises(ValueError, match="continuous actions only"):
            collect(get_task(task), tmp_path / "no-expert", 10, tmp_path / "v", action_noise=std)
