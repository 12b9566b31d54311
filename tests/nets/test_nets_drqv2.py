"""DrQv2's building blocks: conv encoder size, random shifts, and the n-step replay buffer."""

from __future__ import annotations

import io

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from bcvlr.data.replay import ReplayBuffer
from bcvlr.nets.augment import RandomShift
from bcvlr.nets.encoders import ConvEncoder, IdentityEncoder
from bcvlr.nets.mlp import mlp, trunk


# -- encoder --------------------------------------------------------------------------------
@pytest.mark.parametrize("size, side", [(64, 25), (84, 35)])
def test_conv_encoder_feature_size_is_computed(size: int, side: int) -> None:
    enc = ConvEncoder((9, size, size))
    assert enc.repr_dim == 32 * side * side  # 20,000 at 64x64, DrQv2's 39,200 at 84x84
    out = enc(torch.randint(0, 256, (2, 9, size, size)).float())
    assert out.shape == (2, enc.repr_dim)


def test_identity_encoder_and_mlp_shapes() -> None:
    enc = IdentityEncoder((6,))
    x = torch.randn(4, 6)
    assert enc.repr_dim == 6 and enc(x) is x
    net = torch.nn.Sequential(trunk(6, 50), mlp(50, 32, 3, depth=2))
    assert net(x).shape == (4, 3)
    assert sum(isinstance(m, torch.nn.Linear) for m in net.modules()) == 4


# -- augmentation ---------------------------------------------------------------------------
def test_random_shift_is_an_integer_shift_with_replicate_padding() -> None:
    pad, n, c, h, w = 4, 64, 3, 16, 16
    # distinct, non-zero pixel values: a zero pad or a blend would show
    x = (torch.arange(n * c * h * w) % 251 + 1).float().reshape(n, c, h, w)
    out = RandomShift(pad)(x, generator=torch.Generator().manual_seed(0))
    assert out.shape == x.shape and out.dtype == torch.float32
    assert out.min() >= 1  # replicate padding, never zeros
    padded = F.pad(x, (pad,) * 4, mode="replicate")
    shifts = []
    for i in range(n):
        match = [(dy, dx) for dy in range(2 * pad + 1) for dx in range(2 * pad + 1)
                 if torch.equal(out[i], padded[i, :, dy:dy + h, dx:dx + w])]  # fmt: skip
        assert len(match) == 1, f"image {i} is not a pure shift of its input"
        shifts.append(match[0])
    assert len(set(shifts)) > 10  # independent shifts per image, pixels actually move


def test_random_shift_pad_zero_is_identity_and_uint8_input_works() -> None:
    x = torch.randint(0, 256, (2, 9, 64, 64), dtype=torch.uint8)
    assert torch.equal(RandomShift(0)(x), x)
    assert RandomShift(4)(x).shape == (2, 9, 64, 64)
    # uint8 frames are shifted before they become floats: the same views as float input
    shifted = RandomShift(4)(x, generator=torch.Generator().manual_seed(1))
    assert shifted.dtype == torch.float32
    assert torch.equal(shifted, RandomShift(4)(x.float(), generator=torch.Generator().manual_seed(1)))
    # as_float=False: the same views, left uint8 for a network that scales its own input
    kept = RandomShift(4, as_float=False)(x, generator=torch.Generator().manual_seed(1))
    assert kept.dtype == torch.uint8 and torch.equal(kept.float(), shifted)
    with pytest.raises(ValueError):
        RandomShift(-1)


# -- replay buffer --------------------------------------------------------------------------
def _all_samples(buf: ReplayBuffer, size: int = 4096):
    b = buf.sample(size, np.random.default_rng(0))
    return {float(o[0]): (float(r), float(d), float(no[0]), float(a[0]))
            for o, r, d, no, a in zip(b.obs, b.reward, b.discount, b.next_obs, b.action,
                                      strict=True)}  # fmt: skip


def test_nstep_returns_exact_on_a_hand_made_episode() -> None:
    g = 0.9
    buf = ReplayBuffer(100, (1,), 1, obs_dtype=np.float32, nstep=3, gamma=g)
    rewards = [1.0, 2.0, 4.0, 8.0, 16.0]
    buf.add_first(np.array([0.0]))
    for t, r in enumerate(rewards, start=1):
        buf.add(np.array([10.0 + t]), r, 1.0, np.array([float(t)]))
    got = _all_samples(buf)
    # starts 0..2 have a complete window; 3 and 4 (the last n-1 steps) start none
    assert set(got) == {0.0, 1.0, 2.0}
    for s in (0, 1, 2):
        ret = rewards[s] + g * rewards[s + 1] + g * g * rewards[s + 2]
        assert got[s] == pytest.approx((ret, g**3, s + 3.0, 11.0 + s))


def test_nstep_stops_at_a_terminal_and_does_not_bootstrap() -> None:
    g = 0.5
    buf = ReplayBuffer(100, (1,), 1, obs_dtype=np.float32, nstep=3, gamma=g)
    buf.add_first(np.array([0.0]))
    buf.add(np.array([0.0]), 1.0, 1.0, np.array([1.0]))
    buf.add(np.array([0.0]), 2.0, 0.0, np.array([2.0]))  # terminal
    with pytest.raises(RuntimeError):
        buf.add(np.array([0.0]), 0.0, 1.0, np.array([3.0]))  # needs add_first
    buf.add_first(np.array([100.0]))  # the next episode must not leak into the windows
    for t in range(1, 5):
        buf.add(np.array([0.0]), 100.0, 1.0, np.array([100.0 + t]))
    got = _all_samples(buf)
    assert got[0.0][:3] == pytest.approx((1.0 + g * 2.0, 0.0, 2.0))
    assert got[1.0][:3] == pytest.approx((2.0, 0.0, 2.0))
    assert got[100.0][:3] == pytest.approx((100 * (1 + g + g * g), g**3, 103.0))


def test_ring_buffer_wraps_without_mixing_old_and_new_data() -> None:
    g, n = 0.9, 3
    buf = ReplayBuffer(23, (1,), 1, obs_dtype=np.float32, nstep=n, gamma=g)
    t = 0
    for ep_len in [7, 9, 4, 11, 2, 8, 13]:  # many wraps, short and long episodes
        buf.add_first(np.array([float(t)]))
        for _ in range(ep_len):
            t += 1
            buf.add(np.array([float(t)]), float(t), 1.0, np.array([float(t)]))
        t += 1000  # the next episode's ids are far away
    got = _all_samples(buf)
    assert got
    for s, (ret, disc, nxt, action) in got.items():
        assert nxt == s + n and action == s + 1
        assert ret == pytest.approx(sum(g**k * (s + 1 + k) for k in range(n)))
        assert disc == pytest.approx(g**n)
    assert max(got) == t - 1000 - n  # the newest complete window is sampleable


def test_frame_stacks_are_rebuilt_with_the_env_rule() -> None:
    stack, c = 3, 3
    buf = ReplayBuffer(50, (stack * c, 2, 2), 2, frame_stack=stack, nstep=1, gamma=1.0)

    def frame(v: int) -> np.ndarray:
        return np.full((c, 2, 2), v, np.uint8)

    def stacked(*vs: int) -> np.ndarray:
        return np.concatenate([frame(v) for v in vs])

    buf.add_first(stacked(1, 1, 1))
    buf.add(np.zeros(2), 0.0, 1.0, stacked(1, 1, 2))
    buf.add(np.zeros(2), 0.0, 1.0, stacked(1, 2, 3))
    buf.add(np.zeros(2), 0.0, 1.0, stacked(2, 3, 4))
    b = buf.sample(200, np.random.default_rng(0))
    pairs = {(tuple(o[::c, 0, 0]), tuple(no[::c, 0, 0]))
             for o, no in zip(b.obs, b.next_obs, strict=True)}  # fmt: skip
    assert pairs == {((1, 1, 1), (1, 1, 2)), ((1, 1, 2), (1, 2, 3)), ((1, 2, 3), (2, 3, 4))}
    assert b.obs.dtype == np.uint8 and b.obs.shape == (200, 9, 2, 2)


def test_replay_state_dict_round_trips_through_torch_save() -> None:
    def fill(buf: ReplayBuffer) -> None:
        buf.add_first(np.zeros(3))
        for t in range(1, 40):
            buf.add(np.full(2, t), float(t), 1.0, np.full(3, float(t)))

    a = ReplayBuffer(30, (3,), 2, obs_dtype=np.float32, nstep=3)
    fill(a)
    f = io.BytesIO()
    torch.save(a.state_dict(), f)
    f.seek(0)
    b = ReplayBuffer(30, (3,), 2, obs_dtype=np.float32, nstep=3)
    b.load_state_dict(torch.load(f, weights_only=False))
    assert len(b) == len(a) and b.head == a.head
    sa, sb = a.sample(64, np.random.default_rng(1)), b.sample(64, np.random.default_rng(1))
    for k in ("obs", "action", "reward", "discount", "next_obs"):
        np.testing.assert_array_equal(getattr(sa, k), getattr(sb, k))
    # an unfinished episode continues after the restore
    b.add(np.zeros(2), 1.0, 1.0, np.full(3, 40.0))
    with pytest.raises(ValueError):
        ReplayBuffer(31, (3,), 2, obs_dtype=np.float32).load_state_dict(a.state_dict())
