import gc
import weakref

import numpy as np
import pytest

from bcvlr.data import DatasetError, VideoDataset, WindowSampler
from bcvlr.data import manifest as mf
from tests.data.video_helpers import SHAPE, decode, episode_actions, episode_rewards, write

# 40 episodes of 1..12 frames in chunks of ~20 frames: many chunks, many episode starts, and
# episodes too short for a window.
LENGTHS = [1 + (i * 7) % 12 for i in range(40)]


@pytest.fixture
def ds3(tmp_path):
    write(tmp_path / "ds", LENGTHS, frame_stack=3, chunk_frames=20)
    return VideoDataset(tmp_path / "ds")


def _check_windows(obs, window, k):
    b = len(obs)
    frames = obs.reshape(b, window, k, *SHAPE)
    ep, t = decode(frames)  # (B, window, k)
    newest = t[:, :, -1]
    assert (ep == ep[:, :1, :1]).all(), "a window or a stacked observation crosses episodes"
    assert (np.diff(newest, axis=1) == 1).all(), "window frames are not consecutive"
    # stacking rule: frame j back from t is max(t - j, 0) within the episode
    expect = np.maximum(newest[..., None] + np.arange(-(k - 1), 1), 0)
    np.testing.assert_array_equal(t, expect)
    for e, last in zip(ep[:, 0, 0], newest[:, -1], strict=True):
        assert last < LENGTHS[e]
    return ep[:, 0, 0], newest[:, 0]


@pytest.mark.parametrize("window", [2, 3])
def test_windows_never_cross_episodes(ds3, window):
    with WindowSampler(ds3, window=window, batch_size=64, seed=1, max_cached_chunks=3,
                       rotate_every=2) as s:  # fmt: skip
        starts = set()
        for _ in range(40):
            obs = s.sample()
            assert obs.shape == (64, window, 9, 4, 4) and obs.dtype == np.uint8
            ep, t0 = _check_windows(obs, window, 3)
            starts.update(zip(ep.tolist(), t0.tolist(), strict=True))
    # every window start was reachable, including t=0 (whose stacks repeat the first frame)
    possible = {(e, t) for e, n in enumerate(LENGTHS) for t in range(n - window + 1)}
    assert starts <= possible
    assert len(starts) > 0.9 * len(possible)


def test_same_seed_same_batches(ds3):
    def run(seed, prefetch):
        s = WindowSampler(ds3, window=3, batch_size=16, seed=seed, max_cached_chunks=3,
                          rotate_every=3, prefetch=prefetch)  # fmt: skip
        out = [s.sample() for _ in range(20)]
        s.close()
        return np.stack(out)

    a = run(7, prefetch=True)
    np.testing.assert_array_equal(a, run(7, prefetch=True))
    np.testing.assert_array_equal(a, run(7, prefetch=False))
    assert not np.array_equal(a, run(8, prefetch=True))


@pytest.mark.parametrize("stop", [1, 3, 7, 13])
@pytest.mark.parametrize("prefetch", [True, False])
def test_a_restored_sampler_draws_what_the_original_would_have(ds3, stop, prefetch):
    """A resumed stage loads the sampler's state from its checkpoint: the batches after it are
    the uninterrupted ones, through chunk rotations and a pending prefetch."""

    def sampler():
        return WindowSampler(ds3, window=2, batch_size=8, seed=3, max_cached_chunks=3,
                             rotate_every=2, prefetch=prefetch)  # fmt: skip

    with sampler() as straight, sampler() as killed:
        expected = [straight.sample() for _ in range(20)]
        for _ in range(stop):
            killed.sample()
        state = killed.state_dict()
        with sampler() as resumed:
            resumed.load_state_dict(state)
            np.testing.assert_array_equal(np.stack([resumed.sample() for _ in range(20 - stop)]),
                                          np.stack(expected[stop:]))  # fmt: skip


def test_cache_is_bounded_and_rotates_through_every_chunk(ds3, monkeypatch):
    alive: list[weakref.ref] = []
    original = VideoDataset.load_chunk

    def tracked(self, i):
        frames = original(self, i)
        alive.append(weakref.ref(frames))
        return frames

    monkeypatch.setattr(VideoDataset, "load_chunk", tracked)
    for prefetch in (True, False):
        alive.clear()
        s = WindowSampler(ds3, window=2, batch_size=8, seed=0, max_cached_chunks=2,
                          rotate_every=1, prefetch=prefetch)  # fmt: skip
        visited = set()
        for _ in range(3 * ds3.num_chunks):
            s.sample()
            gc.collect()
            assert len(s.held_chunks()) <= 2
            assert sum(r() is not None for r in alive) <= 2
            visited.update(s.held_chunks())
        assert visited == set(range(ds3.num_chunks))
        s.close()


def test_small_dataset_is_loaded_once(ds3):
    s = WindowSampler(ds3, window=2, batch_size=8, seed=0)  # default 2 GB budget: all fits
    assert not s.rotates and sorted(s.held_chunks()) == list(range(ds3.num_chunks))


def test_cache_mb_budget(ds3):
    chunk_mb = max(ds3.chunk_bytes(i) for i in range(ds3.num_chunks)) / 2**20
    s = WindowSampler(ds3, window=2, batch_size=4, seed=0, cache_mb=2.5 * chunk_mb)
    assert s.capacity == 2 and s.rotates
    with pytest.raises(ValueError, match="cannot hold one chunk"):
        WindowSampler(ds3, window=2, batch_size=4, seed=0, cache_mb=0.5 * chunk_mb)


def test_labels_match_windows_and_keep_the_random_stream(ds3):
    labels = ds3.open_labels()
    kw = dict(window=3, batch_size=32, seed=3, max_cached_chunks=2, rotate_every=2)
    plain = WindowSampler(ds3, **kw)
    labeled = WindowSampler(ds3, **kw)
    for _ in range(10):
        obs = plain.sample()
        batch = labeled.sample_with_labels(labels)
        np.testing.assert_array_equal(batch.obs, obs)
        ep, t0 = _check_windows(batch.obs, 3, 3)
        np.testing.assert_array_equal(batch.index.episode, ep)
        np.testing.assert_array_equal(batch.index.step, t0)
        for b in range(len(ep)):
            np.testing.assert_array_equal(
                batch.actions[b], episode_actions(ep[b], LENGTHS[ep[b]])[t0[b] : t0[b] + 2]
            )
            np.testing.assert_array_equal(
                batch.rewards[b], episode_rewards(ep[b], LENGTHS[ep[b]])[t0[b] : t0[b] + 2]
            )


def test_frame_reader_never_loads_labels(ds3, monkeypatch):
    opened = []
    for name in ("load_npz", "read_npz_header", "sha256_file"):
        original = getattr(mf, name)

        def spy(path, *a, _original=original, **kw):
            opened.append(str(path))
            return _original(path, *a, **kw)

        monkeypatch.setattr(mf, name, spy)
    ds = VideoDataset(ds3.path, deep=True)
    s = WindowSampler(ds, window=2, batch_size=8, seed=0, max_cached_chunks=2, rotate_every=1)
    for _ in range(10):
        s.sample()
    ds.episode_frames(3)
    list(ds.iter_episodes())
    assert opened and not any("labels" in p for p in opened)
    # and without the labels folder at all, everything but open_labels() still works
    for p in (ds.path / "labels").iterdir():
        p.unlink()
    VideoDataset(ds.path, deep=True)
    with pytest.raises(DatasetError, match="labels"):
        ds.open_labels()


def test_dataset_without_long_enough_episodes(tmp_path):
    write(tmp_path / "ds", [1, 2, 1])
    ds = VideoDataset(tmp_path / "ds")
    WindowSampler(ds, window=2, batch_size=2)
    with pytest.raises(DatasetError, match="no episode has 3 frames"):
        WindowSampler(ds, window=3, batch_size=2)


def test_a_sampler_of_some_chunks_draws_only_their_windows(tmp_path):
    write(tmp_path / "ds", LENGTHS, chunk_frames=20)
    ds = VideoDataset(tmp_path / "ds")
    assert ds.num_chunks > 4
    with WindowSampler(ds, batch_size=64, seed=0, chunks=[0, 2], max_cached_chunks=1,
                       rotate_every=1) as s:  # fmt: skip
        for _ in range(10):
            assert set(s.sample_index().chunk) <= {0, 2}
            assert set(s.held_chunks()) <= {0, 2}
    with pytest.raises(DatasetError):
        WindowSampler(ds, chunks=[])
