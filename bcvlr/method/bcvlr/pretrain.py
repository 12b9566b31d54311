"""The offline stages of Algorithm 1: 1. latent features (Section 3.1.1, Appendix A.2) and
2. latent actions (Section 3.1.2, eq. 2). Each checkpoints atomically and resumes after a kill."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from contextlib import closing
from pathlib import Path

import torch
from torch import nn

from bcvlr.data import VideoDataset
from bcvlr.data.manifest import sha256_file
from bcvlr.data.video_batches import VideoBatches
from bcvlr.diagnostics.latent_actions import latent_action_health
from bcvlr.diagnostics.probe import LatentActionProbe
from bcvlr.method.bcvlr.config import Config, FeatureConfig, LatentActionConfig
from bcvlr.method.bcvlr.model import LatentActionModel, build_encoder, build_latent_action_model
from bcvlr.nets import module_device
from bcvlr.nets.augment import RandomShift
from bcvlr.nets.features import FeatureEncoder, encode_windows
from bcvlr.nets.ssl import CurlContrastive, PrototypeTemporal, ReconstructionDecoder, soft_update
from bcvlr.run.device import autocast, resolve_device
from bcvlr.run.seeding import seeded
from bcvlr.run.stage import Stage, completed_artifact


# ---------------------------------------------------------------------------------------------
# 1. Latent features (Section 3.1.1, Appendix A.2)
# ---------------------------------------------------------------------------------------------
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
        self.aug = feature_augmentation(fc)
        # the temporal objective pairs o_t with o_t+1; the contrastive one uses two views of o_t
        self.window = 2 if fc.objective == "prototype" else 1
        self.cfg = cfg

    def update(self, obs: torch.Tensor, step: int) -> dict[str, float]:
        """One update on a batch of uint8 windows (B, window, C, H, W); ``step`` counts the
        updates before this one (the momentum update runs every ``ema_every``)."""
        fc, aug = self.fc, self.aug  # the shift reads the uint8 frames; f scales its input
        with autocast(self.cfg.precision, module_device(self.modules)):
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


def feature_augmentation(fc: FeatureConfig) -> RandomShift:
    """f's random shift: uint8 views, which f scales in one float copy of its own."""
    return RandomShift(fc.shift_pad, as_float=False)


LATENT_STAGE_DEPARTURES = ("vq_init", "wm_residual", "idm_input_norm", "idm_input_norm_batches")


def stage_settings(cfg: Config, stage: str, seed: int, videos: Sequence[VideoDataset],
                   features: Path | None = None) -> dict:  # fmt: skip
    """What defines a pretraining stage's product, so that it is reused only when these
    match: its seed, its config sections, the videos' frames and (stage 2) the f it reads."""
    sections = {
        "features": ("features",),
        "latent_actions": ("features", "latent_actions", "encoder_training", "variant"),
    }
    full = dataclasses.asdict(cfg)
    settings = {"seed": seed, **{k: full[k] for k in sections[stage]},
                "videos": [v.fingerprint for v in videos]}  # fmt: skip
    if stage == "latent_actions":  # the departures that change what eq. 2 trains
        settings["departures"] = {k: full["departures"][k] for k in LATENT_STAGE_DEPARTURES}
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
            hold_frames(batches, device, cfg, stage, log=state is None)
            for update in range(stage.step, fc.updates):
                metrics = learner.update(batches.sample(device), update)
                stage.advance(update + 1, metrics, bar)
                if stage.checkpoint_due(update + 1):
                    stage.checkpoint(update + 1, {"modules": learner.modules.state_dict(),
                                                  "optim": learner.optim.state_dict(),
                                                  "batches": batches.state_dict()})  # fmt: skip
        return stage.finish({"encoder": learner.encoder.state_dict(), "obs_shape": obs_shape,
                             "config": dataclasses.asdict(cfg)}, "features.pt")  # fmt: skip


def hold_frames(batches: VideoBatches, device: torch.device, cfg: Config, stage: Stage,
                log: bool) -> None:  # fmt: skip
    """On a GPU, the video frames held there when they fit (the same batches, no host-side
    gather and copy per update); rebuilt on resume, logged once as a fresh run does."""
    if device.type == "cuda":
        held = batches.hold_frames(device, cfg.feature_cache_mb)
        if log:
            stage.log(0, held)


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
        self.model = model = build_latent_action_model(cfg, encoder.feature_shape).to(device)
        trained_f = list(encoder.parameters()) if self.train_encoder else []
        idm = list(model.idm.parameters()) + list(model.to_latent.parameters()) + trained_f
        self.params = list(model.parameters()) + trained_f  # the gradient norm clipped
        self.optim = torch.optim.AdamW([{"params": idm, "lr": la.idm_lr},
                                        {"params": model.world_model.parameters(),
                                         "lr": la.wm_lr}])  # fmt: skip
        self.cfg = cfg

    def update(self, windows: torch.Tensor) -> dict[str, float]:
        """One update on a batch of uint8 video windows (B, window, C, H, W)."""
        with autocast(self.cfg.precision, module_device(self.model)):
            feats = encode_windows(self.encoder, windows, grad=self.train_encoder)
        return self.update_on_features(feats)

    def update_on_features(self, feats: torch.Tensor) -> dict[str, float]:
        """One update on f's features of the windows (B, window, ...)."""
        with autocast(self.cfg.precision, module_device(self.model)):
            _, wm_loss, vq_loss = self.model.losses(feats)
        self.optim.zero_grad(set_to_none=True)
        (wm_loss + vq_loss).backward()
        nn.utils.clip_grad_norm_(self.params, self.la.grad_clip)
        self.optim.step()
        return {"loss/world_model": wm_loss.item(), "loss/vq": vq_loss.item()}


def fit_idm_input_norm(model: LatentActionModel, encoder: FeatureEncoder, batches: VideoBatches,
                       count: int, device: torch.device) -> dict[str, float]:  # fmt: skip
    """p's input standardisation (a departure) from the features of ``count`` batches."""
    return model.fit_input_norm(encode_windows(encoder, batches.sample(device), grad=False)
                                for _ in range(count))  # fmt: skip


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
            dep = cfg.departures
            if state is None and dep.idm_input_norm == "standardize":
                stage.log(0, fit_idm_input_norm(model, encoder, batches,
                                                dep.idm_input_norm_batches, device))  # fmt: skip
            diag = cfg.diagnostics
            probing = diag.probing()
            probe = (LatentActionProbe.from_videos(videos[0], la.window, diag, seed)
                     if probing else None)  # fmt: skip
            health = _health_windows(videos, la, seed, device) if probing else None

            def diagnose(update: int) -> None:  # diagnostics only: training never reads them
                stage.log(update, (probe.score(encoder, model, device) if probe else {})
                          | latent_action_health(encoder, model, health))  # fmt: skip

            if not learner.train_encoder:  # rebuilt on resume, logged once as a fresh run does
                table = batches.cache_features(encoder, device, cfg.feature_cache_mb)
                if state is None:
                    stage.log(0, table)
            else:
                hold_frames(batches, device, cfg, stage, log=state is None)

            def step() -> dict[str, float]:
                if learner.train_encoder:
                    return learner.update(batches.sample(device))
                return learner.update_on_features(batches.sample_features(encoder, device))

            bar = stage.bar(la.updates, "latent actions")
            model.train()
            for update in range(stage.step, la.updates):
                if probing and update % diag.probe_every == 0:
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
