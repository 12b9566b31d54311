"""VectorQuantizer: assignment, EMA update, eval freeze, straight-through, commitment loss."""

from __future__ import annotations

import pytest
import torch

from bcvlr.nets.vq import VectorQuantizer


def _tiny(decay: float = 0.5, eps: float = 0.1) -> VectorQuantizer:
    """One codebook, two positions of 2 dims, two entries: (0, 0) and (10, 10)."""
    vq = VectorQuantizer(
        latent_dim=4,
        num_codebooks=1,
        num_discrete_latents=2,
        num_embeddings=2,
        decay=decay,
        eps=eps,
    )
    vq.embedding.copy_(torch.tensor([[[0.0, 0.0], [10.0, 10.0]]]))
    vq.ema_weight.copy_(vq.embedding)
    return vq


# LAPO's channel-major layout: unit d * positions + p is dimension d of position p, so
# positions (1,1) (9,9) | (2,0) (0,2): codes 0, 1 | 0, 0
Z = torch.tensor([[1.0, 9.0, 1.0, 9.0], [2.0, 0.0, 0.0, 2.0]])


def test_defaults_match_lapo() -> None:
    torch.manual_seed(0)
    vq = VectorQuantizer()
    assert vq.embedding.shape == (2, 64, 16)
    assert vq.embedding.abs().max() <= 5 / 64
    assert torch.equal(vq.ema_count, torch.zeros(2, 64))
    assert torch.equal(vq.ema_weight, vq.embedding)
    z_q, loss, idx = vq.eval()(torch.randn(5, 128))
    assert z_q.shape == (5, 128) and loss.shape == () and idx.shape == (5, 8)
    assert idx.min() >= 0 and idx.max() < 64


def test_assignment_equals_brute_force_argmin() -> None:
    torch.manual_seed(1)
    n, p, m, d = 2, 3, 5, 4
    vq = VectorQuantizer(
        latent_dim=n * p * d, num_codebooks=n, num_discrete_latents=p, num_embeddings=m
    ).eval()
    vq.embedding.copy_(torch.randn(n, m, d) * 3)
    z = torch.randn(7, n * p * d) * 3
    z_q, _, idx = vq(z)
    for b in range(7):
        for cb in range(n):
            for pos in range(p):
                chunk = z.view(7, n, d, p)[b, cb, :, pos]  # LAPO's channel-major layout
                dists = [((chunk - vq.embedding[cb, k]) ** 2).sum().item() for k in range(m)]
                best = min(range(m), key=dists.__getitem__)
                assert idx[b, cb * p + pos].item() == best
                assert torch.equal(z_q.view(7, n, d, p)[b, cb, :, pos], vq.embedding[cb, best])
    assert torch.equal(vq.lookup(idx), z_q)


def test_commitment_loss_value() -> None:
    vq = _tiny().eval()
    z_q, loss, idx = vq(Z)
    assert idx.tolist() == [[0, 1], [0, 0]]
    assert torch.equal(z_q, torch.tensor([[0.0, 10.0, 0.0, 10.0], [0.0, 0.0, 0.0, 0.0]]))
    # squared errors 1+1, 1+1, 4+0, 0+4 over 8 values -> 1.5; times beta 0.05
    assert loss.item() == pytest.approx(0.05 * 12 / 8, abs=1e-7)
    # training mode reports the loss against the codebook from before this step's update
    assert _tiny()(Z).loss.item() == pytest.approx(0.075, abs=1e-7)


def test_one_ema_update_matches_hand_computation() -> None:
    vq = _tiny(decay=0.5, eps=0.1).train()
    vq(Z)
    # counts [3, 1] -> EMA 0.5*0 + 0.5*[3, 1] = [1.5, 0.5], total n = 2
    # Laplace: (c + 0.1) / (2 + 2*0.1) * 2 = [1.6, 0.6] / 1.1
    count = torch.tensor([[1.6 / 1.1, 0.6 / 1.1]])
    # sums: code 0 gets (1,1)+(2,0)+(0,2) = (3,3); code 1 gets (9,9)
    # EMA: 0.5*(0,0) + 0.5*(3,3) = (1.5,1.5); 0.5*(10,10) + 0.5*(9,9) = (9.5,9.5)
    weight = torch.tensor([[[1.5, 1.5], [9.5, 9.5]]])
    torch.testing.assert_close(vq.ema_count, count, rtol=0, atol=1e-6)
    torch.testing.assert_close(vq.ema_weight, weight, rtol=0, atol=1e-6)
    # codebook = weight / count: 1.5 * 1.1 / 1.6 and 9.5 * 1.1 / 0.6
    emb = torch.tensor([[[1.03125, 1.03125], [9.5 * 1.1 / 0.6, 9.5 * 1.1 / 0.6]]])
    torch.testing.assert_close(vq.embedding, emb, rtol=1e-6, atol=1e-6)


def test_eval_mode_freezes_codebook_bit_identically() -> None:
    torch.manual_seed(2)
    vq = VectorQuantizer()
    before = {k: v.clone() for k, v in vq.state_dict().items()}
    vq.eval()
    for _ in range(3):
        vq(torch.randn(16, 128))
    for k, v in vq.state_dict().items():
        assert torch.equal(v, before[k]), k
    vq.train()(torch.randn(16, 128))
    assert not torch.equal(vq.embedding, before["embedding"])


def test_straight_through_gradient_is_identity() -> None:
    torch.manual_seed(3)
    vq = VectorQuantizer().eval()
    z = torch.randn(4, 128, requires_grad=True)
    g = torch.randn(4, 128)
    z_q, _, _ = vq(z)
    (z_q * g).sum().backward()
    assert torch.equal(z.grad, g)
    # the value is exactly the codebook entry, not z + (q - z)
    assert torch.equal(z_q, vq.lookup(vq(z).indices))


def test_deterministic() -> None:
    torch.manual_seed(4)
    z = torch.randn(32, 128)
    outs = []
    for _ in range(2):
        torch.manual_seed(5)
        vq = VectorQuantizer()
        outs.append((vq(z), vq.embedding.clone()))
    (a, ea), (b, eb) = outs
    assert all(torch.equal(x, y) for x, y in zip(a, b, strict=True)) and torch.equal(ea, eb)


def test_latent_dim_must_split_evenly() -> None:
    with pytest.raises(ValueError):
        VectorQuantizer(latent_dim=100)


def _codes_per_position(init: str) -> list[int]:
    """Distinct codes per position on 512 latents after 200 training steps on latents like the
    mini config's IDM outputs: small (|z| ~ 0.03) and alike (std 0.004)."""
    torch.manual_seed(0)
    vq = VectorQuantizer(init=init)  # type: ignore[arg-type]
    centre = 0.03 * torch.randn(128)
    for _ in range(200):
        vq(centre + 0.004 * torch.randn(64, 128))
    _, _, idx = vq.eval()(centre + 0.004 * torch.randn(512, 128))
    return [len(torch.unique(idx[:, p])) for p in range(idx.shape[1])]


def test_lapo_init_collapses_on_small_alike_latents_and_data_init_does_not() -> None:
    assert _codes_per_position("uniform") == [1] * 8
    assert min(_codes_per_position("data")) >= 5


def test_data_init_draws_entries_from_the_first_training_batch() -> None:
    torch.manual_seed(0)
    vq = VectorQuantizer(latent_dim=4, num_codebooks=1, num_discrete_latents=2,
                         num_embeddings=3, decay=1.0, init="data")  # fmt: skip
    z = torch.tensor([[1.0, 2.0, 3.0, 4.0], [5.0, 6.0, 7.0, 8.0]])
    vq.eval()(z)
    assert not vq.ema_count.any()  # evaluation never initialises
    vq.train()(z)
    rows = {tuple(r) for r in z.view(2, 2, 2).transpose(1, 2).reshape(4, 2).tolist()}
    assert {tuple(e) for e in vq.embedding[0].tolist()} <= rows
    assert len({tuple(e) for e in vq.embedding[0].tolist()}) == 3  # distinct picks
    before = vq.embedding.clone()
    vq(z)  # decay 1: the EMA keeps the entries, and a second batch does not re-draw them
    assert torch.allclose(vq.embedding, before)


def test_data_init_state_survives_a_state_dict_round_trip() -> None:
    torch.manual_seed(0)
    kwargs = dict(latent_dim=4, num_codebooks=1, num_discrete_latents=2, num_embeddings=3,
                  decay=1.0, init="data")  # fmt: skip
    z = torch.tensor([[1.0, 1.0, 2.0, 2.0], [3.0, 3.0, 4.0, 4.0]])
    trained = VectorQuantizer(**kwargs)
    trained(z)
    resumed = VectorQuantizer(**kwargs)
    resumed.load_state_dict(trained.state_dict())
    resumed(z + 10.0)  # an initialised codebook is not re-drawn from the resumed run's batch
    assert torch.equal(resumed.embedding, trained.embedding)
    fresh = VectorQuantizer(**kwargs)
    fresh.load_state_dict(VectorQuantizer(**kwargs).state_dict())
    fresh(z + 10.0)  # one saved before any training step still initialises from data
    assert fresh.embedding.min() >= 11.0


def test_unknown_init_is_refused() -> None:
    with pytest.raises(ValueError, match="VQ init"):
        VectorQuantizer(init="kmeans")  # type: ignore[arg-type]
