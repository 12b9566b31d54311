"""Vector quantiser for latent actions (LAPO-style, EMA codebooks).

A ``latent_dim`` vector is split into ``num_codebooks x num_discrete_latents`` positions of
``embedding_dim`` values. Each position snaps to the nearest entry of its codebook, so a latent
action becomes ``num_codebooks * num_discrete_latents`` discrete codes (8 by default).

The codebooks are not trained by gradients but by exponential moving averages of the vectors
assigned to them, and only in training mode: the IDM is also used to *label* videos for latent
behaviour cloning, and the authors' continuous code leaves it in train mode there, so the
codebook drifts while it is supposed to be fixed. ``eval()`` is the switch that freezes it.
"""

from __future__ import annotations

from typing import Literal, NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn


class VQOutput(NamedTuple):
    z_q: Tensor  # (B, latent_dim) quantised, gradient passes straight through to z
    loss: Tensor  # scalar commitment loss
    indices: Tensor  # (B, num_codebooks * num_discrete_latents), codebook-major


class VectorQuantizer(nn.Module):
    """Nearest-neighbour quantiser with EMA codebooks and a straight-through estimator.

    Layout: LAPO's and the authors', channel-major: ``z.view(B, num_codebooks, embedding_dim,
    num_discrete_latents)``, so unit ``(n * embedding_dim + d) * num_discrete_latents + p`` is
    dimension d of position p of codebook n. Any fixed layout trains the same in exact
    arithmetic; theirs makes our layers and theirs hold the same weights unit for unit, so the
    two compute the same to the last bit (tests/reference).
    """

    embedding: Tensor
    ema_count: Tensor
    ema_weight: Tensor

    def __init__(
        self,
        latent_dim: int = 128,
        num_codebooks: int = 2,
        num_discrete_latents: int = 4,
        num_embeddings: int = 64,
        decay: float = 0.999,
        eps: float = 1e-5,
        commitment_cost: float = 0.05,
        init: Literal["uniform", "data"] = "uniform",
    ) -> None:
        """``init``: "uniform" is LAPO's (entries uniform in +-5/num_embeddings, EMA counts at
        zero); "data" replaces every entry with a latent of the first training batch and
        starts the counts at one. LAPO's init collapses when the IDM's first latents are
        small and alike (features of tiny variance): all of them snap to the entry nearest the
        origin, and the unused entries, divided by near-zero counts, move out of reach."""
        super().__init__()
        positions = num_codebooks * num_discrete_latents
        if latent_dim % positions:
            raise ValueError(f"latent_dim {latent_dim} not divisible by {positions} positions")
        self.latent_dim = latent_dim
        self.num_codebooks = num_codebooks
        self.num_discrete_latents = num_discrete_latents
        self.num_embeddings = num_embeddings
        self.embedding_dim = latent_dim // positions
        self.decay = decay
        self.eps = eps
        self.commitment_cost = commitment_cost
        if init not in ("uniform", "data"):
            raise ValueError(f"unknown VQ init {init!r}: expected 'uniform' or 'data'")
        self.init = init
        # a Python flag, so that training steps need no device sync to know; restored from the
        # counts when a state dict is loaded (zero counts: no EMA step has happened yet)
        self._awaiting_data_init = init == "data"

        bound = 5.0 / num_embeddings  # LAPO's init range
        embedding = torch.empty(num_codebooks, num_embeddings, self.embedding_dim)
        embedding.uniform_(-bound, bound)
        self.register_buffer("embedding", embedding)
        # LAPO starts the counts at zero without bias correction: the first training step
        # divides the (decayed) initial codebook by tiny counts. Kept for fidelity.
        self.register_buffer("ema_count", torch.zeros(num_codebooks, num_embeddings))
        self.register_buffer("ema_weight", embedding.clone())

    def forward(self, z: Tensor) -> VQOutput:
        b = z.shape[0]
        n, m, d = self.embedding.shape
        x = z.reshape(b, n, d, self.num_discrete_latents).permute(1, 0, 3, 2)  # (N, B, P, D)
        x_flat = x.detach().reshape(n, -1, d)  # (N, B*P, D)
        if self.training and self._awaiting_data_init:
            self._init_from(x_flat)

        # Squared distances ||x||^2 - 2 x.e + ||e||^2, per codebook.
        dist = torch.baddbmm(
            x_flat.pow(2).sum(-1, keepdim=True) + self.embedding.pow(2).sum(-1).unsqueeze(1),
            x_flat,
            self.embedding.transpose(1, 2),
            alpha=-2.0,
        )
        idx = dist.argmin(-1)  # (N, B*P); ties go to the lowest index, so deterministic
        q = torch.gather(self.embedding, 1, idx.unsqueeze(-1).expand(-1, -1, d)).view_as(x)

        if self.training:
            self._ema_update(x_flat, idx)

        # The codebook is EMA-trained, so only the commitment term pulls z towards it.
        loss = self.commitment_cost * F.mse_loss(x, q.detach())
        z_q = q.detach() + (x - x.detach())  # value exactly q, gradient identity w.r.t. z
        return VQOutput(
            z_q.permute(1, 0, 3, 2).reshape(b, self.latent_dim),
            loss,
            idx.view(n, b, self.num_discrete_latents).transpose(0, 1).reshape(b, -1),
        )

    @torch.no_grad()
    def _init_from(self, x_flat: Tensor) -> None:
        n, k, d = x_flat.shape
        m = self.num_embeddings
        picks = torch.stack([torch.randperm(k, device=x_flat.device)[:m] if k >= m
                             else torch.randint(k, (m,), device=x_flat.device)
                             for _ in range(n)])  # fmt: skip
        entries = torch.gather(x_flat, 1, picks.unsqueeze(-1).expand(-1, -1, d))
        self.embedding.copy_(entries)
        self.ema_weight.copy_(entries)
        self.ema_count.fill_(1.0)
        self._awaiting_data_init = False

    def _load_from_state_dict(self, *args, **kwargs) -> None:  # type: ignore[no-untyped-def]
        super()._load_from_state_dict(*args, **kwargs)
        self._awaiting_data_init = self.init == "data" and not bool(self.ema_count.any())

    @torch.no_grad()
    def _ema_update(self, x_flat: Tensor, idx: Tensor) -> None:
        # written as LAPO's expressions, so that both round alike (add_ with alpha fuses)
        one_hot = F.one_hot(idx, self.num_embeddings).to(x_flat.dtype)  # (N, B*P, M)
        self.ema_count.copy_(self.decay * self.ema_count + (1 - self.decay) * one_hot.sum(1))
        # Laplace smoothing keeps unused entries from dividing by zero; like LAPO, the smoothed
        # counts are stored back (rather than only used for the division).
        total = self.ema_count.sum(-1, keepdim=True)
        self.ema_count.copy_(
            (self.ema_count + self.eps) / (total + self.num_embeddings * self.eps) * total
        )
        dw = torch.bmm(one_hot.transpose(1, 2), x_flat)
        self.ema_weight.copy_(self.decay * self.ema_weight + (1 - self.decay) * dw)
        self.embedding.copy_(self.ema_weight / self.ema_count.unsqueeze(-1))

    def lookup(self, indices: Tensor) -> Tensor:
        """Codes (B, num_codebooks * num_discrete_latents) -> quantised latents (B, latent_dim)."""
        b = indices.shape[0]
        n, _, d = self.embedding.shape
        idx = indices.view(b, n, -1).transpose(0, 1).reshape(n, -1)
        q = torch.gather(self.embedding, 1, idx.unsqueeze(-1).expand(-1, -1, d))
        return q.view(n, b, -1, d).permute(1, 0, 3, 2).reshape(b, self.latent_dim)

    def perplexity(self, indices: Tensor) -> Tensor:
        """Sum over codebooks of exp(entropy of code usage) in a batch: a collapse diagnostic."""
        idx = indices.view(indices.shape[0], self.num_codebooks, -1).transpose(0, 1)
        probs = F.one_hot(idx.reshape(self.num_codebooks, -1), self.num_embeddings).float()
        probs = probs.mean(1)
        return torch.exp(-(probs * torch.log(probs + 1e-10)).sum(-1)).sum()
