import json

import numpy as np
import pytest

from bcvlr.data import (
    DtypeError,
    ShapeError,
    VideoDataset,
    VideoDatasetWriter,
    stack_episode,
)
from tests.data.video_helpers import (
    RENDER,
    SHAPE,
    TASK,
    decode,
    episode_actions,
    episode_frames,
    episode_rewards,
    write,
)

LENGTHS = [5, 1, 12, 30, 7, 9, 2, 16]


def test_frames_written_are_frames_read(tmp_path):
    write(tmp_path / "ds", LENGTHS, chunk_frames=20)
    ds = VideoDataset(tmp_path / "ds")
    assert (ds.num_episodes, ds.num_frames) == (len(LENGTHS), sum(LENGTHS))
    assert ds.num_transitions == sum(LENGTHS) - len(LENGTHS)
    for ep, n in enumerate(LENGTHS):
        np.testing.assert_array_equal(ds.episode_frames(ep), episode_frames(ep, n))
    seen = [(ep, f) for ep, f in ds.iter_episodes()]
    assert [ep for ep, _ in seen] == list(range(len(LENGTHS)))
    for ep, f in seen:
        np.testing.assert_array_equal(f, episode_frames(ep, LENGTHS[ep]))


def test_chunks_hold_whole_episodes_and_flush_at_chunk_frames(tmp_path):
    write(tmp_path / "ds", LENGTHS, chunk_frames=20)
    m = json.loads((tmp_path / "ds" / "manifest.json").read_text())
    # 5+1+12=18 < 20, +30 -> flush; 7+9+2=18, +16 -> flush; nothing left for close()
    assert [c["episode_lengths"] for c in m["chunks"]] == [[5, 1, 12, 30], [7, 9, 2, 16]]
    assert m["counts"] == {"episodes": 8, "frames": 82, "transitions": 74}
    assert m["complete"] and m["task"] == TASK and m["suite"] == "procgen"
    assert m["render"] == RENDER and m["expert"] == {"checkpoint": "x.pt"}
    assert m["frame_shape"] == list(SHAPE) and m["frame_dtype"] == "uint8"
    assert m["has_actions"] and m["has_rewards"]
    assert m["compression"]["codec"] == "npz-deflate"
    assert {"bcvlr", "numpy", "python"} <= set(m["writer"])
    assert all(len(c["sha256"]) == 64 and c["labels_file"] for c in m["chunks"])


def test_close_flushes_partial_chunk(tmp_path):
    write(tmp_path / "ds", [3, 4], chunk_frames=1000)
    ds = VideoDataset(tmp_path / "ds")
    assert ds.num_chunks == 1 and ds.num_episodes == 2


def test_stacking_rule_repeats_the_episode_first_frame():
    f = episode_frames(3, 6)
    obs = stack_episode(f, 3)
    assert obs.shape == (6, 9, *SHAPE[1:])

    def stacked(*ts):
        return np.concatenate([f[t] for t in ts])

    np.testing.assert_array_equal(obs[0], stacked(0, 0, 0))
    np.testing.assert_array_equal(obs[1], stacked(0, 0, 1))
    np.testing.assert_array_equal(obs[2], stacked(0, 1, 2))
    np.testing.assert_array_equal(obs[5], stacked(3, 4, 5))


def test_episode_obs_stacks_within_the_episode_only(tmp_path):
    write(tmp_path / "ds", [4, 6], frame_stack=3, chunk_frames=100)
    ds = VideoDataset(tmp_path / "ds")
    obs = ds.episode_obs(1)  # the second episode in the chunk: must not reach into the first
    assert obs.shape == (6, 9, 4, 4)
    eps, ts = decode(obs.reshape(6, 3, *SHAPE))
    assert (eps == 1).all()
    assert ts.tolist()[:3] == [[0, 0, 0], [0, 0, 1], [0, 1, 2]]
    assert ts[5].tolist() == [3, 4, 5]
    _, obs_iter = next(iter(ds.iter_episodes(stacked=True)))
    assert obs_iter.shape == (4, 9, 4, 4)


def test_labels_round_trip(tmp_path):
    write(tmp_path / "ds", LENGTHS, chunk_frames=20)
    labels = VideoDataset(tmp_path / "ds").open_labels(deep=True)
    for ep, n in enumerate(LENGTHS):
        lab = labels.episode(ep)
        np.testing.assert_array_equal(lab.actions, episode_actions(ep, n - 1))
        np.testing.assert_array_equal(lab.rewards, episode_rewards(ep, n - 1))


def test_video_only_dataset(tmp_path):
    write(tmp_path / "ds", [4, 5], labels=False)
    ds = VideoDataset(tmp_path / "ds")
    assert not ds.has_actions and not ds.has_rewards
    assert not any((tmp_path / "ds" / "labels").iterdir())
    with pytest.raises(Exception, match="no actions or rewards"):
        ds.open_labels()


def test_add_episode_rejects_bad_input(tmp_path):
    w = VideoDatasetWriter(tmp_path / "ds", TASK, SHAPE, 1, RENDER)
    with pytest.raises(DtypeError, match="uint8"):
        w.add_episode(episode_frames(0, 3).astype(np.float32))
    with pytest.raises(ShapeError, match="frames"):
        w.add_episode(np.zeros((3, 3, 5, 4), np.uint8))
    with pytest.raises(ShapeError, match="actions"):
        w.add_episode(episode_frames(0, 3), episode_actions(0, 3))
    w.add_episode(episode_frames(0, 3), episode_actions(0, 2))
    with pytest.raises(ShapeError, match="every episode"):
        w.add_episode(episode_frames(1, 3))
    with pytest.raises(DtypeError, match="action dtype"):
        w.add_episode(episode_frames(1, 3), episode_actions(1, 2).astype(np.int32))


def test_writer_rejects_unknown_task(tmp_path):
    with pytest.raises(KeyError, match="unknown task"):
        VideoDatasetWriter(tmp_path / "ds", "nosuchgame", SHAPE, 1, RENDER)
