"""BCV-LR: Behavior Cloning from Videos via Latent Representations (NeurIPS 2025).

Read top to bottom, this file is Algorithm 1 of the paper:

  offline  1. pretrain_features        f (+ momentum f') on video frames        eq. 1 / eqs. 5-10
           2. pretrain_latent_actions  IDM p (+VQ) and world model w on f       eq. 2
  online   3. online                   latent-BC warm-up of pi, then cycles of
                                         collect with d(pi(f(o)))  (first cycle random)
                                         finetune p, d (and w) on the replay       eq. 3
                                         behaviour-clone pi on video latents        eq. 4

Each stage checkpoints atomically and resumes after a kill. Hyper-parameters are the paper's
Tables 11 (Procgen) and 12 (DMC; Metaworld shares them) in config/bcvlr/*.yaml; every place
where the authors' code differs is an option (docs/fidelity.md).
"""

from __future__ import annotations

import dataclasses
import hashlib
import math
import time
from collections.abc import Callable, Iterable, Sequence
from contextlib import closing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from bcvlr.config import read_config_file
from bcvlr.data import VideoDataset, WindowSampler
from bcvlr.data.frame_features import FrameFeatures, table_bytes
from bcvlr.data.manifest import sha256_file
from bcvlr.data.window_replay import WindowReplay
from bcvlr.diagnostics.latent_actions import latent_action_health
from bcvlr.envs import make_reward_free
from bcvlr.nets.augment import RandomShift
from bcvlr.nets.features import FeatureEncoder
from bcvlr.nets.impala import ImpalaCNN
from bcvlr.nets.mlp import mlp, trunk
from bcvlr.nets.ssl import CurlContrastive, PrototypeTemporal, ReconstructionDecoder, soft_update
from bcvlr.nets.unet import WorldModelUNet
from bcvlr.nets.vq import VectorQuantizer
from bcvlr.run.device import module_device, resolve_device
from bcvlr.run.seeding import seeded
from bcvlr.run.stage import Stage, completed_artifact
from bcvlr.tasks import Task

SUITES = ("procgen", "dmc", "metaworld")
NEEDS_VIDEOS = True
CONFIG_DIR = Path(__file__).resolve().parents[2] / "config" / "bcvlr"


# ---------------------------------------------------------------------------------------------
# Configuration (defaults are placeholders; config/bcvlr/{suite}.yaml holds the paper's values)
# ---------------------------------------------------------------------------------------------
@dataclass
class FeatureConfig:
    # eq. 1 with reconstruction (Procgen), prototypes eqs. 5-10 (DMC), contrastive (Metaworld)
    objective: Literal["contrastive_recon", "prototype", "contrastive"] = "prototype"
    encoder: Literal["conv", "impala"] = "conv"
    channels: int = 32
    strided_layers: int = 1  # conv encoder: layers with stride 2 (1 -> 32x32 maps from 64x64)
    updates: int = 50_000
    batch_size: int = 512
    lr: float = 1e-4
    shift_pad: int = 4
    recon_alpha: float = 0.1
    ema_tau: float = 0.05  # momentum: f' <- tau f + (1 - tau) f'
    ema_every: int = 2
    proj_dim: int = 128
    predictor_hidden: int = 512
    num_prototypes: int = 512
    temperature: float = 0.1
    sinkhorn_iters: int = 3
    # A hook for an off-the-shelf encoder: a file holding a FeatureEncoder state_dict (or a
    # features.pt of this stage) used instead of pretraining.
    pretrained_encoder: str | None = None


@dataclass
class LatentActionConfig:
    window: int = 2  # (o_t, o_t+1) continuous; (o_t-1, o_t, o_t+1) discrete
    updates: int = 50_000
    batch_size: int = 128
    idm_lr: float = 3e-4
    wm_lr: float = 3e-4
    grad_clip: float = 2.0
    latent_dim: int = 128
    vq_codebooks: int = 2
    vq_positions: int = 4
    vq_embeddings: int = 64
    vq_decay: float = 0.999
    vq_commitment: float = 0.05
    # "uniform": LAPO's and the authors' codebook init; "data": entries drawn from the first
    # batch's latents (ours; LAPO's collapses to one code on the mini config, docs/fidelity.md)
    vq_init: Literal["uniform", "data"] = "uniform"
    idm_channels: tuple[int, ...] = (64, 128, 128)
    idm_hidden: int = 256
    wm_base_channels: int = 24
    # The authors' world model squashes its output with tanh/2; the paper states no bound, so
    # the code's choice is the default.
    wm_bounded_output: bool = True
    # False: w outputs f(o_t+1) (the paper's eq. 2 and the authors' U-Net). True (ours): w
    # outputs f(o_t) + a change whose last layer starts at zero, so it copies from the first
    # update and its loss is the frames' change alone, which only z can explain.
    wm_residual: bool = False
    # Not in the paper: "standardize" makes p read f's features standardised per channel by
    # their mean and std over the videos, fixed before latent pretraining (or, without it, before
    # the online stage). Untrained or briefly trained encoders give features that vary by ~1e-3
    # around their mean; p then reads nothing of them by eq. 2 or eq. 3 (docs/fidelity.md).
    idm_input_norm: Literal["none", "standardize"] = "none"
    idm_input_norm_batches: int = 16
    # Diagnostics only (with the config's `diagnostics: true`): every probe_every updates, a
    # linear probe decodes true actions from the latent actions of held-out labelled video
    # transitions (0 disables; needs labels).
    probe_every: int = 1000
    probe_windows: int = 1024
    # ... and the authors' probe decoder, an MLP, with at most this many updates (theirs: 3
    # epochs over up to 65,536 windows at batch 128); 0: the linear probe alone.
    probe_decoder_updates: int = 1536
    # The video probe's target: the action taken this many steps before the window's last
    # transition (0: a_t, the authors'). In Metaworld the hand follows its mocap target with a
    # lag, so the change from o_t to o_t+1 shows a_t-1 more than a_t (docs/experiments.md, E9).
    probe_action_lag: int = 0


@dataclass
class OnlineConfig:
    bc_warmup_updates: int = 60_000  # paper; the authors' code uses 20k
    num_envs: int = 1
    cycle_steps: int = 1000  # policy steps per env per cycle (F_ft)
    random_first_cycle: bool = True
    ft_updates: int | None = None  # fixed U_ft; None: ft_epochs passes over the replay
    ft_epochs: float = 2.0
    ft_batch_size: int = 512
    decoder_lr: float = 1e-3
    idm_ft_lr: float = 1e-3
    beta: float = 1e-5
    wm_ft: Literal["frozen", "finetune"] = "finetune"
    wm_ft_lr: float = 1e-5
    bc_updates: int = 1000
    bc_batch_size: int = 128
    policy_lr: float = 1e-3
    decoder_hidden: tuple[int, ...] = (192, 128, 64)
    policy_hidden: int = 1024
    policy_trunk: int = 50
    policy_channels: tuple[int, ...] = (64, 128, 128)  # discrete policy's IMPALA stack
    explore_std: float = 0.5
    replay_capacity: int = 100_000
    checkpoint_every_cycles: int = 5
    # The authors' continuous code labels BC batches with the IDM in train mode, so VQ EMA and
    # BatchNorm statistics drift during BC; eval mode is the default.
    idm_mode_in_bc: Literal["eval", "train"] = "eval"
    # Not in the paper: "standardize" makes pi predict, and d read, latent actions standardised
    # by their per-dimension mean and std over the videos at the start of the online stage.
    # Small pretraining budgets leave latents whose variation (std ~0.03) is below the step
    # noise of Adam at lr 1e-3, so pi fits only their mean (docs/fidelity.md). "robust": the
    # median and the MAD (scaled to a std) instead, and eq. 4's standardised targets clipped to
    # +-LATENT_CLIP: with f finetuned online, a few video windows unlike any the agent has seen
    # get latents 1e4-1e5 times the others', whose std then squashes every other target to ~0
    # (docs/experiments.md, attempt 13).
    latent_norm: Literal["none", "standardize", "robust"] = "none"
    latent_norm_batches: int = 16
    # Not in the paper: the latent action of o_t (what pi predicts there, and what eq. 3 pairs
    # with a_t) is that of the transition this many steps later, o_t+k -> o_t+k+1. Metaworld's
    # hand follows its mocap target a step late, so a_t shows in o_t+1 -> o_t+2 far more than
    # in o_t -> o_t+1 (docs/experiments.md, E9). 0: the paper's pairing.
    action_lead: int = 0
    # With latent_norm: fit the statistics again in every cycle (online or offline decoding),
    # after eq. 3 and before eq. 4, not only once: eq. 3 moves p (and f, when finetuned), so
    # the first statistics fit only the pretrained p. d and pi are re-parametrised so that they compute the same as before.
    latent_norm_refit: bool = False
    # Offline decoding (Table 10): finetune p, d and clone pi on N action-labelled expert
    # transitions instead of interacting (0 = the online method).
    offline_labelled: int = 0
    # Diagnostics only: in every cycle, the latent-action probe on up to this many windows of
    # the agent's own transitions (fitted on even episodes, scored on odd ones): how much of
    # the agent's actions p's latents carry, which eq. 3 needs. probe_new: the cycle's new
    # transitions, before eq. 3 trains on them; probe_replay: the whole replay, after. A
    # scripted expert's actions are a function of the scene, so the video probe can score
    # high on latents without any motion. 0: off.
    replay_probe_windows: int = 1024
    # ... with the MLP decoder too (latent_actions.probe_decoder_updates) when this is at
    # least 1: it takes ~4x the ridge's time, twice per cycle, so the ridge alone by default
    replay_probe_decoder_updates: int = 0


@dataclass
class Config:
    features: FeatureConfig = field(default_factory=FeatureConfig)
    latent_actions: LatentActionConfig = field(default_factory=LatentActionConfig)
    online: OnlineConfig = field(default_factory=OnlineConfig)
    # Ablations of Fig. 4: without latent features / latent-action pretraining / finetuning.
    variant: Literal["full", "wo_lf", "wo_la", "wo_ft"] = "full"
    # Table 8: the encoder stays frozen, or is finetuned through L_la or through L_ft.
    encoder_training: Literal["frozen", "la", "ft"] = "frozen"
    budget: int | None = None  # interaction budget in the task's unit (None: the registry's)
    checkpoint_every: int = 1000  # pretraining updates between checkpoints
    device: str = "auto"
    # a scaled-down config (mini, tiny): its runs are labelled reduced_budget even when they
    # interact for the task's full budget, since their pretraining is not the paper's
    reduced_size: bool = False
    # The probes and health checks of latent actions (probe_* and replay_probe_* above): off,
    # so that training pays nothing for them; they never change what training computes.
    diagnostics: bool = False
    # Where f is frozen, its features of every video frame are computed once and gathered per
    # batch instead of encoding each sampled window (the same features; docs/performance.md),
    # when the table fits in this many MB on the device; 0 encodes every window.
    feature_cache_mb: float = 16384

    def validate(self) -> None:
        if self.latent_actions.window not in (2, 3):
            raise ValueError("latent_actions.window must be 2 or 3")
        if self.features.objective == "contrastive_recon" and self.features.encoder != "impala":
            # v decodes the feature maps at their own size: only the IMPALA encoder keeps 64x64
            raise ValueError("features.objective contrastive_recon needs features.encoder impala "
                             f"(its maps keep the frame size), not {self.features.encoder!r}")  # fmt: skip
        if self.online.latent_norm_refit and self.online.latent_norm == "none":
            raise ValueError("online.latent_norm_refit needs online.latent_norm: standardize "
                             "or robust")  # fmt: skip
        if self.variant == "wo_lf" and self.encoder_training == "frozen":
            # w/o lf trains the encoder through the other objectives (Section 4.4)
            self.encoder_training = "ft"


def default_config(task: Task) -> dict:
    """The paper's hyper-parameters for the task's suite, with the per-task overrides of the
    captions of Tables 11 and 12."""
    data = read_config_file(CONFIG_DIR / f"{task.suite}.yaml")
    overrides = data.pop("task_overrides", {}) or {}
    for pattern, section in overrides.items():
        if (
            task.name == pattern
            or task.name.startswith(pattern.rstrip("*"))
            and pattern.endswith("*")
        ):
            for group, values in section.items():
                data.setdefault(group, {}).update(values)
    return data


# ---------------------------------------------------------------------------------------------
# Networks
# ---------------------------------------------------------------------------------------------
class LatentActionModel(nn.Module):
    """IDM p: per-frame features stacked over time -> IMPALA -> fc -> 128-d latent -> VQ; and
    the world model w: (f(o_t), z_vq) -> f(o_t+1)."""

    def __init__(self, feature_shape: tuple[int, int, int], cfg: LatentActionConfig):
        super().__init__()
        c, h, w = feature_shape
        self.window = cfg.window
        self.idm = ImpalaCNN((c * cfg.window, h, w), cfg.idm_channels, out_features=cfg.idm_hidden)
        self.to_latent = nn.Linear(cfg.idm_hidden, cfg.latent_dim)
        self.vq = VectorQuantizer(cfg.latent_dim, cfg.vq_codebooks, cfg.vq_positions,
                                  cfg.vq_embeddings, cfg.vq_decay,
                                  commitment_cost=cfg.vq_commitment,
                                  init=cfg.vq_init)  # fmt: skip
        # w sees every frame of the window but the last (o_t; or o_t-1, o_t) and predicts the
        # features of the last one.
        self.world_model = WorldModelUNet((c * (cfg.window - 1), h, w), cfg.latent_dim,
                                          out_channels=c, base_channels=cfg.wm_base_channels,
                                          bounded=cfg.wm_bounded_output,
                                          residual=cfg.wm_residual)  # fmt: skip
        # p's per-channel input standardisation (identity unless idm_input_norm is set)
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
                ImpalaCNN(feature_shape, cfg.policy_channels, out_features=256),
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


def encode_windows(encoder: FeatureEncoder, obs: torch.Tensor, grad: bool) -> torch.Tensor:
    """Features of every frame of (B, W, C, H, W) windows -> (B, W, Cf, Hf, Wf)."""
    b, w = obs.shape[:2]
    with torch.set_grad_enabled(grad):
        feats = encoder(obs.flatten(0, 1))
    return feats.unflatten(0, (b, w))


class VideoBatches:
    """Batches of windows from one or several video datasets (several: multi-task pretraining,
    Table 3), split evenly across datasets."""

    def __init__(self, datasets: Sequence[VideoDataset], window: int, batch_size: int, seed: int):
        sizes = [batch_size // len(datasets)] * len(datasets)
        sizes[0] += batch_size - sum(sizes)
        self.samplers = [WindowSampler(d, window=window, batch_size=s, seed=seed + i)
                         for i, (d, s) in enumerate(zip(datasets, sizes, strict=True))]  # fmt: skip
        self.features: list[FrameFeatures] | None = None

    def sample(self, device: torch.device) -> torch.Tensor:
        batch = np.concatenate([s.sample() for s in self.samplers])
        return torch.from_numpy(batch).to(device)

    def cache_features(self, encoder: FeatureEncoder, device: torch.device,
                       limit_mb: float) -> dict[str, float]:  # fmt: skip
        """Encode every frame once with the frozen ``encoder`` when the table fits in
        ``limit_mb``; ``sample_features`` then gathers from it. Returns the table's size (0:
        not built, every window is encoded)."""
        mb = sum(table_bytes(s.dataset, encoder.feature_shape) for s in self.samplers) / 2**20
        self.features = None
        if mb > limit_mb:
            return {"feature_cache/mb": 0.0}
        self.features = [FrameFeatures.compute(s.dataset, encoder, device) for s in self.samplers]
        return {"feature_cache/mb": mb}

    def sample_features(self, encoder: FeatureEncoder, device: torch.device) -> torch.Tensor:
        """The frozen ``encoder``'s features (B, window, ...) of one batch of windows: from the
        table when there is one, else by encoding the sampled frames."""
        if self.features is None:
            return encode_windows(encoder, self.sample(device), grad=False)
        return torch.cat([table.gather(s.sample_index(), s.window)
                          for s, table in zip(self.samplers, self.features, strict=True)])  # fmt: skip

    def state_dict(self) -> list[dict]:
        return [s.state_dict() for s in self.samplers]

    def load_state_dict(self, state: list[dict]) -> None:
        for sampler, sampler_state in zip(self.samplers, state, strict=True):
            sampler.load_state_dict(sampler_state)

    def close(self) -> None:
        for s in self.samplers:
            s.close()


# ---------------------------------------------------------------------------------------------
# 1. Latent features (Section 3.1.1, Appendix A.2)
# ---------------------------------------------------------------------------------------------
def build_encoder(cfg: Config, obs_shape: tuple[int, int, int]) -> FeatureEncoder:
    fc = cfg.features
    return FeatureEncoder(fc.encoder, obs_shape, fc.channels, strided=fc.strided_layers)


class FeatureLearner:
    """f, its momentum copy f', the objective's head (and Procgen's decoder v) and their
    optimiser; ``update`` is one step of eq. 1 (contrastive + reconstruction), of contrastive
    alone (Metaworld) or of eqs. 5-10 (prototypes, DMC)."""

    def __init__(self, cfg: Config, obs_shape: tuple[int, int, int], device: torch.device):
        fc = self.fc = cfg.features
        self.encoder = encoder = build_encoder(cfg, obs_shape)
        target_encoder = build_encoder(cfg, obs_shape)
        target_encoder.load_state_dict(encoder.state_dict())
        self.target_encoder = target_encoder.requires_grad_(False)
        if fc.objective == "prototype":
            self.head: nn.Module = PrototypeTemporal(encoder.feature_dim, fc.proj_dim,
                                                     fc.predictor_hidden, fc.num_prototypes,
                                                     fc.temperature, fc.sinkhorn_iters)  # fmt: skip
        else:
            self.head = CurlContrastive(encoder.feature_dim, fc.proj_dim, fc.predictor_hidden)
        self.decoder = (ReconstructionDecoder(encoder.feature_shape[0], obs_shape[0])
                        if fc.objective == "contrastive_recon" else None)  # fmt: skip
        self.modules = nn.ModuleDict({"encoder": encoder, "target_encoder": target_encoder,
                                      "head": self.head})  # fmt: skip
        if self.decoder is not None:
            self.modules["decoder"] = self.decoder  # the authors' code never optimises it: a bug
        self.modules.to(device)
        self.optim = torch.optim.Adam([p for p in self.modules.parameters() if p.requires_grad],
                                      lr=fc.lr)  # fmt: skip
        self.aug = RandomShift(fc.shift_pad)
        # the temporal objective pairs o_t with o_t+1; the contrastive one uses two views of o_t
        self.window = 2 if fc.objective == "prototype" else 1

    def update(self, obs: torch.Tensor, step: int) -> dict[str, float]:
        """One update on a batch of uint8 windows (B, window, C, H, W); ``step`` counts the
        updates before this one (the momentum update runs every ``ema_every``)."""
        fc, aug = self.fc, self.aug
        obs = obs.float()
        if fc.objective == "prototype":
            anchor = self.encoder(aug(obs[:, 0]))
            with torch.no_grad():
                target = self.target_encoder(aug(obs[:, 1]))
            loss = self.head(anchor, target)
            metrics = {"loss/prototype": loss.item()}
        else:
            view_a, view_b = aug(obs[:, 0]), aug(obs[:, 0])
            feats = self.encoder(view_a)
            with torch.no_grad():
                target = self.target_encoder(view_b)
            loss = self.head(feats, target)
            metrics = {"loss/contrastive": loss.item()}
            if self.decoder is not None:
                recon = self.decoder.loss(feats, view_a / 255.0 - 0.5)
                loss = loss + fc.recon_alpha * recon
                metrics["loss/reconstruction"] = recon.item()
        self.optim.zero_grad(set_to_none=True)
        loss.backward()
        self.optim.step()
        if (step + 1) % fc.ema_every == 0:
            soft_update(self.target_encoder, self.encoder, fc.ema_tau)
            self.head.update_target(fc.ema_tau)
        return metrics


def stage_settings(cfg: Config, stage: str, seed: int, videos: Sequence[VideoDataset],
                   features: Path | None = None) -> dict:  # fmt: skip
    """What defines a pretraining stage's product, so that it is reused only when these
    match: its seed, its config sections, the videos' frames and (stage 2) the f it reads."""
    sections = {
        "features": ("features",),
        "latent_actions": ("features", "latent_actions", "encoder_training", "variant"),
    }
    full = dataclasses.asdict(cfg)
    # the probes' settings: diagnostics, which never change the product
    full["latent_actions"] = {k: v for k, v in full["latent_actions"].items()
                              if not k.startswith("probe_")}  # fmt: skip
    settings = {"seed": seed, **{k: full[k] for k in sections[stage]},
                "videos": [v.fingerprint for v in videos]}  # fmt: skip
    if features is not None:
        settings["features_file"] = sha256_file(Path(features))
    return settings


def pretrain_features(cfg: Config, videos: Sequence[VideoDataset], seed: int, out: Path,
                      progress: bool = True) -> Path:  # fmt: skip
    """Train f on the videos with the suite's self-supervised objective; writes features.pt."""
    settings = stage_settings(cfg, "features", seed, videos)
    if (done := completed_artifact(out, "features.pt", settings)) is not None:
        return done
    fc = cfg.features
    device = resolve_device(cfg.device)
    obs_shape = videos[0].stacked_shape
    with seeded(seed):
        learner = FeatureLearner(cfg, obs_shape, device)
    with Stage(out, "features", cfg=dataclasses.asdict(cfg), seed=seed, settings=settings,
               progress=progress, checkpoint_every=cfg.checkpoint_every) as stage:  # fmt: skip
        state = stage.start()
        if state is not None:
            learner.modules.load_state_dict(state["modules"])
            learner.optim.load_state_dict(state["optim"])
        bar = stage.bar(fc.updates, "features")
        with closing(VideoBatches(videos, learner.window, fc.batch_size, seed)) as batches:
            if state is not None:
                batches.load_state_dict(state["batches"])
            for update in range(stage.step, fc.updates):
                metrics = learner.update(batches.sample(device), update)
                stage.advance(update + 1, metrics, bar)
                if stage.checkpoint_due(update + 1):
                    stage.checkpoint(update + 1, {"modules": learner.modules.state_dict(),
                                                  "optim": learner.optim.state_dict(),
                                                  "batches": batches.state_dict()})  # fmt: skip
        return stage.finish({"encoder": learner.encoder.state_dict(), "obs_shape": obs_shape,
                             "config": dataclasses.asdict(cfg)}, "features.pt")  # fmt: skip


def load_encoder(cfg: Config, path: str | Path | None, obs_shape, device) -> FeatureEncoder:
    """The pretrained f (``path``: features.pt, or a bare state_dict for an off-the-shelf
    encoder), or a freshly initialised one when ``path`` is None (w/o lf)."""
    encoder = build_encoder(cfg, obs_shape).to(device)
    if path is not None:
        state = torch.load(path, map_location=device, weights_only=False)
        encoder.load_state_dict(state.get("encoder", state))
    return encoder


# ---------------------------------------------------------------------------------------------
# 2. Latent actions (Section 3.1.2, eq. 2)
# ---------------------------------------------------------------------------------------------
class LatentActionLearner:
    """p (with its VQ) and w on the features of f, and their optimiser; ``update`` is one step
    of eq. 2. f is frozen unless the variant trains it through L_la."""

    def __init__(self, cfg: Config, encoder: FeatureEncoder, device: torch.device):
        la = self.la = cfg.latent_actions
        self.encoder = encoder
        self.train_encoder = cfg.encoder_training == "la" or cfg.variant == "wo_lf"
        encoder.requires_grad_(self.train_encoder)
        self.model = model = LatentActionModel(encoder.feature_shape, la).to(device)
        trained_f = list(encoder.parameters()) if self.train_encoder else []
        idm = list(model.idm.parameters()) + list(model.to_latent.parameters()) + trained_f
        self.params = list(model.parameters()) + trained_f  # the gradient norm clipped
        self.optim = torch.optim.AdamW([{"params": idm, "lr": la.idm_lr},
                                        {"params": model.world_model.parameters(),
                                         "lr": la.wm_lr}])  # fmt: skip

    def update(self, windows: torch.Tensor) -> dict[str, float]:
        """One update on a batch of uint8 video windows (B, window, C, H, W)."""
        return self.update_on_features(encode_windows(self.encoder, windows,
                                                      grad=self.train_encoder))  # fmt: skip

    def update_on_features(self, feats: torch.Tensor) -> dict[str, float]:
        """One update on f's features of the windows (B, window, ...)."""
        _, wm_loss, vq_loss = self.model.losses(feats)
        self.optim.zero_grad(set_to_none=True)
        (wm_loss + vq_loss).backward()
        nn.utils.clip_grad_norm_(self.params, self.la.grad_clip)
        self.optim.step()
        return {"loss/world_model": wm_loss.item(), "loss/vq": vq_loss.item()}


def fit_idm_input_norm(model: LatentActionModel, encoder: FeatureEncoder, batches: VideoBatches,
                       la: LatentActionConfig, device: torch.device) -> dict[str, float]:  # fmt: skip
    """p's input standardisation from the features of ``la.idm_input_norm_batches`` batches."""
    return model.fit_input_norm(encode_windows(encoder, batches.sample(device), grad=False)
                                for _ in range(la.idm_input_norm_batches))  # fmt: skip


def pretrain_latent_actions(cfg: Config, videos: Sequence[VideoDataset], features: Path | None,
                            seed: int, out: Path, progress: bool = True) -> Path:  # fmt: skip
    """Train p (with VQ) and w on the frozen features with eq. 2; writes latent_actions.pt."""
    settings = stage_settings(cfg, "latent_actions", seed, videos, features)
    if (done := completed_artifact(out, "latent_actions.pt", settings)) is not None:
        return done
    la = cfg.latent_actions
    device = resolve_device(cfg.device)
    obs_shape = videos[0].stacked_shape
    with seeded(seed):  # f too, when it is not pretrained (w/o lf)
        learner = LatentActionLearner(cfg, load_encoder(cfg, features, obs_shape, device), device)
    encoder, model = learner.encoder, learner.model
    with Stage(out, "latent_actions", cfg=dataclasses.asdict(cfg), seed=seed, settings=settings,
               progress=progress, checkpoint_every=cfg.checkpoint_every) as stage:  # fmt: skip
        state = stage.start()
        if state is not None:
            model.load_state_dict(state["model"])
            encoder.load_state_dict(state["encoder"])
            learner.optim.load_state_dict(state["optim"])
        with closing(VideoBatches(videos, la.window, la.batch_size, seed + 1000)) as batches:
            if state is not None:
                batches.load_state_dict(state["batches"])
            if state is None and la.idm_input_norm == "standardize":
                stage.log(0, fit_idm_input_norm(model, encoder, batches, la, device))
            probing = cfg.diagnostics and la.probe_every > 0
            probe = LatentActionProbe.from_videos(videos[0], la, seed) if probing else None
            health = _health_windows(videos, la, seed, device) if probing else None

            def diagnose(update: int) -> None:  # diagnostics only: training never reads them
                stage.log(update, (probe.score(encoder, model, device) if probe else {})
                          | latent_action_health(encoder, model, health))  # fmt: skip

            if not learner.train_encoder:  # rebuilt on resume, logged once as a fresh run does
                table = batches.cache_features(encoder, device, cfg.feature_cache_mb)
                if state is None:
                    stage.log(0, table)

            def step() -> dict[str, float]:
                if learner.train_encoder:
                    return learner.update(batches.sample(device))
                return learner.update_on_features(batches.sample_features(encoder, device))

            bar = stage.bar(la.updates, "latent actions")
            model.train()
            for update in range(stage.step, la.updates):
                if probing and update % la.probe_every == 0:
                    diagnose(update)
                stage.advance(update + 1, step(), bar)
                if stage.checkpoint_due(update + 1):
                    stage.checkpoint(update + 1, {"model": model.state_dict(),
                                                  "encoder": encoder.state_dict(),
                                                  "optim": learner.optim.state_dict(),
                                                  "batches": batches.state_dict()})  # fmt: skip
            if probing:
                diagnose(la.updates)
        return stage.finish({"model": model.state_dict(), "encoder": encoder.state_dict(),
                             "obs_shape": obs_shape, "config": dataclasses.asdict(cfg)},
                            "latent_actions.pt")  # fmt: skip


HEALTH_WINDOWS = 256  # video windows the VQ / world-model diagnostics run on


def _health_windows(videos: Sequence[VideoDataset], la: LatentActionConfig, seed: int,
                    device: torch.device) -> torch.Tensor:  # fmt: skip
    """A fixed set of video windows for ``latent_action_health`` (bcvlr/diagnostics)."""
    with closing(VideoBatches(videos, la.window, HEALTH_WINDOWS, seed + 5000)) as batches:
        return batches.sample(device)


SCENE_POOL = 4  # the probe's scene: f(o_t) average-pooled to 4x4 per channel
PROBE_DECODER_HIDDEN = 128  # the authors' decoder: 2 hidden layers of 128 (utils.create_decoder)
PROBE_DECODER_BATCH = 128


class LatentActionProbe:
    """How much of the true action the latent actions carry (the authors' diagnostic), fitted
    on the windows of even-numbered video episodes and scored on odd ones (R^2, or accuracy):
    a ridge regression from z to the action (one-hot for discrete actions) and, unless
    ``decoder_updates`` is 0, the authors' decoder, an MLP (keys ``mlp_...``). It reads the
    dataset's labels, which training never does."""

    def __init__(self, fit: tuple[np.ndarray, np.ndarray], held_out: tuple[np.ndarray, np.ndarray],
                 discrete: bool, num_actions: int, prefix: str = "probe",
                 decoder_updates: int = 0):  # fmt: skip
        self.fit_set, self.eval_set = fit, held_out
        self.discrete, self.num_actions, self.prefix = discrete, num_actions, prefix
        self.decoder_updates = decoder_updates
        # the scene-only scores of the latest scene (its digest), per (MLP, decoder updates)
        self._scene_digest = ""
        self._scene_scores: dict[tuple[bool, int], float] = {}

    @classmethod
    def from_replay(cls, replay: WindowReplay, window: int, windows: int, task: Task,
                    prefix: str, newest: int | None = None, decoder_updates: int = 0,
                    action_lead: int = 0) -> LatentActionProbe:  # fmt: skip
        """On the agent's own transitions (the ``newest`` entries of each env, or all), each
        window once, fitted on even episodes and scored on odd ones (within a single episode:
        its first half, then its second); z of the last transition against the action eq. 3
        pairs it with (``action_lead`` steps before it)."""
        obs, acts, episode = replay.windows(window + action_lead, newest, windows, action_lead)
        obs = obs[:, action_lead:]
        odd = episode % 2 == 1
        if odd.all() or not odd.any():
            odd = np.arange(len(odd)) >= len(odd) // 2
        return cls((obs[~odd], acts[~odd]), (obs[odd], acts[odd]),
                   task.action_space.is_discrete, task.action_space.size, prefix,
                   decoder_updates)  # fmt: skip

    @classmethod
    def from_videos(cls, videos: VideoDataset, la: LatentActionConfig,
                    seed: int) -> LatentActionProbe | None:  # fmt: skip
        if not videos.has_actions:
            return None
        labels = videos.open_labels()
        lag = la.probe_action_lag  # windows of window + lag frames; p reads the last `window`
        sampler = WindowSampler(videos, window=la.window + lag, batch_size=la.probe_windows,
                                seed=seed + 4242, prefetch=False)  # fmt: skip
        batch = sampler.sample_with_labels(labels)
        sampler.close()
        obs, acts = batch.obs[:, lag:], batch.actions[:, -1 - lag]
        odd = batch.index.episode % 2 == 1
        if odd.all() or not odd.any():
            return None
        task = videos.task
        return cls((obs[~odd], acts[~odd]), (obs[odd], acts[odd]),
                   task.action_space.is_discrete, task.action_space.size,
                   decoder_updates=la.probe_decoder_updates)  # fmt: skip

    def _encode(self, obs, encoder, model, device) -> tuple[torch.Tensor, torch.Tensor]:
        """Each window's z and its scene: f of the frame the action is taken in, average-pooled
        to SCENE_POOL x SCENE_POOL (float64, on the CPU)."""
        was = model.training
        model.eval()
        zs, scenes = [], []
        with torch.no_grad():
            for o in np.array_split(obs, max(1, len(obs) // 256)):
                feats = encode_windows(encoder, torch.from_numpy(o).to(device), grad=False)
                zs.append(model.latent(feats).cpu().double())
                scene = F.adaptive_avg_pool2d(feats[:, -2].double(), SCENE_POOL)
                scenes.append(scene.flatten(1).cpu())
        model.train(was)
        return torch.cat(zs), torch.cat(scenes)

    def _targets(self, actions: np.ndarray) -> torch.Tensor:
        if self.discrete:
            return F.one_hot(torch.from_numpy(actions).long(), self.num_actions).double()
        return torch.from_numpy(actions).double()

    def _fit_and_score(self, xf: torch.Tensor, xe: torch.Tensor, yf: torch.Tensor,
                       ye: torch.Tensor, use_mlp: bool = False) -> dict[str, float]:  # fmt: skip
        # standardised with the fit set's statistics, so that the ridge penalty means the same
        # whatever the inputs' scale (latents of std ~1e-3 would otherwise score ~0), and the
        # MLP's default learning rate too; held-out inputs clipped to the fit set's range: a
        # near-dead feature channel (std 2e-6 in the fit set) put one held-out window 5,600
        # stds out, and its extrapolation scored the scene at R^2 -3
        mean, std = xf.mean(0), xf.std(0).clamp_min(1e-12)
        xf, xe = (xf - mean) / std, (xe - mean) / std
        xe = xe.clamp(xf.min(0).values, xf.max(0).values)
        if use_mlp:
            pred = _mlp_decode(xf, yf, xe, self.discrete, self.decoder_updates)
        else:
            ones = torch.ones(1, dtype=xf.dtype)
            xf = torch.cat([xf, ones.expand(len(xf), 1)], 1)
            xe = torch.cat([xe, ones.expand(len(xe), 1)], 1)
            pred = xe @ _ridge(xf, yf, _select_penalty(xf, yf))
        if self.discrete:
            return {"action_accuracy": (pred.argmax(1) == ye.argmax(1)).double().mean().item()}
        # variance-weighted R^2: action dimensions an expert never varies (a fixed gripper
        # command) would make a per-dimension mean undefined
        r2 = 1 - ((pred - ye) ** 2).sum() / ((ye - ye.mean(0)) ** 2).sum().clamp_min(1e-12)
        return {"action_r2": r2.item(), "action_mse": ((pred - ye) ** 2).mean().item()}

    def score(self, encoder, model, device) -> dict[str, float]:
        """The probe from z (``action_r2``/``action_accuracy``), and, because a scripted
        expert's action is largely a function of what it sees, the same probe from the scene
        alone and from the scene and z together: ``beyond_scene`` is what z adds to the scene,
        the part of the action only the motion between the frames shows."""
        zf, scene_f = self._encode(self.fit_set[0], encoder, model, device)
        ze, scene_e = self._encode(self.eval_set[0], encoder, model, device)
        y = self._targets(self.fit_set[1]), self._targets(self.eval_set[1])
        key = "action_accuracy" if self.discrete else "action_r2"
        both_f, both_e = torch.cat([scene_f, zf], 1), torch.cat([scene_e, ze], 1)
        # f is frozen through latent-action pretraining, so every probe point but the first
        # would refit the same scene-only decoders on the same inputs (both fits are
        # deterministic): they are refitted only when the scene has changed
        digest = hashlib.sha1(scene_f.numpy().tobytes() + scene_e.numpy().tobytes()).hexdigest()
        if digest != self._scene_digest:
            self._scene_digest, self._scene_scores = digest, {}
        scores = {}
        for use_mlp in (False, True) if self.decoder_updates else (False,):
            name = "mlp_" if use_mlp else ""
            scores |= {name + k: v for k, v in self._fit_and_score(zf, ze, *y, use_mlp).items()}
            cached = (use_mlp, self.decoder_updates)
            if cached not in self._scene_scores:
                self._scene_scores[cached] = self._fit_and_score(scene_f, scene_e, *y, use_mlp)[key]
            scene = self._scene_scores[cached]
            both = self._fit_and_score(both_f, both_e, *y, use_mlp)[key]
            scores |= {f"{name}scene_{key}": scene, f"{name}scene_latent_{key}": both,
                       f"{name}beyond_scene_{key}": both - scene}  # fmt: skip
        return {f"{self.prefix}/{k}": v for k, v in scores.items()}


def _ridge(x: torch.Tensor, y: torch.Tensor, penalty: float) -> torch.Tensor:
    """Ridge weights; x's last column is the intercept's (ones), which is not penalised."""
    eye = torch.eye(x.shape[1], dtype=x.dtype)
    eye[-1, -1] = 0.0
    return torch.linalg.solve(x.T @ x + penalty * len(x) * eye, x.T @ y)


def _mlp_decode(xf: torch.Tensor, yf: torch.Tensor, xe: torch.Tensor, discrete: bool,
                max_updates: int) -> torch.Tensor:  # fmt: skip
    """The authors' probe decoder (2 x 128 ReLU MLP, AdamW at its defaults, batch 128, MSE or
    cross-entropy) fitted to (xf, yf), predicting xe. Ours: it starts at predicting the fit
    set's mean (last layer zero, bias the mean), and its number of updates (0, 16, 32, 64 ..
    ``max_updates``) is the one that predicts best on half of the fit set from the other half,
    as the ridge penalty is chosen: the authors train 3 epochs on up to 65,536 windows, and as
    many updates on a few hundred memorise them. Seeded: a score depends on its inputs alone."""
    xf, yf, xe = xf.float(), yf.float(), xe.float()
    loss_fn = (lambda p, t: F.cross_entropy(p, t.argmax(1))) if discrete else F.mse_loss
    checks = {0, max_updates} | {2**k for k in range(4, max_updates.bit_length())}

    def train(x, y, updates, check=None):  # -> (net, the best update count under ``check``)
        with seeded(0):
            net = mlp(x.shape[1], PROBE_DECODER_HIDDEN, y.shape[1])
            order = torch.randint(len(x), (updates, min(PROBE_DECODER_BATCH, len(x))))
        with torch.no_grad():
            net[-1].weight.zero_()
            net[-1].bias.copy_(y.mean(0).clamp_min(1e-6).log() if discrete else y.mean(0))
        optim, best = torch.optim.AdamW(net.parameters()), (math.inf, updates)
        for update in range(updates + 1):
            if check is not None and update in checks:
                with torch.no_grad():
                    best = min(best, (loss_fn(net(check[0]), check[1]).item(), update))
            if update < updates:
                loss = loss_fn(net(x[order[update]]), y[order[update]])
                optim.zero_grad(set_to_none=True)
                loss.backward()
                optim.step()
        return net, best[1]

    a, b = slice(0, None, 2), slice(1, None, 2)
    _, updates = train(xf[a], yf[a], max_updates, check=(xf[b], yf[b]))
    net = train(xf, yf, updates)[0]
    with torch.no_grad():
        return net(xe).double()


def _select_penalty(x: torch.Tensor, y: torch.Tensor,
                    penalties: Sequence[float] = (1e-3, 1e-2, 1e-1, 1.0, 10.0, 100.0)) -> float:  # fmt: skip
    """The ridge penalty (per fit window) with the least error on the other half of the fit
    set: a fixed small one lets 128 latents fitted on a few hundred windows score well below
    zero when they carry nothing."""
    a, b = slice(0, None, 2), slice(1, None, 2)
    errors = [((x[b] @ _ridge(x[a], y[a], p) - y[b]) ** 2).sum().item() for p in penalties]
    return penalties[int(np.argmin(errors))]


# ---------------------------------------------------------------------------------------------
# 3. Online stage (Section 3.2, Algorithm 1 lines 12-36)
# ---------------------------------------------------------------------------------------------
class Agent(nn.Module):
    """f, p (with VQ) and w, d, pi: everything the online stage trains or acts with."""

    def __init__(self, cfg: Config, task: Task, obs_shape: tuple[int, int, int]):
        super().__init__()
        self.discrete = task.action_space.is_discrete
        self.encoder = build_encoder(cfg, obs_shape)
        self.lam = LatentActionModel(self.encoder.feature_shape, cfg.latent_actions)
        self.decoder = action_decoder(cfg.latent_actions.latent_dim, task.action_space.size,
                                      cfg.online.decoder_hidden)  # fmt: skip
        self.policy = LatentPolicy(self.encoder.feature_shape, cfg.latent_actions.latent_dim,
                                   cfg.online, self.discrete)  # fmt: skip
        self.explore_std = cfg.online.explore_std
        # Affine map between p's latents and the space pi predicts and d reads (identity
        # unless online.latent_norm is "standardize"); checkpointed with the agent.
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
        was_training = self.training
        self.eval()
        out = self.decoder(self.policy(self.encoder(torch.from_numpy(obs).to(device))))
        self.train(was_training)
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


class OnlineLearner:
    """Optimisers and update steps of the online stage; the loop lives in ``online``."""

    def __init__(self, cfg: Config, agent: Agent):
        oc = cfg.online
        self.cfg, self.agent = cfg, agent
        # windows carry `lead` frames more than p reads: o_t, which a_t and pi belong to, first
        self.lead = oc.action_lead
        self.window = cfg.latent_actions.window + self.lead  # the frames eq. 3 and eq. 4 read
        self.train_encoder = cfg.encoder_training == "ft" or cfg.variant == "wo_lf"
        self.train_idm = cfg.variant != "wo_ft"
        # w/o ft keeps the pretrained latent-action model whole; w/o la must learn w online
        self.train_wm = (oc.wm_ft == "finetune" and self.train_idm) or cfg.variant == "wo_la"
        agent.encoder.requires_grad_(self.train_encoder)
        lam = agent.lam
        groups = [{"params": agent.decoder.parameters(), "lr": oc.decoder_lr}]
        if self.train_idm:
            idm = list(lam.idm.parameters()) + list(lam.to_latent.parameters())
            groups.append({"params": idm, "lr": oc.idm_ft_lr})
        if self.train_encoder:
            groups.append({"params": agent.encoder.parameters(), "lr": oc.idm_ft_lr})
        lam.world_model.requires_grad_(self.train_wm)
        self.ft_optim = torch.optim.Adam(groups)
        self.wm_optim = (torch.optim.Adam(lam.world_model.parameters(), lr=oc.wm_ft_lr)
                         if self.train_wm else None)  # fmt: skip
        self.bc_optim = torch.optim.Adam(agent.policy.parameters(), lr=oc.policy_lr)
        # the warm-up has its own: both of the authors' codes start the online BC afresh
        self.warmup_optim = torch.optim.Adam(agent.policy.parameters(), lr=oc.policy_lr)

    def finetune_step(self, obs: torch.Tensor, actions: torch.Tensor) -> dict[str, float]:
        """Eq. 3 on replay windows: d(p(f(o))) -> a, plus beta * (world model + VQ)."""
        agent, oc = self.agent, self.cfg.online
        agent.lam.train(self.train_idm)  # VQ codebooks and BatchNorm move only when p trains
        feats = encode_windows(agent.encoder, obs[:, self.lead :], grad=self.train_encoder)
        # beta = 0 (Fig. 7) gives w and the VQ no gradient and nothing to pass on to p or f, so
        # neither is run: on a CPU w's U-Net is most of an update's cost (docs/fidelity.md)
        with_wm = oc.beta != 0
        if with_wm:
            z, wm_loss, vq_loss = agent.lam.losses(feats)
        else:
            z = agent.lam.latent(feats)
        if not self.train_idm:
            z = z.detach()
        act_loss = action_loss(agent, z, actions)
        loss = act_loss + oc.beta * (wm_loss + vq_loss) if with_wm else act_loss
        wm_optim = self.wm_optim if with_wm else None
        self.ft_optim.zero_grad(set_to_none=True)
        if wm_optim is not None:
            wm_optim.zero_grad(set_to_none=True)
        loss.backward()
        self.ft_optim.step()
        if wm_optim is not None:
            wm_optim.step()
        metrics = {"loss/action": act_loss.item()}
        if with_wm:
            metrics["loss/ft_world_model"] = wm_loss.item()
        return metrics

    def bc_step(self, video_obs: torch.Tensor, warmup: bool = False) -> dict[str, float]:
        """Eq. 4: pi(f(o_t)) regresses the (unquantised) latent action p labels the video
        transition with (``warmup``: the latent-BC warm-up's optimiser)."""
        return self.bc_step_on_features(encode_windows(self.agent.encoder, video_obs, grad=False),
                                        warmup)  # fmt: skip

    def bc_step_on_features(self, feats: torch.Tensor, warmup: bool = False) -> dict[str, float]:
        """``bc_step`` on f's features of the video windows (f is never trained by eq. 4)."""
        agent = self.agent
        code_mode = self.cfg.online.idm_mode_in_bc == "train"
        agent.lam.train(code_mode)
        with torch.no_grad():
            target = agent.lam.latent(feats[:, self.lead :])
            if code_mode:  # the authors' IDM always quantises too, moving the EMA codebook
                agent.lam.vq(target)
        target = agent.normalize(target)
        if self.cfg.online.latent_norm == "robust":
            target = target.clamp(-LATENT_CLIP, LATENT_CLIP)
        loss = F.mse_loss(agent.policy(feats[:, -2 - self.lead]), target)
        optim = self.warmup_optim if warmup else self.bc_optim
        optim.zero_grad(set_to_none=True)
        loss.backward()
        optim.step()
        return {"loss/bc": loss.item()}

    @torch.no_grad()
    def standardize_latents(self, video_batches: VideoBatches, device: torch.device,
                            keep_functions: bool = False) -> dict:  # fmt: skip
        """Set the agent's latent standardisation from p's latents of video windows; with
        ``keep_functions``, d and pi are re-parametrised so that they compute the same."""
        agent = self.agent
        agent.lam.eval()
        z = torch.cat([agent.lam.latent(encode_windows(agent.encoder,
                                                       video_batches.sample(device)[:, self.lead :],
                                                       grad=False))
                       for _ in range(self.cfg.online.latent_norm_batches)])  # fmt: skip
        mean, std = latent_statistics(z, robust=self.cfg.online.latent_norm == "robust")
        if keep_functions:
            agent.restandardize(mean, std.clamp_min(1e-6))
        else:
            agent.z_mean.copy_(mean)
            agent.z_std.copy_(std.clamp_min(1e-6))
        return {"latent/mean_abs": mean.abs().mean().item(), "latent/std": std.mean().item()}

    def state_dict(self) -> dict:
        return {"ft": self.ft_optim.state_dict(), "bc": self.bc_optim.state_dict(),
                "wm": None if self.wm_optim is None else self.wm_optim.state_dict()}  # fmt: skip

    def load_state_dict(self, state: dict) -> None:
        self.ft_optim.load_state_dict(state["ft"])
        self.bc_optim.load_state_dict(state["bc"])
        if self.wm_optim is not None:
            self.wm_optim.load_state_dict(state["wm"])


def pretrained_idm(cfg: Config, latent_actions: Path | None) -> bool:
    """Whether the online stage starts from a pretrained p and w (w/o la starts them fresh)."""
    return latent_actions is not None and cfg.variant != "wo_la"


def load_pretrained(agent: Agent, cfg: Config, latent_actions: Path | None,
                    features: Path | None) -> None:  # fmt: skip
    """Pretrained f and p/w into the agent, per the variant (w/o la starts p and w fresh)."""
    if pretrained_idm(cfg, latent_actions):
        state = torch.load(latent_actions, map_location="cpu", weights_only=False)
        agent.lam.load_state_dict(state["model"])
        agent.encoder.load_state_dict(state["encoder"])
    elif features is not None and cfg.variant != "wo_lf":
        state = torch.load(features, map_location="cpu", weights_only=False)
        agent.encoder.load_state_dict(state["encoder"])


def online(task: Task, seed: int, cfg: Config, harness, videos: VideoDataset,
           latent_actions: Path | None, features: Path | None = None) -> None:  # fmt: skip
    """Algorithm 1, online stage, driven by the harness (evaluation, checkpoints, results)."""
    oc, la = cfg.online, cfg.latent_actions
    device = resolve_device(cfg.device)
    with seeded(seed):  # d and pi (and p, w without pretraining): the same in every process
        agent = Agent(cfg, task, videos.stacked_shape)
    load_pretrained(agent, cfg, latent_actions, features)
    agent.to(device)
    learner = OnlineLearner(cfg, agent)
    n_envs = oc.num_envs
    frames_per_step = n_envs * task.action_repeat
    # whole vectorised steps up to or past the budget, so its last point is reached and evaluated
    total_steps = math.ceil(harness.budget / frames_per_step)
    replay = WindowReplay(oc.replay_capacity, n_envs, videos.stacked_shape, task.action_space,
                          seed=seed)  # fmt: skip
    gen = torch.Generator().manual_seed(seed)

    state = harness.start()
    step, cycle = 0, 0
    if state is not None:
        # checkpoints written before the latent standardisation existed lack its buffers
        agent.load_state_dict({"z_mean": agent.z_mean, "z_std": agent.z_std} | state["agent"])
        learner.load_state_dict(state["learner"])
        replay.load_state_dict(state["replay"])
        gen.set_state(state["generator"])
        step, cycle = state["step"], state["cycle"]
    video_batches = VideoBatches([videos], learner.window, oc.bc_batch_size, seed + 2000)
    if state is not None and "video_batches" in state:  # older checkpoints lack it
        video_batches.load_state_dict(state["video_batches"])
    if not learner.train_encoder:
        t0 = time.perf_counter()
        table = video_batches.cache_features(agent.encoder, device, cfg.feature_cache_mb)
        harness.run.add_timing("feature_cache", time.perf_counter() - t0)
        if state is None:  # rebuilt on resume, logged once as a fresh run does
            harness.log(0, 0, table)

    def bc_step(warmup: bool = False) -> dict[str, float]:
        if learner.train_encoder:
            return learner.bc_step(video_batches.sample(device), warmup)
        return learner.bc_step_on_features(video_batches.sample_features(agent.encoder, device),
                                           warmup)  # fmt: skip

    def checkpoint(extra: dict | None = None) -> None:
        harness.checkpoint(step, {"agent": agent.state_dict(), "learner": learner.state_dict(),
                                  "replay": replay.state_dict(), "generator": gen.get_state(),
                                  "video_batches": video_batches.state_dict(),
                                  "step": step, "cycle": cycle, **(extra or {})})  # fmt: skip

    def evaluate_if_due() -> None:
        if harness.eval_due(step * frames_per_step):
            harness.evaluate(lambda o: agent.act(o, explore=False, generator=gen), step,
                             step * frames_per_step)  # fmt: skip

    fresh_idm = not pretrained_idm(cfg, latent_actions)
    if state is None and la.idm_input_norm == "standardize" and fresh_idm:
        harness.log(0, 0, fit_idm_input_norm(agent.lam, agent.encoder, video_batches, la, device))
    if state is None and oc.latent_norm != "none":
        harness.log(0, 0, learner.standardize_latents(video_batches, device))
    # Line 15-17: latent BC warm-up before any interaction (skipped without pretrained p).
    if state is None and cfg.variant != "wo_la":
        t0 = time.perf_counter()
        for i in range(oc.bc_warmup_updates):
            metrics = bc_step(warmup=True)
            if (i + 1) % 500 == 0 or i + 1 == oc.bc_warmup_updates:
                harness.log(0, 0, {"warmup/" + k: v for k, v in metrics.items()})
        harness.run.add_timing("bc_warmup", time.perf_counter() - t0)
        checkpoint()

    if oc.offline_labelled:

        def checkpoint_cycle(done: int, extra: dict) -> None:
            nonlocal step, cycle
            step = cycle = done  # no env steps here: the harness counts cycles, as its log does
            checkpoint(extra)

        offline_decoding(task, cfg, agent, learner, videos, harness, video_batches, device, gen,
                         start_cycle=cycle, checkpoint=checkpoint_cycle,
                         sampler_state=None if state is None else state.get("offline_sampler"))  # fmt: skip
        return

    env = make_reward_free(task, num_envs=n_envs, seed=seed + 17 * (cycle + 1))
    obs = env.reset()
    (replay.start if state is None else replay.restart)(obs)
    bar = harness.progress_bar(total_steps * frames_per_step, step * frames_per_step)
    try:
        while step < total_steps:
            # Lines 19-25: collect one cycle (random actions in the first one).
            t0 = time.perf_counter()
            cycle_end = step + min(oc.cycle_steps, total_steps - step)
            while step < cycle_end:
                # without pretrained latent actions the policy means nothing yet: random too
                if cycle == 0 and (oc.random_first_cycle or cfg.variant == "wo_la"):
                    actions = random_actions(task, n_envs, gen)
                else:
                    actions = agent.act(obs, explore=True, generator=gen)
                out = env.step(actions)
                replay.add(actions, out.obs, out.done, out.final_obs)
                obs = out.obs
                step += 1
                bar.update(frames_per_step)
                if step < cycle_end:  # a point at the cycle's end: after its updates, below
                    evaluate_if_due()
            harness.run.add_timing("collect", time.perf_counter() - t0)
            probing = cfg.diagnostics and oc.replay_probe_windows and cfg.variant != "wo_la"
            probed = {}
            if probing:  # this cycle's transitions, before eq. 3 has seen them
                probed |= _probe_replay(replay, task, cfg, agent, device, harness, "probe_new",
                                        newest=oc.cycle_steps)  # fmt: skip
            # Lines 26-30: finetune p (and w) and train d on the replay (eq. 3).
            t0 = time.perf_counter()
            n_ft = (
                oc.ft_updates
                if oc.ft_updates is not None
                else max(1, math.ceil(oc.ft_epochs * replay.stored_transitions / oc.ft_batch_size))
            )
            for _ in range(n_ft):
                o, a = replay.sample(oc.ft_batch_size, learner.window, action_lead=learner.lead)
                ft = learner.finetune_step(torch.from_numpy(o).to(device),
                                           torch.from_numpy(a).to(device))  # fmt: skip
            if oc.latent_norm_refit:  # eq. 3 moved p: eq. 4's targets get p's current scale
                probed |= learner.standardize_latents(video_batches, device, keep_functions=True)
            # Lines 31-36: behaviour-clone pi on the videos (eq. 4).
            for _ in range(oc.bc_updates):
                bc = bc_step()
            harness.run.add_timing("update", time.perf_counter() - t0)
            cycle += 1
            frames = step * frames_per_step
            if probing:  # the whole replay, which eq. 3 has trained p on
                probed |= _probe_replay(replay, task, cfg, agent, device, harness, "probe_replay")
            harness.log(step, frames, ft | bc | probed | {
                "train/ft_updates": n_ft, "train/replay": replay.stored_transitions})  # fmt: skip
            evaluate_if_due()
            if cycle % oc.checkpoint_every_cycles == 0 or step >= total_steps:
                checkpoint()
    finally:
        env.close()
        video_batches.close()
    harness.finish()


def _probe_replay(replay: WindowReplay, task: Task, cfg: Config, agent: Agent,
                  device: torch.device, harness, prefix: str,
                  newest: int | None = None) -> dict:  # fmt: skip
    """The online latent-action probe; its seconds go to run.json's ``probe`` phase."""
    t0 = time.perf_counter()
    probe = LatentActionProbe.from_replay(replay, cfg.latent_actions.window,
                                          cfg.online.replay_probe_windows, task, prefix, newest,
                                          cfg.online.replay_probe_decoder_updates,
                                          cfg.online.action_lead)  # fmt: skip
    scores = probe.score(agent.encoder, agent.lam, device)
    harness.run.add_timing("probe", time.perf_counter() - t0)
    return scores


def random_actions(task: Task, n: int, gen: torch.Generator) -> np.ndarray:
    if task.action_space.is_discrete:
        return torch.randint(0, task.action_space.size, (n,), generator=gen).numpy()
    return (torch.rand((n, task.action_space.size), generator=gen) * 2 - 1).numpy()


def offline_decoding(task: Task, cfg: Config, agent: Agent, learner: OnlineLearner,
                     videos: VideoDataset, harness, video_batches: VideoBatches,
                     device: torch.device, gen: torch.Generator, start_cycle: int,
                     checkpoint: Callable[[int, dict], None],
                     sampler_state: dict | None = None) -> None:  # fmt: skip
    """Table 10: eq. 3 and eq. 4 on N action-labelled expert transitions, no interaction. The
    cycle count equals the online stage's so both see the same number of updates.
    ``checkpoint(cycles_done, extra)`` saves the agent and ``extra``; a resumed run starts at
    ``start_cycle`` with its labelled sampler's ``sampler_state``."""
    oc = cfg.online
    labels = videos.open_labels()
    # checkpoints written before the sampler's state was saved resume with a reseeded one
    seed = harness.seed + 3000 + (start_cycle if sampler_state is None else 0)
    sampler = WindowSampler(videos, window=learner.window, batch_size=oc.ft_batch_size,
                            seed=seed)  # fmt: skip
    if sampler_state is not None:
        sampler.load_state_dict(sampler_state)
    limit = oc.offline_labelled
    cycles = math.ceil(harness.budget / (oc.cycle_steps * oc.num_envs * task.action_repeat))
    for cycle in range(start_cycle, cycles):
        for _ in range(1 if oc.ft_updates is None else oc.ft_updates):
            batch = _labelled_batch(sampler, labels, limit, oc.ft_batch_size, learner.lead)
            ft = learner.finetune_step(torch.from_numpy(batch[0]).to(device),
                                       torch.from_numpy(batch[1]).to(device))  # fmt: skip
        if oc.latent_norm_refit:  # as online: eq. 3 moved p, eq. 4's targets get its scale
            ft |= learner.standardize_latents(video_batches, device, keep_functions=True)
        for _ in range(oc.bc_updates):
            bc = learner.bc_step(video_batches.sample(device))
        harness.log(cycle + 1, 0, ft | bc)
        if (cycle + 1) % oc.checkpoint_every_cycles == 0 or cycle + 1 == cycles:
            checkpoint(cycle + 1, {"offline_sampler": sampler.state_dict()})
    harness.evaluate(lambda o: agent.act(o, explore=False, generator=gen), cycles, harness.budget)
    sampler.close()
    harness.finish()


def _labelled_batch(sampler: WindowSampler, labels, limit: int, size: int, action_lead: int = 0):
    """Windows whose (last) transition lies among the first ``limit`` transitions of the
    dataset, in episode order: the N action-labelled expert transitions of Table 10; each
    with the action of its last transition, or of the one ``action_lead`` steps before."""
    ds = sampler.dataset
    transitions = np.concatenate([ds.episode_lengths(c) for c in range(ds.num_chunks)]) - 1
    before = np.concatenate([[0], np.cumsum(transitions)])  # transitions before each episode
    obs, acts, have = [], [], 0
    for _ in range(10_000):
        b = sampler.sample_with_labels(labels)
        last = before[b.index.episode] + b.index.step + b.obs.shape[1] - 2
        keep = last < limit
        obs.append(b.obs[keep])
        acts.append(b.actions[keep][:, -1 - action_lead])
        have += int(keep.sum())
        if have >= size:
            return np.concatenate(obs)[:size], np.concatenate(acts)[:size]
    raise ValueError(f"could not draw {size} windows among the first {limit} transitions")


# ---------------------------------------------------------------------------------------------
# The method interface (bcvlr/methods.py): `bcvlr run --method bcvlr` chains the stages.
# ---------------------------------------------------------------------------------------------
def run(task: Task, seed: int, cfg: Config, harness, videos: VideoDataset | None = None) -> None:
    if videos is None:
        raise ValueError("BCV-LR learns from expert videos: pass --videos")
    pretrain = harness.path / "pretrain"
    progress = harness.progress
    features = None
    if cfg.variant != "wo_lf":
        features = (Path(cfg.features.pretrained_encoder) if cfg.features.pretrained_encoder
                    else pretrain_features(cfg, [videos], seed, pretrain / "features",
                                           progress))  # fmt: skip
    latent_actions = None
    if cfg.variant != "wo_la":
        latent_actions = pretrain_latent_actions(
            cfg, [videos], features, seed, pretrain / "latent_actions", progress
        )
    online(task, seed, cfg, harness, videos, latent_actions, features)


def describe(cfg: Config) -> dict[str, Any]:
    return dataclasses.asdict(cfg)
