"""The per-frame feature table gives the windows the sampler would give, frame for frame."""

import numpy as np
import pytest
import torch

from bcvlr.data import VideoDataset, WindowSampler
from bcvlr.data.frame_features import FrameFeatures, table_bytes
from bcvlr.data.video_batches import VideoBatches
from tests.data.test_video_sampler import LENGTHS
from tests.data.video_helpers import write


def as_features(obs: torch.Tensor) -> torch.Tensor:
    """A stand-in for f that keeps every pixel, so equality means the same frames."""
    return obs.float().flatten(1)


@pytest.mark.parametrize("window", [2, 3])
@pytest.mark.parametrize("cached_chunks", [2, None])  # a rotating chunk cache, and all chunks
def test_gathered_features_are_those_of_the_sampled_windows(tmp_path, window, cached_chunks):
    write(tmp_path / "ds", LENGTHS, frame_stack=3, chunk_frames=20)
    ds = VideoDataset(tmp_path / "ds")
    table = FrameFeatures.compute(ds, as_features, torch.device("cpu"))
    assert table.table.shape == (ds.num_frames, 9 * 4 * 4)
    assert table_bytes(ds, (9, 4, 4)) == table.table.numel() * 4

    def sampler():
        return WindowSampler(ds, window=window, batch_size=32, seed=5,
                             max_cached_chunks=cached_chunks, rotate_every=3)  # fmt: skip

    with sampler() as frames, sampler() as index:
        for _ in range(30):
            expected = as_features(torch.from_numpy(frames.sample()).flatten(0, 1))
            got = table.gather(index.sample_index(), window)
            assert got.shape == (32, window, 9 * 4 * 4)
            torch.testing.assert_close(got.flatten(0, 1), expected, rtol=0, atol=0)


def test_an_index_batch_consumes_the_random_stream_like_a_frame_batch(tmp_path):
    write(tmp_path / "ds", LENGTHS, frame_stack=3, chunk_frames=20)
    ds = VideoDataset(tmp_path / "ds")
    with WindowSampler(ds, batch_size=8, seed=1) as a, WindowSampler(ds, batch_size=8, seed=1) as b:
        a.sample_index()
        b.sample()
        np.testing.assert_array_equal(a.sample(), b.sample())


@pytest.mark.parametrize("width", [2, 3])
def test_a_function_of_each_window_is_read_at_its_first_row(tmp_path, width):
    """of_windows(fn)[row of a window's first frame] is fn of that window's features."""
    write(tmp_path / "ds", LENGTHS, frame_stack=3, chunk_frames=20)
    ds = VideoDataset(tmp_path / "ds")
    table = FrameFeatures.compute(ds, as_features, torch.device("cpu"))
    summed = table.of_windows(lambda w: w.sum(1), width, batch=7)  # fn: (N, width, D) -> (N, D)
    assert summed.shape == table.table.shape
    with WindowSampler(ds, window=width, batch_size=32, seed=2, max_cached_chunks=2) as s:
        for _ in range(10):
            index = s.sample_index()
            want = table.gather(index, width).sum(1)
            torch.testing.assert_close(summed[table.rows(index)], want, rtol=0, atol=0)


@pytest.mark.parametrize("frame_stack", [1, 3])
def test_frames_held_on_the_device_give_the_sampled_batches(tmp_path, frame_stack):
    """VideoBatches.hold_frames: the same batches, byte for byte, from the same random stream
    (several datasets: multi-task pretraining), and state_dict resumes them alike."""
    for name, first in (("a", 0), ("b", 100)):
        write(tmp_path / name, LENGTHS, frame_stack=frame_stack, chunk_frames=20, first_episode=first)
    datasets = [VideoDataset(tmp_path / n) for n in ("a", "b")]
    cpu = torch.device("cpu")
    plain, held = (VideoBatches(datasets, window=3, batch_size=16, seed=4) for _ in range(2))
    assert held.hold_frames(cpu, limit_mb=1.0)["frames_on_device/mb"] > 0
    for _ in range(12):
        assert torch.equal(held.sample(cpu), plain.sample(cpu))
    assert held.hold_frames(cpu, limit_mb=1e-6) == {"frames_on_device/mb": 0.0}
    assert held.frames is None and torch.equal(held.sample(cpu), plain.sample(cpu))
    resumed = VideoBatches(datasets, window=3, batch_size=16, seed=9)
    resumed.load_state_dict(plain.state_dict())
    resumed.hold_frames(cpu, limit_mb=1.0)
    assert torch.equal(resumed.sample(cpu), plain.sample(cpu))
