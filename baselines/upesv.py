"""UPESV: Unsupervised Policy from Ensemble Self-supervised labeled Videos (Liu, Chen, Li;
"Sample-efficient Unsupervised Policy Cloning from Ensemble Self-supervised Labeled Videos",
arXiv 2412.10778, ICRA). No public code: this is our construction from the paper's abstract and
summary, the BCV-LR paper's description of it, and implementation-facts.md. Every choice the
sources leave open is marked [ours] here and in docs/baselines.md.

What the sources give: a *video labelling model* infers the expert's actions in action-free
videos; it is trained by several combined self-supervised tasks that use both the videos and
the agent's reward-free interactions — Visual Shift Contrast, Latent Future Reconstruction and
Ground-truth Action Prediction; a policy is cloned from the labelled videos and collects the
next interactions, iteratively. The BCV-LR paper adds that UPESV's pretrained knowledge stays
frozen online (Section 4.4: "the failure of baseline UPESV that freezes the pre-trained
knowledge"), and UPESV was published on Procgen only.

The labelling model here (``Labeller``), with a shared per-frame encoder f (bcvlr/nets/features.py):

- VSC, Visual Shift Contrast: CURL's bilinear InfoNCE between f(shift(o)) and a momentum
  encoder's f'(shift'(o)) (bcvlr/nets/ssl.py CurlContrastive), on video and agent frames;
- LFR, Latent Future Reconstruction: a latent action z = p(o_t, o_t+1) on f's maps of the
  window's frames (``labeller_input: pixels`` [ours] reads the stacked pixels), vector-quantised
  (bcvlr/nets/vq.py), and a U-Net w(f(o_t), z_q) predicting f'(o_t+1), the future in the
  momentum encoder's latent space (LAPO / BCV-LR's eq. 2 on features) [ours: the target, the
  networks and the VQ sizes are BCV-LR's], on video and agent pairs;
- GAP, Ground-truth Action Prediction: a head d(z) -> a_t trained on the agent's transitions
  with the actions it took (cross-entropy or MSE): p and d together are the IDM of
  bcvlr/nets/idm.py; d(z) labels the video transitions.

The loop is BCO(alpha)'s (baselines/bco.py): random interactions first, then iterations of
labeller training, labelling + behaviour cloning, and collection with the policy.

Our choices [ours], beyond those above:
- pretraining: VSC + LFR on the videos alone for ``pretrain_updates`` before any interaction
  (the "pre-trained knowledge"), in its own resumable stage (``<run>/pretrain/``);
- online, by default f, p and w stay as pretrained and d alone learns by GAP (the BCV-LR
  paper's reading, close to BCV-LR w/o ft); ``freeze_pretrained: false`` [ours] instead sums
  the three losses with weights ``vsc_coef``, ``lfr_coef``, ``gap_coef`` (1 each) on batches
  of agent pairs and video pairs (GAP on the agent's only) and trains f, p, d and w jointly
  (``online_ssl``);
- VSC contrasts two independent random shifts of o_t (``shift_pad``); LFR and GAP see the
  window unshifted, as BCO's IDM does;
- labels: the most likely action (discrete) or d's action (continuous), from the labeller in
  eval mode (VQ codebooks fixed);
- the policy is an IMPALA CNN on f's feature maps (detached: behaviour cloning does not train
  the shared encoder), cloned with the labels by cross-entropy or MSE;
- continuous actions (DMC, Metaworld) are our adaptation: the same model with an MSE GAP head
  and tanh outputs, DMC's stacked frames as observations, the DrQ random shift;
- schedule, budget, collection noise, evaluation, checkpoints: as BCO(alpha) (baselines/bco.py).
"""

from __future__ import annotations

import copy
import dataclasses
import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from baselines import bco
from bcvlr.data import VideoDataset, WindowSampler
from bcvlr.data.window_replay import WindowReplay
from bcvlr.envs import expert_videos
from bcvlr.nets.augment import RandomShift
from bcvlr.nets.features import FeatureEncoder
from bcvlr.nets.idm import ActionNet, InverseDynamics
from bcvlr.nets.ssl import CurlContrastive, soft_update
from bcvlr.nets.unet import WorldModelUNet
from bcvlr.nets.vq import VectorQuantizer
from bcvlr.run.device import resolve_device, torch_threads
from bcvlr.run.seeding import seeded
from bcvlr.run.stage import Stage, completed_artifact
from bcvlr.tasks import ActionSpace, Task, get_task

SUITES = ("procgen", "dmc", "metaworld")
NEEDS_VIDEOS = True
ARTIFACT = "labeller.pt"


@dataclass
class Config(bco.Config):
    """BCO(alpha)'s loop settings (``channels``/``hidden``: the policy's and p's IMPALA stack,
    ``aug_pad``: the policy's shift) and the labelling model's. Defaults are full size."""

    # f: BCV-LR's feature encoders ("impala": 16x64x64 maps for Procgen; "conv": 32x32x32)
    encoder: Literal["conv", "impala"] = "conv"
    feature_channels: int = 32
    strided_layers: int = 1  # conv encoder: stride-2 layers (2: 16x16 maps, CPU-sized)
    latent_dim: int = 128  # z, the latent action p outputs
    vq_codebooks: int = 2
    vq_positions: int = 4
    vq_embeddings: int = 64
    vq_decay: float = 0.999
    vq_commitment: float = 0.05
    wm_base_channels: int = 24  # w's U-Net width
    proj_dim: int = 128  # VSC projection
    predictor_hidden: int = 512
    shift_pad: int = 4  # VSC's random shifts (default_config: 1 on Procgen)
    ema_tau: float = 0.05  # momentum encoder f' <- tau f + (1 - tau) f'
    ema_every: int = 2
    vsc_coef: float = 1.0
    lfr_coef: float = 1.0
    gap_coef: float = 1.0
    pretrain_updates: int = 10_000  # VSC + LFR on the videos before interaction (0: none)
    pretrain_checkpoint_every: int = 1000
    # The BCV-LR paper's reading (Section 4.4: UPESV "freezes the pre-trained knowledge"): p
    # reads the pretrained f's maps, and online only d learns. config/upesv_joint.yaml: p on
    # the stacked pixels, f, p, d and w trained online (docs/baselines.md, UPESV).
    labeller_input: Literal["pixels", "features"] = "features"
    freeze_pretrained: bool = True  # online, train d alone (f, p, w stay as pretrained)
    online_ssl: bool = True  # unfrozen only: VSC + LFR go on online, on videos and interactions

    def validate(self) -> None:
        super().validate()
        positions = self.vq_codebooks * self.vq_positions
        if positions < 1 or self.latent_dim % positions:
            raise ValueError(f"latent_dim {self.latent_dim} must be a multiple of "
                             f"vq_codebooks x vq_positions = {positions}")  # fmt: skip
        for name in ("feature_channels", "vq_embeddings", "wm_base_channels", "proj_dim",
                     "predictor_hidden", "ema_every", "pretrain_checkpoint_every"):  # fmt: skip
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.pretrain_updates < 0 or self.shift_pad < 0 or self.strided_layers < 0:
            raise ValueError("pretrain_updates, shift_pad and strided_layers must be >= 0")
        if min(self.vsc_coef, self.lfr_coef, self.gap_coef) < 0 or not 0 < self.ema_tau <= 1:
            raise ValueError("loss weights must be >= 0 and ema_tau in (0, 1]")
        if self.pretrain_updates and self.shift_pad == 0 and self.vsc_coef > 0:
            raise ValueError("VSC contrasts shifted views: shift_pad must be >= 1")


def default_config(task: Task | str) -> dict[str, Any]:
    task = get_task(task) if isinstance(task, str) else task
    loop = bco.default_config(task)  # BCO(alpha)'s per-suite loop (sticky random I_pre on Procgen)
    if task.suite == "procgen":  # BCV-LR's Procgen encoder and shift (Table 11)
        return dataclasses.asdict(Config(**loop | {"encoder": "impala", "feature_channels": 16,
                                                   "shift_pad": 1}))  # fmt: skip
    return dataclasses.asdict(Config(**loop))


# ---------------------------------------------------------------------------------------------
# The video labelling model
# ---------------------------------------------------------------------------------------------
class Labeller(InverseDynamics):
    """f, then p (the IDM trunk, on f's maps of o_t and o_t+1, or on their pixels) -> z -> d
    (the IDM head); with
    f' (momentum), the VSC head, the quantiser and w for the self-supervised tasks."""

    def __init__(self, obs_shape: tuple[int, int, int], space: ActionSpace, cfg: Config):
        encoder = FeatureEncoder(cfg.encoder, obs_shape, cfg.feature_channels,
                                 strided=cfg.strided_layers)  # fmt: skip
        shape = encoder.feature_shape
        self.on_pixels = cfg.labeller_input == "pixels"
        super().__init__(obs_shape if self.on_pixels else shape, space, cfg.channels,
                         cfg.latent_dim, pixels=self.on_pixels, window=cfg.window)  # fmt: skip
        self.encoder = encoder
        self.target_encoder = copy.deepcopy(encoder).requires_grad_(False)
        self.vsc = CurlContrastive(encoder.feature_dim, cfg.proj_dim, cfg.predictor_hidden)
        self.vq = VectorQuantizer(cfg.latent_dim, cfg.vq_codebooks, cfg.vq_positions,
                                  cfg.vq_embeddings, cfg.vq_decay,
                                  commitment_cost=cfg.vq_commitment)  # fmt: skip
        # w sees the maps of every frame of the window but the last (o_t; or o_t-1, o_t)
        past = (shape[0] * (cfg.window - 1), *shape[1:])
        self.world_model = WorldModelUNet(past, cfg.latent_dim, out_channels=shape[0],
                                          base_channels=cfg.wm_base_channels, bounded=False)  # fmt: skip

    def encode(self, frames: Tensor, aug: nn.Module | None = None) -> Tensor:
        x = frames.float()
        return self.encoder(x if aug is None else aug(x))

    @torch.no_grad()
    def frozen_features(self, frames: Tensor, aug: nn.Module | None = None) -> Tensor:
        """f's maps for the policy: behaviour cloning does not train the shared encoder."""
        return self.encode(frames, aug)

    def latent(self, windows: Tensor, maps: Tensor | None = None) -> Tensor:
        """z of pixel windows (B, window, C, H, W), from f's maps of them (B, window, Cf, Hf,
        Wf; computed when not given) or from their pixels (``labeller_input: pixels``)."""
        if self.on_pixels:
            return super().features(windows)
        if maps is None:
            maps = self.encode(windows.flatten(0, 1)).unflatten(0, windows.shape[:2])
        return super().features(maps)

    def features(self, windows: Tensor, aug: nn.Module | None = None) -> Tensor:
        """z of pixel windows (B, window, C, H, W); ``aug`` shifts every frame alike."""
        if aug is not None:
            w = windows.shape[1]
            windows = aug(windows.flatten(1, 2).float()).unflatten(1, (w, -1))
        return self.latent(windows)

    def ssl(self, windows: Tensor, shift: RandomShift) -> tuple[Tensor, dict[str, Tensor]]:
        """z of the windows, and the VSC and LFR losses (with LFR's VQ commitment)."""
        b = len(windows)
        maps = self.encode(windows.flatten(0, 1)).unflatten(0, (b, windows.shape[1]))
        now = windows[:, -2].float()
        anchor = self.encode(now, shift)
        with torch.no_grad():
            # a second view of o_t for the contrast, and the future in f' for LFR
            targets = self.target_encoder(torch.cat([shift(now), windows[:, -1].float()]))
        z = self.latent(windows, maps)
        z_q, vq_loss, codes = self.vq(z)
        predicted = self.world_model(maps[:, :-1].flatten(1, 2), z_q)
        return z, {"vsc": self.vsc(anchor, targets[:b]),
                   "lfr": F.mse_loss(predicted, targets[b:]), "vq": vq_loss,
                   "perplexity": self.vq.perplexity(codes).detach()}  # fmt: skip

    def update_targets(self, tau: float) -> None:
        soft_update(self.target_encoder, self.encoder, tau)
        self.vsc.update_target(tau)


class FeaturePolicy(ActionNet):
    """pi on the maps of a shared encoder, given as a function (so not one of its modules: the
    policy's optimiser never sees the encoder)."""

    def __init__(self, encode: Callable[[Tensor, nn.Module | None], Tensor],
                 feature_shape: tuple[int, int, int], space: ActionSpace, cfg: Config):  # fmt: skip
        super().__init__(feature_shape, space, cfg.channels, cfg.hidden, pixels=False)
        self.encode = encode

    def features(self, x: Tensor, aug: nn.Module | None = None) -> Tensor:
        return super().features(self.encode(x, aug))


def ssl_loss(cfg: Config, losses: dict[str, Tensor]) -> Tensor:
    return cfg.vsc_coef * losses["vsc"] + cfg.lfr_coef * (losses["lfr"] + losses["vq"])


def ssl_row(losses: dict[str, Tensor]) -> dict[str, float]:
    return {k: v.item() for k, v in losses.items()}


# ---------------------------------------------------------------------------------------------
# 1. Pretraining on the videos (VSC + LFR)
# ---------------------------------------------------------------------------------------------
def pretrain(task: Task, cfg: Config, videos: VideoDataset, seed: int, out: Path,
             progress: bool, device: torch.device) -> Path | None:  # fmt: skip
    """The labeller after ``pretrain_updates`` of VSC + LFR on the videos (a resumable stage
    in ``out``); None when there is no pretraining."""
    if not cfg.pretrain_updates:
        return None
    settings = json.loads(json.dumps(dataclasses.asdict(cfg)))
    if (done := completed_artifact(out, ARTIFACT)) is not None:
        if json.loads((out / "stage.json").read_text()).get("config") != settings:
            raise ValueError(f"{out} holds a pretrained labeller made with other settings; "
                             "remove it (or use another --runs-root) to pretrain again")  # fmt: skip
        return done
    with seeded(seed):
        labeller = Labeller(videos.stacked_shape, task.action_space, cfg).to(device)
    optim = torch.optim.Adam([p for p in labeller.parameters() if p.requires_grad], lr=cfg.lr)
    shift = RandomShift(cfg.shift_pad)
    with Stage(out, "pretrain", cfg=settings, seed=seed, progress=progress,
               checkpoint_every=cfg.pretrain_checkpoint_every) as stage:  # fmt: skip
        state = stage.start()
        if state is not None:
            labeller.load_state_dict(state["labeller"])
            optim.load_state_dict(state["optim"])
        sampler = WindowSampler(videos, window=cfg.window, batch_size=cfg.batch_size,
                                seed=seed + 104729)  # fmt: skip
        if state is not None:
            sampler.load_state_dict(state["sampler"])
        bar = stage.bar(cfg.pretrain_updates, "pretrain labeller")
        labeller.train()
        try:
            for update in range(stage.step, cfg.pretrain_updates):
                _, losses = labeller.ssl(torch.from_numpy(sampler.sample()).to(device), shift)
                loss = ssl_loss(cfg, losses)
                optim.zero_grad(set_to_none=True)
                loss.backward()
                optim.step()
                if (update + 1) % cfg.ema_every == 0:
                    labeller.update_targets(cfg.ema_tau)
                stage.advance(update + 1, {f"pretrain/{k}": v for k, v in ssl_row(losses).items()},
                              bar)  # fmt: skip
                if stage.checkpoint_due(update + 1):
                    stage.checkpoint(update + 1, {"labeller": labeller.state_dict(),
                                                  "optim": optim.state_dict(),
                                                  "sampler": sampler.state_dict()})  # fmt: skip
        finally:
            sampler.close()
        return stage.finish({"labeller": labeller.state_dict()}, ARTIFACT)


# ---------------------------------------------------------------------------------------------
# 2. Online: BCO(alpha)'s loop with the ensemble-trained labeller
# ---------------------------------------------------------------------------------------------
class UPESV(bco.BCO):
    idm: Labeller

    def __init__(self, task: Task, obs_shape: tuple[int, int, int], cfg: Config,
                 device: torch.device):  # fmt: skip
        labeller = Labeller(obs_shape, task.action_space, cfg)
        policy = FeaturePolicy(labeller.frozen_features, labeller.encoder.feature_shape,
                               task.action_space, cfg)  # fmt: skip
        super().__init__(labeller, policy, cfg, device)
        self.shift = RandomShift(cfg.shift_pad)
        self.updates = 0

    def train_labeller(self, replay: WindowReplay, videos: WindowSampler,
                       updates: int) -> dict[str, float]:  # fmt: skip
        """GAP on the agent's transitions, with VSC and LFR on agent and video windows."""
        cfg: Config = self.cfg  # type: ignore[assignment]
        lab = self.idm
        lab.train()
        rows = []
        for _ in range(updates):
            obs, actions = replay.sample(cfg.batch_size, cfg.window)
            agent, target = self._tensor(obs), self._tensor(actions)
            row: dict[str, float] = {}
            if cfg.freeze_pretrained:
                lab.eval()  # f, p and the codebooks as pretrained; d learns
                with torch.no_grad():
                    z = lab.features(agent)
                out = lab.output(z)
                loss = cfg.gap_coef * lab.loss(out, target)
            elif cfg.online_ssl:
                windows = torch.cat([agent, self._tensor(videos.sample())])
                z, losses = lab.ssl(windows, self.shift)
                out = lab.output(z[: len(agent)])
                loss = cfg.gap_coef * lab.loss(out, target) + ssl_loss(cfg, losses)
                row = {f"labeller/{k}": v for k, v in ssl_row(losses).items()}
            else:
                out = lab(agent)
                loss = cfg.gap_coef * lab.loss(out, target)
            self.idm_opt.zero_grad(set_to_none=True)
            loss.backward()
            self.idm_opt.step()
            self.updates += 1
            if not cfg.freeze_pretrained and self.updates % cfg.ema_every == 0:
                lab.update_targets(cfg.ema_tau)
            gap = lab.loss(out.detach(), target).item()
            rows.append({"idm/loss": gap} | row | {
                f"idm/{k}": v for k, v in bco.train_scores(lab, out, target).items()})  # fmt: skip
        return bco.mean_metrics(rows)

    def state_dict(self) -> dict[str, Any]:
        return super().state_dict() | {"updates": self.updates}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        super().load_state_dict(state)
        self.updates = int(state["updates"])


def run(task: Task | str, seed: int, cfg: Config, harness,
        videos: VideoDataset | None = None) -> None:  # fmt: skip
    task = get_task(task) if isinstance(task, str) else task
    videos = expert_videos(task, videos, "UPESV")
    with torch_threads(cfg.threads):
        device = resolve_device(cfg.device)
        pretrained = pretrain(task, cfg, videos, seed, harness.path / "pretrain",
                              harness.progress, device)  # fmt: skip
        with seeded(seed):
            learner = UPESV(task, videos.stacked_shape, cfg, device)
        if pretrained is not None:  # a resumed run's checkpoint replaces it
            state = torch.load(pretrained, map_location=device, weights_only=False)
            learner.idm.load_state_dict(state["labeller"])
        bco.iterate(task, seed, cfg, harness, videos, learner)
