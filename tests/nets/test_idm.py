"""The pixel action networks of bcvlr/nets/idm.py: shapes, losses and scores for both kinds of
action, acting, the shared shift of a pair, and an IDM that learns a synthetic dynamics."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from bcvlr.nets.augment import RandomShift
from bcvlr.nets.idm import ActionNet, InverseDynamics, sample_actions
from bcvlr.tasks import ActionSpace

DISCRETE, CONTINUOUS = ActionSpace("discrete", 5), ActionSpace("continuous", 3)
SMALL = dict(channels=(4, 8), hidden=16)


def frames(*shape: int, seed: int = 0) -> torch.Tensor:
    return torch.from_numpy(np.random.default_rng(seed).integers(0, 256, shape, dtype=np.uint8))


def test_outputs_losses_and_labels_per_action_kind():
    obs = frames(6, 3, 16, 16)
    policy = ActionNet((3, 16, 16), DISCRETE, **SMALL)
    logits = policy(obs)
    assert logits.shape == (6, 5)
    target = torch.tensor([0, 1, 2, 3, 4, 0])
    assert policy.loss(logits, target).item() == pytest.approx(
        nn.functional.cross_entropy(logits, target).item()
    )
    np.testing.assert_array_equal(policy.label(logits), logits.argmax(-1))

    policy = ActionNet((9, 16, 16), CONTINUOUS, **SMALL)
    out = policy(frames(6, 9, 16, 16))
    assert out.shape == (6, 3) and out.abs().max() <= 1.0  # tanh-squashed into the box
    target = torch.rand(6, 3) * 2 - 1
    assert policy.loss(out, target).item() == pytest.approx(((out - target) ** 2).mean().item())
    assert torch.equal(policy.label(out), out) and not policy.label(out).requires_grad


def test_scores_accuracy_and_r2():
    net = ActionNet((3, 8, 8), DISCRETE, **SMALL)
    logits = torch.eye(5)[[0, 1, 2, 3]]
    assert net.metrics(logits, torch.tensor([0, 1, 2, 0])) == {"accuracy": 0.75}

    net = ActionNet((3, 8, 8), CONTINUOUS, **SMALL)
    target = torch.randn(100, 3)
    assert net.metrics(target, target)["r2"] == pytest.approx(1.0)
    mean = target.mean(0).expand_as(target)
    assert net.metrics(mean, target)["r2"] == pytest.approx(0.0, abs=1e-5)
    # a dimension that never varies does not make the score undefined
    target[:, 0] = 0.5
    assert np.isfinite(net.metrics(target + 0.1, target)["r2"])


def test_inverse_dynamics_stacks_the_pair_and_shifts_both_frames_alike():
    idm = InverseDynamics((3, 16, 16), DISCRETE, **SMALL)
    assert idm.convs.in_shape == (6, 16, 16)
    pairs = frames(4, 2, 3, 16, 16)
    seen = []

    def spy(x):
        seen.append(x)
        return x

    out = idm(pairs, spy)
    assert out.shape == (4, 5)
    # the augmentation gets both frames as one image: one random offset moves both
    assert seen[0].shape == (4, 6, 16, 16)
    torch.testing.assert_close(seen[0], pairs.flatten(1, 2).float())
    # a pair of identical frames stays identical after the shared shift
    same = pairs[:, :1].expand(-1, 2, -1, -1, -1)
    moved = RandomShift(2)(same.flatten(1, 2).float()).unflatten(1, (2, 3))
    torch.testing.assert_close(moved[:, 0], moved[:, 1])
    with pytest.raises(ValueError, match=r"\(B, 2, C, H, W\)"):
        idm(frames(4, 6, 16, 16))
    # Procgen's window (o_t-1, o_t, o_t+1)
    idm3 = InverseDynamics((3, 16, 16), DISCRETE, **SMALL, window=3)
    assert idm3.convs.in_shape == (9, 16, 16) and idm3(frames(4, 3, 3, 16, 16)).shape == (4, 5)
    with pytest.raises(ValueError, match=r"\(B, 3, C, H, W\)"):
        idm3(pairs)


def test_acting_is_reproducible_and_in_the_action_space():
    logits = torch.tensor([[0.0, 5.0, 0.0], [3.0, 0.0, 0.0]])
    np.testing.assert_array_equal(sample_actions(logits, True, True), [1, 0])
    draws = [sample_actions(logits, True, False, generator=torch.Generator().manual_seed(3))
             for _ in range(2)]  # fmt: skip
    np.testing.assert_array_equal(draws[0], draws[1])
    mean = torch.tensor([[0.95, -0.2]])
    assert np.array_equal(sample_actions(mean, False, True, noise_std=1.0), mean.numpy())
    noisy = sample_actions(mean.expand(500, 2), False, False, noise_std=0.5)
    assert noisy.dtype == np.float32 and noisy.min() >= -1 and noisy.max() <= 1
    assert noisy.std(0).min() > 0.2

    policy = ActionNet((3, 16, 16), DISCRETE, **SMALL)
    acts = policy.act(frames(7, 3, 16, 16).numpy(), deterministic=False,
                      generator=torch.Generator().manual_seed(0))  # fmt: skip
    assert acts.shape == (7,) and acts.dtype == np.int64 and ((acts >= 0) & (acts < 5)).all()


def test_idm_learns_which_way_the_picture_moved():
    """o_t+1 is o_t rolled one pixel in one of four directions: the action."""
    torch.manual_seed(0)
    rng = np.random.default_rng(0)
    moves = [(0, 1), (0, -1), (1, 1), (1, -1)]  # (axis of H/W, step)

    def batch(n: int):
        obs = rng.integers(0, 256, (n, 1, 12, 12), dtype=np.uint8)
        acts = rng.integers(0, 4, n)
        nxt = np.stack(
            [np.roll(o, moves[a][1], axis=1 + moves[a][0]) for o, a in zip(obs, acts, strict=True)]
        )
        return torch.from_numpy(np.stack([obs, nxt], 1)), torch.from_numpy(acts)

    idm = InverseDynamics((1, 12, 12), ActionSpace("discrete", 4), channels=(8,), hidden=32)
    opt = torch.optim.Adam(idm.parameters(), lr=3e-3)
    for _ in range(150):
        pairs, acts = batch(32)
        loss = idm.loss(idm(pairs), acts)
        opt.zero_grad()
        loss.backward()
        opt.step()
    pairs, acts = batch(256)
    with torch.no_grad():
        assert idm.metrics(idm(pairs), acts)["accuracy"] > 0.9
