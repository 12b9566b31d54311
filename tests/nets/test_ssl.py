"""Self-supervised heads: soft update, bilinear contrastive loss, Sinkhorn, prototypes, decoder."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from bcvlr.nets.ssl import (
    CurlContrastive,
    PrototypeTemporal,
    ReconstructionDecoder,
    contrastive_loss,
    sinkhorn,
    soft_update,
)


def test_soft_update_exact() -> None:
    torch.manual_seed(0)
    online, target = nn.Linear(3, 2), nn.Linear(3, 2)
    before = [p.clone() for p in target.parameters()]
    soft_update(target, online, tau=0.05)
    for t, o, b in zip(target.parameters(), online.parameters(), before, strict=True):
        assert torch.equal(t, 0.05 * o + 0.95 * b)
    soft_update(target, online, tau=1.0)
    pairs = zip(target.parameters(), online.parameters(), strict=True)
    assert all(torch.equal(t, o) for t, o in pairs)


def test_contrastive_loss_identity_w_orthonormal_embeddings() -> None:
    # logits = I: each row is -log(e / (e + B - 1)) = log(e + 3) - 1 for B = 4
    e = torch.eye(4)
    assert contrastive_loss(e, e, torch.eye(4)).item() == pytest.approx(
        math.log(math.e + 3) - 1, abs=1e-6
    )
    # W scales the logits (no temperature): logits = 2I
    assert contrastive_loss(e, e, 2 * torch.eye(4)).item() == pytest.approx(
        math.log(math.exp(2) + 3) - 2, abs=1e-6
    )


def test_contrastive_loss_bilinear_orientation() -> None:
    # logits[i, j] = a_i^T W t_j: with W = E_01 only a_i[0] * t_j[1] counts
    a = torch.tensor([[1.0, 0.0], [0.0, 0.0]])
    t = torch.tensor([[0.0, 1.0], [0.0, 0.0]])
    w = torch.tensor([[0.0, 1.0], [0.0, 0.0]])
    # logits [[1, 0], [0, 0]]: row 0 -> -log(e/(e+1)), row 1 -> log 2
    expected = (math.log(1 + math.e) - 1 + math.log(2)) / 2
    assert contrastive_loss(a, t, w).item() == pytest.approx(expected, abs=1e-6)


def test_sinkhorn_marginals() -> None:
    torch.manual_seed(1)
    b, k = 16, 8
    scores = torch.nn.functional.normalize(torch.randn(b, k), dim=1) * 0.3
    q3 = sinkhorn(scores, iters=3, temperature=0.1)
    # the last normalisation is per sample: rows are distributions, exactly
    torch.testing.assert_close(q3.sum(1), torch.ones(b), rtol=0, atol=1e-6)
    assert (q3 >= 0).all()
    # prototypes receive B/K each once the iterations have converged
    q = sinkhorn(scores, iters=500, temperature=0.1)
    torch.testing.assert_close(q.sum(0), torch.full((k,), b / k), rtol=0, atol=1e-5)
    torch.testing.assert_close(q.sum(1), torch.ones(b), rtol=0, atol=1e-6)
    # zero iterations is a per-sample softmax; uniform scores give uniform targets
    torch.testing.assert_close(sinkhorn(scores, 0, 0.1), torch.softmax(scores / 0.1, 1))
    torch.testing.assert_close(sinkhorn(torch.zeros(b, k)), torch.full((b, k), 1 / k))


def test_prototypes_normalised_and_loss_backprops() -> None:
    torch.manual_seed(2)
    head = PrototypeTemporal(feature_dim=6 * 4 * 4, proj_dim=8, hidden_dim=16, num_prototypes=10)
    with torch.no_grad():
        head.prototypes.weight.mul_(3.0)
    anchor = torch.randn(5, 6, 4, 4, requires_grad=True)
    loss = head(anchor, torch.randn(5, 6, 4, 4))
    torch.testing.assert_close(head.prototypes.weight.norm(dim=1), torch.ones(10))
    assert loss.item() > 0
    loss.backward()
    assert anchor.grad is not None and head.prototypes.weight.grad is not None
    assert all(p.grad is None for p in head.target_projector.parameters())


def test_prototype_loss_equals_cross_entropy_to_sinkhorn_targets() -> None:
    torch.manual_seed(3)
    head = PrototypeTemporal(feature_dim=12, proj_dim=4, hidden_dim=8, num_prototypes=6)
    x, y = torch.randn(7, 12), torch.randn(7, 12)
    loss = head(x, y)
    f = torch.nn.functional
    s = f.normalize(head.predictor(head.projector(x)), dim=1)
    t = f.normalize(head.target_projector(y), dim=1)
    q = sinkhorn(head.prototypes(t), 3, 0.1)
    expected = -(q * f.log_softmax(head.prototypes(s) / 0.1, 1)).sum(1).mean()
    torch.testing.assert_close(loss, expected)


def test_curl_head_and_target_update() -> None:
    torch.manual_seed(4)
    head = CurlContrastive(feature_dim=3 * 4 * 4, proj_dim=8, hidden_dim=16)
    assert torch.equal(head.projector[1].weight, head.target_projector[1].weight)
    x = torch.randn(6, 3, 4, 4)
    loss = head(x, x)
    loss.backward()
    assert head.w.weight.grad is not None and head.projector[1].weight.grad is not None
    assert head.w.bias is None
    with torch.no_grad():
        head.projector[1].weight.add_(1.0)
    old = head.target_projector[1].weight.clone()
    head.update_target(0.05)
    torch.testing.assert_close(
        head.target_projector[1].weight, 0.05 * head.projector[1].weight + 0.95 * old
    )


def test_reconstruction_decoder() -> None:
    torch.manual_seed(5)
    dec = ReconstructionDecoder(16, 3)
    feats = torch.randn(2, 16, 64, 64, requires_grad=True)
    obs = torch.rand(2, 3, 64, 64) - 0.5
    out = dec(feats)
    assert out.shape == obs.shape
    loss = dec.loss(feats, obs)
    torch.testing.assert_close(loss, ((out - obs) ** 2).mean())
    loss.backward()
    assert feats.grad is not None
