"""Self-supervised feature losses for BCV-LR's encoder pre-training (paper eq. 1, eqs. 5-10).

Both heads take encoder features, not pixels: the caller owns the encoder, its momentum copy
and the augmentation. Each head owns its projection, a momentum copy of that projection
(``target_projector``, never trained by gradients) and an asymmetric predictor MLP ``u``.

- ``CurlContrastive`` (discrete setting): bilinear InfoNCE between two augmentations of a frame.
- ``PrototypeTemporal`` (continuous setting): SwAV/ProtoRL-style clustering of aug(o_t) onto
  Sinkhorn-Knopp targets computed from aug(o_{t+1}).
- ``ReconstructionDecoder``: the discrete setting's auxiliary pixel reconstruction.
"""

from __future__ import annotations

import copy

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from bcvlr.nets.impala import ConvSequence
from bcvlr.nets.mlp import orthogonal_init  # the authors init these heads DrQv2-style


@torch.no_grad()
def soft_update(target: nn.Module, online: nn.Module, tau: float = 0.05) -> None:
    """target <- tau * online + (1 - tau) * target, over parameters (as DrQv2 and the authors).

    Buffers are left alone: the encoders and heads here have none that should be averaged.
    """
    for t, o in zip(target.parameters(), online.parameters(), strict=True):
        t.copy_(tau * o + (1 - tau) * t)


class _ProjectedHead(nn.Module):
    """Shared part: flatten + Linear projection (online and momentum copy) and predictor u.

    The momentum copy sits in ``parameters()`` with ``requires_grad=False``: its gradients stay
    None, so an optimiser built over the whole head never steps it; ``update_target`` does.
    """

    def __init__(self, feature_dim: int, proj_dim: int, hidden_dim: int) -> None:
        super().__init__()
        self.projector = nn.Sequential(nn.Flatten(), nn.Linear(feature_dim, proj_dim))
        self.predictor = nn.Sequential(
            nn.Linear(proj_dim, hidden_dim), nn.ReLU(), nn.Linear(hidden_dim, proj_dim)
        )
        self.apply(orthogonal_init)
        self.target_projector = copy.deepcopy(self.projector).requires_grad_(False)

    def anchor(self, features: Tensor) -> Tensor:
        return self.predictor(self.projector(features))

    @torch.no_grad()
    def target(self, target_features: Tensor) -> Tensor:
        return self.target_projector(target_features)

    def update_target(self, tau: float = 0.05) -> None:
        soft_update(self.target_projector, self.projector, tau)


def contrastive_loss(anchor_pred: Tensor, target_proj: Tensor, w: Tensor) -> Tensor:
    """Bilinear InfoNCE: logits[i, j] = anchor_pred[i]^T W target_proj[j]; positives on the
    diagonal; no temperature (the authors' choice; W's scale plays that role)."""
    logits = anchor_pred @ w @ target_proj.T
    return F.cross_entropy(logits, torch.arange(len(logits), device=logits.device))


class CurlContrastive(_ProjectedHead):
    """Paper eq. 1, contrastive term. Anchor: f(aug(o)); target: f'(aug'(o)), same frame."""

    def __init__(self, feature_dim: int, proj_dim: int = 256, hidden_dim: int = 512) -> None:
        super().__init__(feature_dim, proj_dim, hidden_dim)
        self.w = nn.Linear(proj_dim, proj_dim, bias=False)
        orthogonal_init(self.w)

    def forward(self, anchor_features: Tensor, target_features: Tensor) -> Tensor:
        return contrastive_loss(
            self.anchor(anchor_features), self.target(target_features), self.w.weight
        )


@torch.no_grad()
def sinkhorn(scores: Tensor, iters: int = 3, temperature: float = 0.1) -> Tensor:
    """Balanced soft assignments (B, K) of B samples to K prototypes (SwAV / ProtoRL).

    Q = exp(scores / T) is scaled alternately so that every prototype gets mass 1/K and every
    sample 1/B; the result is renormalised per sample, so each returned row sums to exactly 1
    and each prototype column to B/K only as the iterations converge.
    """
    q = torch.exp((scores - scores.max()) / temperature)  # the shift cancels in the scaling
    q = q / q.sum()
    b, k = q.shape
    for _ in range(iters):
        q = q / (q.sum(dim=0, keepdim=True) * k)
        q = q / (q.sum(dim=1, keepdim=True) * b)
    return q / q.sum(dim=1, keepdim=True)


class PrototypeTemporal(_ProjectedHead):
    """Paper eqs. 5-10. Anchor: f(aug(o_t)) -> u -> scores; target: f'(aug(o_{t+1})) -> Sinkhorn.

    Both embeddings are L2-normalised before the prototype scores and the prototypes are
    re-normalised in place at every forward, as in the authors' (ProtoRL's) code.
    """

    def __init__(
        self,
        feature_dim: int,
        proj_dim: int = 128,
        hidden_dim: int = 512,
        num_prototypes: int = 512,
        temperature: float = 0.1,
        sinkhorn_iters: int = 3,
    ) -> None:
        super().__init__(feature_dim, proj_dim, hidden_dim)
        self.prototypes = nn.Linear(proj_dim, num_prototypes, bias=False)
        orthogonal_init(self.prototypes)
        self.temperature = temperature
        self.sinkhorn_iters = sinkhorn_iters

    def forward(self, anchor_features: Tensor, target_features: Tensor) -> Tensor:
        with torch.no_grad():
            self.prototypes.weight.copy_(F.normalize(self.prototypes.weight, dim=1))
        s = F.normalize(self.anchor(anchor_features), dim=1)
        t = F.normalize(self.target(target_features), dim=1)
        log_p = F.log_softmax(self.prototypes(s) / self.temperature, dim=1)
        with torch.no_grad():
            q = sinkhorn(self.prototypes(t), self.sinkhorn_iters, self.temperature)
        return -(q * log_p).sum(dim=1).mean()


class ReconstructionDecoder(nn.Module):
    """v in paper eq. 1: 3x3 conv to the image channels, then two IMPALA residual blocks at that
    width, no downsampling (the discrete encoder keeps 64x64) and no output squashing."""

    def __init__(self, in_channels: int = 16, out_channels: int = 3) -> None:
        super().__init__()
        self.net = ConvSequence(in_channels, out_channels, downsample=False)
        gain = nn.init.calculate_gain("relu")
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.orthogonal_(m.weight, gain)
                nn.init.zeros_(m.bias)

    def forward(self, features: Tensor) -> Tensor:
        return self.net(features)

    def loss(self, features: Tensor, augmented_obs: Tensor) -> Tensor:
        """MSE to the same augmented, normalised observation the features came from."""
        return F.mse_loss(self(features), augmented_obs)
