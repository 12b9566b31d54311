"""BCV-LR's networks: f (built from its config), p with its VQ and w, the latent policy pi, the
action decoder d, and the agent that acts with d(pi(f(o)))."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from bcvlr.method.bcvlr.config import Config, LatentActionConfig, OnlineConfig
from bcvlr.nets import channels_last, module_device
from bcvlr.nets.features import FeatureEncoder
from bcvlr.nets.impala import ImpalaCNN
from bcvlr.nets.mlp import mlp, trunk
from bcvlr.nets.unet import WorldModelUNet
from bcvlr.nets.vq import VectorQuantizer
from bcvlr.tasks import Task


class LatentActionModel(nn.Module):
    """IDM p: per-frame features stacked over time -> IMPALA -> fc -> 128-d latent -> VQ; and
    the world model w: (f(o_t), z_vq) -> f(o_t+1)."""

    def __init__(self, feature_shape: tuple[int, int, int], cfg: LatentActionConfig, *,
                 vq_init: str = "uniform", wm_residual: bool = False):  # fmt: skip
        super().__init__()
        c, h, w = feature_shape
        self.window = cfg.window
        self.idm = channels_last(ImpalaCNN((c * cfg.window, h, w), cfg.idm_channels,
                                           out_features=cfg.idm_hidden))  # fmt: skip
        self.to_latent = nn.Linear(cfg.idm_hidden, cfg.latent_dim)
        self.vq = VectorQuantizer(cfg.latent_dim, cfg.vq_codebooks, cfg.vq_positions,
                                  cfg.vq_embeddings, cfg.vq_decay,
                                  commitment_cost=cfg.vq_commitment,
                                  init=vq_init)  # fmt: skip
        # w sees every frame of the window but the last (o_t; or o_t-1, o_t) and predicts the
        # features of the last one.
        self.world_model = WorldModelUNet((c * (cfg.window - 1), h, w), cfg.latent_dim,
                                          out_channels=c, base_channels=cfg.wm_base_channels,
                                          bounded=cfg.wm_bounded_output,
                                          residual=wm_residual)  # fmt: skip
        # p's per-channel input standardisation (identity unless departures.idm_input_norm)
        self.register_buffer("input_mean", torch.zeros(c, 1, 1))
        self.register_buffer("input_std", torch.ones(c, 1, 1))

    def latent(self, feats: torch.Tensor) -> torch.Tensor:
        """Continuous latent action z of the last transition of a window of features
        (B, window, C, H, W)."""
        feats = (feats - self.input_mean) / self.input_std
        return self.to_latent(self.idm(feats.flatten(1, 2)))

    @torch.no_grad()
    def fit_input_norm(self, batches: Iterable[torch.Tensor]) -> dict[str, float]:
        """Set p's input standardisation from batches of feature windows (B, window, C, H, W)."""
        count, total, squares = 0, 0.0, 0.0
        for feats in batches:
            values = feats.transpose(0, 2).flatten(1).double()  # (C, everything else)
            count += values.shape[1]
            total = total + values.sum(1)
            squares = squares + (values**2).sum(1)
        mean = total / count
        std = (squares / count - mean**2).clamp_min(0).sqrt().clamp_min(1e-8)
        self.input_mean.copy_(mean[:, None, None])
        self.input_std.copy_(std[:, None, None])
        return {"idm_input/mean": mean.mean().item(), "idm_input/std": std.mean().item()}

    def _load_from_state_dict(self, state_dict, prefix, *args, **kwargs):  # type: ignore[no-untyped-def]
        # artifacts written before the input standardisation existed: p read features as they are
        state_dict.setdefault(prefix + "input_mean", torch.zeros_like(self.input_mean))
        state_dict.setdefault(prefix + "input_std", torch.ones_like(self.input_std))
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)

    def losses(self, feats: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(z, world-model MSE of eq. 2, VQ commitment loss)."""
        z = self.latent(feats)
        z_q, vq_loss, _ = self.vq(z)
        pred = self.world_model(feats[:, :-1].flatten(1, 2), z_q)
        # the target is a constant, as in the authors' code: with f trained through this loss
        # a target with gradient lets f collapse to a constant that w predicts exactly
        return z, F.mse_loss(pred, feats[:, -1].detach()), vq_loss


class LatentPolicy(nn.Module):
    """pi: features of o_t -> latent action. Continuous: flatten -> Linear(50)+LN+Tanh -> MLP.
    Discrete: IMPALA stack -> fc 256 -> latent."""

    def __init__(self, feature_shape: tuple[int, int, int], latent_dim: int, cfg: OnlineConfig,
                 discrete: bool):  # fmt: skip
        super().__init__()
        if discrete:
            self.net: nn.Module = nn.Sequential(
                channels_last(ImpalaCNN(feature_shape, cfg.policy_channels, out_features=256)),
                nn.Linear(256, latent_dim))  # fmt: skip
        else:
            flat = int(np.prod(feature_shape))
            self.net = nn.Sequential(nn.Flatten(), trunk(flat, cfg.policy_trunk),
                                     mlp(cfg.policy_trunk, cfg.policy_hidden, latent_dim))  # fmt: skip

    def forward(self, feats: torch.Tensor) -> torch.Tensor:
        return self.net(feats)


def action_decoder(latent_dim: int, action_dim: int, hidden: Sequence[int]) -> nn.Sequential:
    """d: latent action -> real action (logits for discrete actions)."""
    layers: list[nn.Module] = []
    dim = latent_dim
    for h in hidden:
        layers += [nn.Linear(dim, h), nn.ReLU()]
        dim = h
    return nn.Sequential(*layers, nn.Linear(dim, action_dim))



def build_encoder(cfg: Config, obs_shape: tuple[int, int, int]) -> FeatureEncoder:
    fc = cfg.features
    return FeatureEncoder(fc.encoder, obs_shape, fc.channels, strided=fc.strided_layers)


def build_latent_action_model(cfg: Config, feature_shape: tuple[int, int, int]) -> LatentActionModel:
    return LatentActionModel(feature_shape, cfg.latent_actions, vq_init=cfg.departures.vq_init,
                             wm_residual=cfg.departures.wm_residual)  # fmt: skip



class Agent(nn.Module):
    """f, p (with VQ) and w, d, pi: everything the online stage trains or acts with."""

    def __init__(self, cfg: Config, task: Task, obs_shape: tuple[int, int, int]):
        super().__init__()
        self.discrete = task.action_space.is_discrete
        self.encoder = build_encoder(cfg, obs_shape)
        self.lam = build_latent_action_model(cfg, self.encoder.feature_shape)
        self.decoder = action_decoder(cfg.latent_actions.latent_dim, task.action_space.size,
                                      cfg.online.decoder_hidden)  # fmt: skip
        self.policy = LatentPolicy(self.encoder.feature_shape, cfg.latent_actions.latent_dim,
                                   cfg.online, self.discrete)  # fmt: skip
        self.explore_std = cfg.online.explore_std
        # Affine map between p's latents and the space pi predicts and d reads (identity
        # unless departures.latent_norm is set); checkpointed with the agent.
        dim = cfg.latent_actions.latent_dim
        self.register_buffer("z_mean", torch.zeros(dim))
        self.register_buffer("z_std", torch.ones(dim))

    def normalize(self, z: torch.Tensor) -> torch.Tensor:
        return (z - self.z_mean) / self.z_std

    @torch.no_grad()
    def restandardize(self, mean: torch.Tensor, std: torch.Tensor) -> None:
        """New latent statistics that change neither what d decodes from a latent nor which
        latent pi predicts: d's first layer and pi's last absorb the affine change."""
        first = next(m for m in self.decoder.modules() if isinstance(m, nn.Linear))
        last = [m for m in self.policy.modules() if isinstance(m, nn.Linear)][-1]
        old_mean, old_std = self.z_mean.clone(), self.z_std.clone()
        first.bias += first.weight @ ((mean - old_mean) / old_std)
        first.weight *= std / old_std
        last.weight *= (old_std / std)[:, None]
        last.bias.copy_((last.bias * old_std + old_mean - mean) / std)
        self.z_mean.copy_(mean)
        self.z_std.copy_(std)

    @torch.no_grad()
    def act(self, obs: np.ndarray, explore: bool, generator: torch.Generator) -> np.ndarray:
        device = module_device(self)
        # only the acting modules change mode: toggling all of p and w cost more than acting
        acting = (self.encoder, self.policy, self.decoder)
        modes = [m.training for m in acting]
        for m in acting:
            m.eval()
        out = self.decoder(self.policy(self.encoder(torch.from_numpy(obs).to(device))))
        for m, mode in zip(acting, modes, strict=True):
            m.train(mode)
        if self.discrete:  # a categorical sample, in collection and evaluation alike
            probs = F.softmax(out, dim=-1).cpu()
            return torch.multinomial(probs, 1, generator=generator).squeeze(1).numpy()
        action = out.cpu()
        if explore:  # the noise goes on the unclipped mean, as the authors' TruncatedNormal
            action = action + torch.randn(action.shape, generator=generator) * self.explore_std
        return action.clamp(-1, 1).numpy().astype(np.float32)


def action_loss(agent: Agent, z: torch.Tensor, actions: torch.Tensor) -> torch.Tensor:
    """The first term of eq. 3: cross-entropy (discrete) or MSE (continuous)."""
    pred = agent.decoder(agent.normalize(z))
    if agent.discrete:
        return F.cross_entropy(pred, actions.long())
    return F.mse_loss(pred, actions.float())


LATENT_CLIP = 10.0  # latent_norm "robust": eq. 4's targets, in robust standard deviations
MAD_TO_STD = 1.4826  # the MAD of a normal distribution times this is its std


def latent_statistics(z: torch.Tensor, robust: bool) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-dimension centre and scale of latents (N, D): mean and std, or median and scaled
    MAD, which a few huge latents do not move."""
    if not robust:
        return z.mean(0), z.std(0)
    median = z.median(0).values
    return median, MAD_TO_STD * (z - median).abs().median(0).values
