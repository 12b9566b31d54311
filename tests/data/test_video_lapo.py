import argparse

import numpy as np
import pytest

from bcvlr.cli import main as cli_main
from bcvlr.data import IncompleteDatasetError, VideoDataset, VideoDatasetWriter
from bcvlr.data.lapo import LAPO_RENDER, import_lapo
from bcvlr.data.lapo import main as lapo_main
from bcvlr.errors import CliError

# A stream of 120 steps over files 0, 2 and 10 (numeric order, not lexicographic). Episodes end
# after steps 9, 95, 100, 101: the second runs across all three files, the fourth has one frame,
# and steps 102..119 belong to an episode the data never finishes.
FILES = {0: range(0, 40), 2: range(40, 80), 10: range(80, 120)}
DONE = [9, 95, 100, 101]
EPISODES = [(0, 9), (10, 95), (96, 100), (101, 101)]


def _stream(n=120):
    i = np.arange(n)
    obs = np.zeros((n, 64, 64, 3), np.uint8)
    obs[..., 0] = (i % 256)[:, None, None]
    obs[..., 1] = np.arange(64)[None, :, None]  # rows differ: catches an HWC/CHW mix-up
    obs[..., 2] = 77
    done = np.zeros(n, bool)
    done[DONE] = True
    return {
        "obs": obs,
        "ta": (i * 7) % 15,
        "done": done,
        "rewards": (i % 5).astype(np.float32),
        "ep_returns": np.zeros(n, np.float32),
        "values": np.zeros(n, np.float32),
    }


def make_lapo(root, game="coinrun", split="train", drop_key=None, **override):
    data = {**_stream(), **override}
    folder = root / game / split
    folder.mkdir(parents=True)
    for name, steps in FILES.items():
        arrays = {k: v[steps.start : steps.stop] for k, v in data.items() if k != drop_key}
        np.savez_compressed(folder / f"{name}.npz", **arrays)
    return root / game


def test_import_converts_episodes_across_files(tmp_path):
    src = make_lapo(tmp_path / "expert_data")
    ds = import_lapo(src, "coinrun", tmp_path / "out", chunk_frames=32)
    data = _stream()
    assert ds.num_episodes == len(EPISODES)
    assert ds.num_frames == sum(e - s + 1 for s, e in EPISODES)
    assert ds.frame_shape == (3, 64, 64) and ds.frame_stack == 1
    assert ds.render == LAPO_RENDER
    labels = ds.open_labels()
    for ep, (s, e) in enumerate(EPISODES):
        frames = ds.episode_frames(ep)
        np.testing.assert_array_equal(frames, data["obs"][s : e + 1].transpose(0, 3, 1, 2))
        lab = labels.episode(ep)
        np.testing.assert_array_equal(lab.actions, data["ta"][s:e])
        np.testing.assert_array_equal(lab.rewards, data["rewards"][s:e])
        assert lab.actions.dtype == np.int64
    m = ds.manifest
    src_info = m["source"]
    assert src_info["split"] == "train" and src_info["format"] == "lapo"
    assert [f["file"] for f in src_info["files"]] == ["train/0.npz", "train/2.npz", "train/10.npz"]
    assert all(len(f["sha256"]) == 64 for f in src_info["files"])
    assert (src_info["dropped_episodes"], src_info["dropped_frames"]) == (1, 18)
    returns = [data["rewards"][s : e + 1].sum() for s, e in EPISODES]
    assert m["expert"]["mean_return"] == pytest.approx(np.mean(returns))
    assert m["expert"]["episodes"] == len(EPISODES)


def test_import_resumes_after_interruption(tmp_path, monkeypatch):
    src = make_lapo(tmp_path / "expert_data")

    def killed(self):
        raise KeyboardInterrupt

    with monkeypatch.context() as mp:
        mp.setattr(VideoDatasetWriter, "close", killed)
        with pytest.raises(KeyboardInterrupt):
            import_lapo(src, "coinrun", tmp_path / "out", chunk_frames=8)
    partial = VideoDataset(tmp_path / "out", allow_incomplete=True)
    assert 0 < partial.num_episodes < len(EPISODES)
    ds = import_lapo(src, "coinrun", tmp_path / "out", chunk_frames=8)
    clean = import_lapo(src, "coinrun", tmp_path / "clean", chunk_frames=8)
    assert ds.num_frames == clean.num_frames and ds.num_episodes == clean.num_episodes
    for ep in range(ds.num_episodes):
        np.testing.assert_array_equal(ds.episode_frames(ep), clean.episode_frames(ep))


def test_import_refuses_to_resume_from_changed_source(tmp_path, monkeypatch):
    src = make_lapo(tmp_path / "expert_data")
    with monkeypatch.context() as mp:
        mp.setattr(VideoDatasetWriter, "close", lambda self: None)
        with pytest.raises(IncompleteDatasetError):
            import_lapo(src, "coinrun", tmp_path / "out", chunk_frames=8)
    data = dict(np.load(src / "train" / "2.npz"))
    data["ta"] = data["ta"][::-1].copy()
    np.savez_compressed(src / "train" / "2.npz", **data)
    with pytest.raises(CliError, match="ProvenanceMismatchError.*source"):
        import_lapo(src, "coinrun", tmp_path / "out", chunk_frames=8)


def test_cli_import_then_validate(tmp_path, capsys):
    src = make_lapo(tmp_path / "expert_data", split="test")
    out = tmp_path / "out"
    argv = ["import-videos", "--format", "lapo", "--src", str(src), "--task", "coinrun",
            "--out", str(out), "--split", "test"]  # fmt: skip
    assert cli_main(argv) == 0
    assert cli_main(["validate-videos", str(out), "--task", "coinrun"]) == 0
    assert VideoDataset(out).manifest["source"]["split"] == "test"
    assert cli_main(argv) == 2
    assert "already holds a complete dataset" in capsys.readouterr().err


def _args(src, task="coinrun", out=None, split="train"):
    return argparse.Namespace(format="lapo", src=str(src), task=task, out=str(out), split=split)


@pytest.mark.parametrize(
    "setup, task, match",
    [
        (lambda r: r / "nowhere", "coinrun", "no such folder"),
        (
            lambda r: (r / "coinrun").mkdir(parents=True) or r / "coinrun",
            "coinrun",
            "no train/ folder",
        ),
        (
            lambda r: (r / "coinrun" / "train").mkdir(parents=True) or r / "coinrun",
            "coinrun",
            "no <int>.npz files",
        ),
        (lambda r: make_lapo(r, drop_key="ta"), "coinrun", "missing key.*ta"),
        (
            lambda r: make_lapo(r, obs=np.zeros((120, 32, 32, 3), np.uint8)),
            "coinrun",
            "'obs' has shape",
        ),
        (
            lambda r: make_lapo(r, obs=np.zeros((120, 64, 64, 3), np.float32)),
            "coinrun",
            "'obs' has dtype",
        ),
        (lambda r: make_lapo(r, done=np.zeros(120, bool)), "coinrun", "no step has done"),
        (lambda r: make_lapo(r), "nosuchgame", "unknown task"),
        (lambda r: make_lapo(r, game="maze"), "coinrun", "procgen game 'maze'"),
    ],
    ids=[
        "no-src",
        "no-split",
        "no-npz",
        "missing-key",
        "obs-shape",
        "obs-dtype",
        "no-done",
        "unknown-task",
        "other-game",
    ],  # fmt: skip
)
def test_import_errors(tmp_path, setup, task, match):
    src = setup(tmp_path / "expert_data")
    with pytest.raises(CliError, match=match):
        lapo_main(_args(src, task=task, out=tmp_path / "out"))
    assert not (tmp_path / "out").exists()  # nothing written before the input was checked


def test_import_error_on_truncated_file(tmp_path):
    src = make_lapo(tmp_path / "expert_data")
    (src / "train" / "2.npz").write_bytes(b"PK\x03\x04 not really")
    with pytest.raises(CliError, match="2.npz"):
        lapo_main(_args(src, out=tmp_path / "out"))
