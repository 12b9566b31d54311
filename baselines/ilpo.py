"""ILPO: Imitating Latent Policies from Observation (Edwards et al., ICML 2019).

Read top to bottom, this file is the method (reference code: ashedwards/ILPO):

  offline  1. train_lpn  the Latent Policy Network on the expert videos. An encoder e(s) feeds
                          a latent policy pi(z|s) over n discrete latent actions and one shared
                          generator g(s, z) that predicts the change of the next frame, Delta:
                            L = || Delta - sum_z pi(z|s) sg[g(s, z)] ||^2    (expected: trains pi, e)
                              + min_z || Delta - g(s, z) ||^2                 (min: trains g, e)
  online   2. remap      the Action Remapping Network ARN(s, z) -> real action, learnt from the
                          agent's own reward-free interaction: each transition (s, a, s') is
                          labelled with z* = argmin_z || g(s, z) - Delta(s, s') || (the latent
                          whose predicted change is closest) and ARN learns (s, z*) -> a.
                          The agent acts by z = pi(s), a = ARN(s, z), with probability epsilon a
                          uniformly random action instead.

Discrete actions (Procgen) are the original method: ARN classifies (cross-entropy). Continuous
actions (DMC, Metaworld) are our design: n latents as for any task, ARN regresses the action
(tanh output, MSE), so a latent is remapped to the mean action that produced its effect.

Deviations from the reference code (docs/baselines.md lists them with their reasons):
- The generator is the reference's pix2pix shape made small (64x64 input, four stride-2
  convolutions, a decoder with skip connections) but conditions on z at its last layer (a
  shared plus a per-latent 1x1 read-out), so its decoder runs once per state, not once per
  latent; it predicts the change of the newest frame average-pooled to ``target_size``.
- z* is the latent whose predicted change is closest in that pooled pixel space (the
  reference image code compares encoder embeddings of the predicted and the real next image).
- Where the task's evaluation protocol is stochastic (Procgen) the agent samples z from pi
  and the real action from ARN's softmax; the reference code always takes both argmaxes.
- ARN can learn from the uniformly random transitions only (``arn.fit_on``); the reference
  fits all of them, and ARN then keeps mapping every latent to its own first choices.
- Parallel envs, an ARN update cadence in env steps, an optional random warm-up, and the
  option of an ARN that reads the frozen LPN embedding instead of training its own encoder.

Resume after a kill: the offline stage checkpoints into ``pretrain/lpn/`` of the run directory
(its own metrics.csv and stage.json); the online stage checkpoints the ARN, its optimiser, the
replay and the counters through the harness. A resumed online stage restarts the environment
at fresh episodes, seeded from the step it resumes at.
"""

from __future__ import annotations

import dataclasses
import json
import math
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from bcvlr.data import VideoDataset, WindowSampler
from bcvlr.data.replay import for_checkpoint
from bcvlr.envs import expert_videos, make_reward_free
from bcvlr.envs.action_log import ActionLog
from bcvlr.nets.mlp import mlp
from bcvlr.run.device import resolve_device, torch_threads
from bcvlr.run.seeding import env_seed, seeded
from bcvlr.run.stage import Stage, completed_artifact, load_artifact
from bcvlr.tasks import Task, get_task

SUITES = ("procgen", "dmc", "metaworld")
NEEDS_VIDEOS = True
LPN_ARTIFACT = "lpn.pt"
# Latent actions of a continuous task (our choice: the original is discrete only, where n is the
# number of real actions).
CONTINUOUS_LATENTS = 8
_SLOPE = 0.2  # the reference code's leaky-ReLU slope
ENCODER_DEPTH = 4  # stride-2 convolutions: 64x64 frames -> 4x4


# ---------------------------------------------------------------------------------------------
# Configuration (the reference code's values as defaults; default_config sets per-task ones)
# ---------------------------------------------------------------------------------------------
@dataclass
class LPNConfig:
    """The Latent Policy Network and its offline training on the expert videos."""

    num_latents: int = 15  # n; the reference code sets it to the number of real actions
    channels: int = 16  # first conv's width, doubled twice (reference image runs: ngf 15)
    hidden: int = 256  # state embedding e(s)
    target_size: int = 32  # the frame change is predicted at target_size x target_size pixels
    # Where z enters g: "readout" (ours: the decoder runs once per state, each latent has its own
    # 1x1 read-out of its last map) or "bottleneck" (the reference code: z's embedding joins the
    # state embedding before the decoder, which then runs once per latent, n times the cost).
    latent_injection: Literal["readout", "bottleneck"] = "readout"
    epochs: float = 5.0  # passes over the video transitions (reference image runs: 5)
    batch_size: int = 100  # reference image runs
    lr: float = 2e-4  # Adam(lr, beta1) as in the reference code (pix2pix's optimiser)
    beta1: float = 0.5
    checkpoint_every: int = 500  # updates
    log_every: int = 50  # updates


@dataclass
class ARNConfig:
    """The Action Remapping Network and the online, reward-free interaction."""

    # "own": ARN has its own encoder, trained by its loss (reference code); "lpn": it reads the
    # frozen LPN embedding (cheaper, and nothing to learn about the frames online).
    encoder: Literal["own", "lpn"] = "own"
    hidden: int = 64  # reference image code: two hidden layers of 64 (leaky ReLU; ReLU here)
    depth: int = 2
    lr: float = 9e-4  # reference run_image_policy.sh
    batch_size: int = 32
    update_every: int = 1  # env steps (summed over the parallel envs) per ARN update
    epsilon: float = 0.2  # probability of a uniformly random action (reference: 0.2)
    # Which transitions ARN learns from: "all" (reference) or only those of uniformly random
    # actions. ARN models p(a | s, z*): on "all" its own greedy actions dominate that
    # distribution and it keeps its first preferences; under uniform actions the most likely
    # action of a latent is the one that most often causes it.
    fit_on: Literal["all", "explored"] = "all"
    # Sample z from pi and (discrete) a from ARN's softmax instead of taking the argmaxes; None:
    # as the task's evaluation protocol says (stochastic on Procgen). Reference: argmaxes.
    stochastic: bool | None = None
    random_steps: int = 0  # env steps of uniformly random actions before the policy acts
    replay_capacity: int = 50_000  # transitions (reference: a deque of 50k)
    num_envs: int = 1  # set per task by default_config (64 for Procgen)
    checkpoint_every: int = 250  # vector steps
    log_every: int = 50  # vector steps


@dataclass
class Config:
    lpn: LPNConfig = field(default_factory=LPNConfig)
    arn: ARNConfig = field(default_factory=ARNConfig)
    budget: int | None = None  # in the task's unit; None: the registry's
    # a scaled-down config (a CPU size): its runs are labelled reduced_budget even at the
    # task's full budget, since their nets or updates are not the reference's
    reduced_size: bool = False
    # Torch intra-op threads; 0 keeps torch's default (use 1 on a shared few-core machine).
    threads: int = 0
    device: str = "auto"  # "auto": cuda when available

    def validate(self) -> None:
        lpn, arn = self.lpn, self.arn
        positive = {"lpn.num_latents": lpn.num_latents, "lpn.hidden": lpn.hidden,
                    "lpn.channels": lpn.channels, "lpn.target_size": lpn.target_size,
                    "lpn.batch_size": lpn.batch_size, "lpn.checkpoint_every":
                    lpn.checkpoint_every, "lpn.log_every": lpn.log_every,
                    "arn.hidden": arn.hidden, "arn.depth": arn.depth,
                    "arn.batch_size": arn.batch_size, "arn.update_every": arn.update_every,
                    "arn.num_envs": arn.num_envs, "arn.replay_capacity": arn.replay_capacity,
                    "arn.checkpoint_every": arn.checkpoint_every,
                    "arn.log_every": arn.log_every}  # fmt: skip
        for name, value in positive.items():
            if value < 1:
                raise ValueError(f"{name} must be >= 1, got {value}")
        if lpn.target_size not in (8, 16, 32, 64):  # the decoder's levels on 64x64 frames
            raise ValueError(f"lpn.target_size must be 8, 16, 32 or 64, got {lpn.target_size}")
        if lpn.num_latents < 2:
            raise ValueError(f"lpn.num_latents must be >= 2, got {lpn.num_latents}")
        if lpn.epochs <= 0 or lpn.lr <= 0 or arn.lr <= 0 or not 0 <= lpn.beta1 < 1:
            raise ValueError("lpn.epochs, lpn.lr and arn.lr must be positive, lpn.beta1 in [0, 1)")
        if not 0.0 <= arn.epsilon <= 1.0:
            raise ValueError(f"arn.epsilon must lie in [0, 1], got {arn.epsilon}")
        if arn.fit_on == "explored" and arn.epsilon == 0 and arn.random_steps == 0:
            raise ValueError("arn.fit_on=explored needs random actions: arn.epsilon or "
                             "arn.random_steps must be positive")  # fmt: skip
        if arn.random_steps < 0:
            raise ValueError(f"arn.random_steps must be >= 0, got {arn.random_steps}")
        if self.budget is not None and self.budget < 1:
            raise ValueError(f"budget must be positive, got {self.budget}")


def default_config(task: Task | str) -> dict[str, Any]:
    task = get_task(task) if isinstance(task, str) else task
    discrete = task.action_space.is_discrete
    cfg = Config(
        lpn=LPNConfig(num_latents=task.action_space.size if discrete else CONTINUOUS_LATENTS),
        arn=ARNConfig(num_envs=task.num_envs),
    )  # fmt: skip
    return dataclasses.asdict(cfg)


# ---------------------------------------------------------------------------------------------
# Networks
# ---------------------------------------------------------------------------------------------
Encoded = tuple[torch.Tensor, list[torch.Tensor]]  # an encoder's e(s) and its maps


class Encoder(nn.Module):
    """The reference image code's encoder: 4x4 convolutions of stride 2 with leaky ReLUs between
    them, halving 64x64 frames down to 4x4, then a linear state embedding e(s). Returns every
    layer's map too: the generator's skip connections."""

    def __init__(self, obs_shape: tuple[int, int, int], cfg: LPNConfig):
        super().__init__()
        c, h, w = obs_shape
        if h % 2**ENCODER_DEPTH or w % 2**ENCODER_DEPTH:
            raise ValueError(f"frames must be divisible by {2**ENCODER_DEPTH}, got {h}x{w}")
        self.widths = [cfg.channels * m for m in (1, 2, 4, 4)][:ENCODER_DEPTH]
        self.convs = nn.ModuleList()
        for width in self.widths:
            self.convs.append(nn.Conv2d(c, width, 4, stride=2, padding=1))
            c = width
        self.grid = (h // 2**ENCODER_DEPTH, w // 2**ENCODER_DEPTH)
        self.embed = nn.Linear(c * self.grid[0] * self.grid[1], cfg.hidden)
        # oneDNN's convolutions run ~2-3x faster on CPU in channels-last layout (baselines/ppo.py)
        self.to(memory_format=torch.channels_last)

    def forward(self, obs: torch.Tensor) -> Encoded:
        x = (obs.float() / 127.5 - 1.0).contiguous(memory_format=torch.channels_last)
        maps = []
        for i, conv in enumerate(self.convs):
            x = conv(x if i == 0 else F.leaky_relu(x, _SLOPE))
            maps.append(x)
        return self.embed(F.leaky_relu(x, _SLOPE).flatten(1)), maps


class Generator(nn.Module):
    """g(s, z) for every latent z at once. A decoder mirrors the encoder from the state embedding
    (4x4) up to target_size, with skip connections to the encoder's maps, as pix2pix does.
    ``readout``: the decoder runs once per state and each latent reads the change out of its
    last map with its own 1x1 convolution. ``bottleneck`` (the reference code): a learnt
    embedding of z is added to the state embedding and the decoder runs once per latent."""

    def __init__(self, encoder: Encoder, cfg: LPNConfig):
        super().__init__()
        widths, (gh, gw) = encoder.widths, encoder.grid
        ups = int(math.log2(cfg.target_size // gh))  # Config.validate: 1 to 4 levels
        self.grid = (widths[-1], gh, gw)
        self.seed = nn.Linear(cfg.hidden, widths[-1] * gh * gw)
        self.ups = nn.ModuleList()
        c = widths[-1]
        for j in range(ups):
            skip = widths[-1 - j]
            out = widths[-2 - j] if j + 1 < len(widths) else cfg.channels
            self.ups.append(nn.ConvTranspose2d(c + skip, out, 4, stride=2, padding=1))
            c = out
        # Per latent, a 1x1 convolution to the colour channels: a shared one plus a small
        # latent-specific part. Shared, so that every latent improves with the winner of the min
        # (separate read-outs leave the losers untrained: one latent takes every sample);
        # random, so that the latents do not tie and can split the transitions between them.
        self.readout = nn.Conv2d(c, 3, 1)
        # start near "no change" instead of large random changes (the loss's first hundred
        # updates went to unlearning them)
        nn.init.zeros_(self.readout.weight)
        nn.init.zeros_(self.readout.bias)
        self.num_latents, self.injection = cfg.num_latents, cfg.latent_injection
        if self.injection == "bottleneck":
            # concat(e(s), onehot z) through a linear layer == e(s)'s projection plus a per-latent
            # vector; random, so that the latents differ from the first update
            self.latent_embed = nn.Parameter(torch.randn(cfg.num_latents, cfg.hidden))
        else:
            self.latent_readout = nn.Parameter(
                torch.randn(cfg.num_latents, 3, c) * 0.1 / c**0.5)  # fmt: skip
            self.latent_bias = nn.Parameter(torch.zeros(cfg.num_latents, 3))

    def forward(self, emb: torch.Tensor, maps: list[torch.Tensor]) -> torch.Tensor:
        """-> (B, n, 3 * target_size**2) predicted frame changes."""
        batch = len(emb)
        if self.injection == "bottleneck":
            emb = (emb[:, None] + self.latent_embed[None]).flatten(0, 1)  # (B * n, hidden)
            maps = [m.repeat_interleave(self.num_latents, 0) for m in maps]
        x = self.seed(F.leaky_relu(emb, _SLOPE)).view(len(emb), *self.grid)
        for j, up in enumerate(self.ups):
            x = up(F.leaky_relu(torch.cat([x, maps[-1 - j]], 1), _SLOPE))
        x = F.leaky_relu(x, _SLOPE)
        if self.injection == "bottleneck":
            return self.readout(x).view(batch, self.num_latents, -1)
        shared = self.readout(x).flatten(2)[:, None]  # (B, 1, 3, T*T)
        own = torch.einsum("zkc,bcp->bzkp", self.latent_readout, x.flatten(2))
        return (shared + own + self.latent_bias[None, :, :, None]).flatten(2)


def frame_change(obs: torch.Tensor, next_obs: torch.Tensor, size: int) -> torch.Tensor:
    """Delta(s, s'): the newest frame of s' minus that of s, in [-1, 1] units, average-pooled
    to size x size, flattened. Only the newest frame: the older ones of a stack are shared."""

    def newest(x: torch.Tensor) -> torch.Tensor:
        return F.adaptive_avg_pool2d(x[:, -3:].float() / 127.5 - 1.0, size)

    return (newest(next_obs) - newest(obs)).flatten(1)


def prediction_errors(pred: torch.Tensor, delta: torch.Tensor) -> torch.Tensor:
    """Squared error summed over the frame (the reference code's reduction), per latent:
    (B, n, D) predictions and (B, D) changes -> (B, n)."""
    return (pred - delta[:, None]).pow(2).sum(-1)


class LatentPolicyNetwork(nn.Module):
    """e, pi and g."""

    def __init__(self, obs_shape: tuple[int, int, int], cfg: LPNConfig):
        super().__init__()
        self.num_latents, self.target_size = cfg.num_latents, cfg.target_size
        self.encoder = Encoder(obs_shape, cfg)
        self.policy = nn.Linear(cfg.hidden, cfg.num_latents)
        self.generator = Generator(self.encoder, cfg)

    def latent_logits(self, emb: torch.Tensor) -> torch.Tensor:
        return self.policy(F.leaky_relu(emb, _SLOPE))

    @torch.no_grad()
    def label(self, obs: torch.Tensor, next_obs: torch.Tensor,
              encoded: Encoded | None = None) -> torch.Tensor:  # fmt: skip
        """z*: the latent whose predicted change is closest to the observed one (``encoded``:
        the encoder's output on ``obs``, when the caller has it already)."""
        emb, maps = self.encoder(obs) if encoded is None else encoded
        delta = frame_change(obs, next_obs, self.target_size)
        return prediction_errors(self.generator(emb, maps), delta).argmin(1)


def lpn_loss(lpn: LatentPolicyNetwork, obs: torch.Tensor,
             next_obs: torch.Tensor) -> tuple[torch.Tensor, dict[str, float]]:  # fmt: skip
    emb, maps = lpn.encoder(obs)
    logits, pred = lpn.latent_logits(emb), lpn.generator(emb, maps)
    delta = frame_change(obs, next_obs, lpn.target_size)
    probs = F.softmax(logits, -1)
    # pi learns which latent explains the change; the generator gets no gradient from it
    expected = (probs[..., None] * pred.detach()).sum(1)
    loss_expected = (expected - delta).pow(2).sum(-1).mean()
    errors = prediction_errors(pred, delta)
    loss_min = errors.min(1).values.mean()
    with torch.no_grad():
        # collapse diagnostics: how many latents win the min, and how evenly
        share = torch.bincount(errors.argmin(1), minlength=lpn.num_latents).float()
        share = share[share > 0] / share.sum()
        entropy = -(probs * probs.clamp_min(1e-12).log()).sum(-1).mean()
    metrics = {"loss/expected": loss_expected.item(), "loss/min": loss_min.item(),
               "loss/no_change": delta.pow(2).sum(-1).mean().item(),  # the loss of predicting 0
               "lpn/policy_entropy": entropy.item(), "lpn/latents_used": float(len(share)),
               "lpn/argmin_entropy": abs(float((share * share.log()).sum()))}  # fmt: skip
    return loss_expected + loss_min, metrics


class ActionRemapNetwork(nn.Module):
    """(e(s), z) -> real action: logits (discrete) or a tanh-bounded action (continuous)."""

    def __init__(self, obs_shape: tuple[int, int, int], task: Task, cfg: Config):
        super().__init__()
        h = cfg.lpn.hidden
        self.discrete = task.action_space.is_discrete
        self.encoder = Encoder(obs_shape, cfg.lpn) if cfg.arn.encoder == "own" else None
        self.latent_embedding = nn.Embedding(cfg.lpn.num_latents, h)
        self.head = mlp(2 * h, cfg.arn.hidden, task.action_space.size, cfg.arn.depth)

    def forward(self, emb: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        x = torch.cat([F.leaky_relu(emb, _SLOPE),
                       F.leaky_relu(self.latent_embedding(z), _SLOPE)], -1)  # fmt: skip
        out = self.head(x)
        return out if self.discrete else torch.tanh(out)


# ---------------------------------------------------------------------------------------------
# 1. Offline: the Latent Policy Network on the expert videos
# ---------------------------------------------------------------------------------------------
def lpn_updates(cfg: LPNConfig, videos: VideoDataset) -> int:
    return max(1, math.ceil(cfg.epochs * videos.num_transitions / cfg.batch_size))


def train_lpn(cfg: Config, videos: VideoDataset, seed: int, out: Path,
              progress: bool = True) -> Path:  # fmt: skip
    """Train e, pi and g on (o_t, o_t+1) pairs of the videos; writes lpn.pt. A stage folder
    left by a run with other LPN settings is started afresh."""
    lc = cfg.lpn
    stage_cfg = {"lpn": dataclasses.asdict(lc), "videos": str(videos.path), "seed": seed}
    stage_json = out / "stage.json"
    if stage_json.exists() and json.loads(stage_json.read_text()).get("config") != stage_cfg:
        shutil.rmtree(out)
    if (done := completed_artifact(out, LPN_ARTIFACT)) is not None:
        return done
    device = resolve_device(cfg.device)
    with seeded(seed):
        lpn = LatentPolicyNetwork(videos.stacked_shape, lc).to(device)
    optim = torch.optim.Adam(lpn.parameters(), lr=lc.lr, betas=(lc.beta1, 0.999))
    with Stage(out, "lpn", cfg=stage_cfg, seed=seed, progress=progress,
               checkpoint_every=lc.checkpoint_every, log_every=lc.log_every) as stage:  # fmt: skip
        state = stage.start()
        if state is not None:
            lpn.load_state_dict(state["model"])
            optim.load_state_dict(state["optim"])
        total = lpn_updates(lc, videos)
        sampler = WindowSampler(videos, window=2, batch_size=lc.batch_size, seed=seed)
        if state is not None:
            sampler.load_state_dict(state["sampler"])
        bar = stage.bar(total, "ILPO latent policy")
        try:
            for update in range(stage.step, total):
                pairs = torch.from_numpy(sampler.sample()).to(device)
                loss, metrics = lpn_loss(lpn, pairs[:, 0], pairs[:, 1])
                optim.zero_grad(set_to_none=True)
                loss.backward()
                optim.step()
                stage.advance(update + 1, metrics, bar)
                if stage.checkpoint_due(update + 1) and update + 1 < total:
                    stage.checkpoint(update + 1, {"model": lpn.state_dict(),
                                                  "optim": optim.state_dict(),
                                                  "sampler": sampler.state_dict()})  # fmt: skip
        finally:
            sampler.close()
        return stage.finish({"model": lpn.state_dict(), "obs_shape": videos.stacked_shape,
                             "config": dataclasses.asdict(lc)}, LPN_ARTIFACT)  # fmt: skip


# ---------------------------------------------------------------------------------------------
# 2. Online: action remapping from the agent's own interaction
# ---------------------------------------------------------------------------------------------
@dataclass
class Decision:
    actions: np.ndarray
    latents: torch.Tensor  # the latent the agent meant to take, per env
    explored: np.ndarray  # envs whose action was uniformly random instead
    encoded: Encoded  # of the observation, reused to label the transition

    def rows(self, idx: np.ndarray) -> Encoded:
        emb, maps = self.encoded
        return emb[idx], [m[idx] for m in maps]


class LabelledReplay:
    """The reference code's deque of (s, a, z*): a ring buffer of observations, the actions taken
    from them and the latent the frozen LPN labelled each transition with (ARN needs no s')."""

    def __init__(self, capacity: int, obs_shape: tuple[int, ...], task: Task, seed: int):
        space = task.action_space
        self.obs = np.zeros((capacity, *obs_shape), np.uint8)
        self.act = (np.zeros(capacity, np.int64) if space.is_discrete
                    else np.zeros((capacity, space.size), np.float32))  # fmt: skip
        self.latent = np.zeros(capacity, np.int64)
        self.pos, self.size = 0, 0
        self.rng = np.random.default_rng(seed)

    def add(self, obs: np.ndarray, actions: np.ndarray, latents: np.ndarray) -> None:
        for o, a, z in zip(obs, actions, latents, strict=True):
            self.obs[self.pos], self.act[self.pos], self.latent[self.pos] = o, a, z
            self.pos = (self.pos + 1) % len(self.obs)
            self.size = min(self.size + 1, len(self.obs))

    def sample(self, batch: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        i = self.rng.integers(0, self.size, batch)
        return self.obs[i], self.act[i], self.latent[i]

    def state_dict(self) -> dict[str, Any]:
        return {name: for_checkpoint(getattr(self, name)[: self.size])
                for name in ("obs", "act", "latent")} | {
            "pos": self.pos, "rng": self.rng.bit_generator.state}  # fmt: skip

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.size = len(state["obs"])
        for name in ("obs", "act", "latent"):
            getattr(self, name)[: self.size] = np.asarray(state[name])
        self.pos = int(state["pos"])
        self.rng.bit_generator.state = state["rng"]


def _pick(logits: torch.Tensor, sample: bool) -> torch.Tensor:
    if sample:
        return torch.multinomial(F.softmax(logits, -1), 1).squeeze(1)
    return logits.argmax(-1)


class ILPOAgent:
    def __init__(self, task: Task, lpn: LatentPolicyNetwork, arn: ActionRemapNetwork,
                 device: torch.device):  # fmt: skip
        self.task, self.lpn, self.arn, self.device = task, lpn, arn, device
        self.lpn.requires_grad_(False).eval()

    def _remap_input(self, emb: torch.Tensor, obs: torch.Tensor) -> torch.Tensor:
        return emb if self.arn.encoder is None else self.arn.encoder(obs)[0]

    @torch.no_grad()
    def decide(self, obs: np.ndarray, stochastic: bool, epsilon: float) -> Decision:
        """z ~ pi(z|s) and a ~ ARN(a|s, z) when ``stochastic``, else the argmaxes (a
        continuous ARN gives its action either way); with probability ``epsilon`` a uniformly
        random action instead."""
        x = torch.from_numpy(obs).to(self.device)
        encoded = self.lpn.encoder(x)
        logits = self.lpn.latent_logits(encoded[0])
        z = _pick(logits, stochastic)
        out = self.arn(self._remap_input(encoded[0], x), z)
        space, n = self.task.action_space, len(obs)
        explored = torch.rand(n) < epsilon
        if space.is_discrete:
            actions = _pick(out, stochastic).cpu()
            actions[explored] = torch.randint(0, space.size, (int(explored.sum()),))
        else:
            actions = out.cpu()
            actions[explored] = torch.rand(int(explored.sum()), space.size) * 2 - 1
        return Decision(actions.numpy(), z.cpu(), explored.numpy(), encoded)

    def update_step(self, optim: torch.optim.Optimizer, obs: np.ndarray, actions: np.ndarray,
                    latents: np.ndarray) -> float:  # fmt: skip
        """One ARN update: (s, z*) -> the action taken."""
        x = torch.from_numpy(obs).to(self.device)
        with torch.no_grad():
            emb = self.lpn.encoder(x)[0] if self.arn.encoder is None else None
        out = self.arn(self._remap_input(emb, x), torch.from_numpy(latents).to(self.device))
        target = torch.from_numpy(actions).to(self.device)
        loss = F.cross_entropy(out, target) if self.arn.discrete else F.mse_loss(out, target)
        optim.zero_grad(set_to_none=True)
        loss.backward()
        optim.step()
        return loss.item()


def load_lpn(path: Path, cfg: Config, obs_shape: tuple[int, int, int]) -> LatentPolicyNetwork:
    lpn = LatentPolicyNetwork(obs_shape, cfg.lpn)
    lpn.load_state_dict(load_artifact(path)["model"])
    return lpn


def remap(task: Task, seed: int, cfg: Config, harness, videos: VideoDataset, lpn_path: Path,
          state: dict | None) -> None:  # fmt: skip
    """The online stage, driven by the harness (``state``: its checkpoint, or None)."""
    ac = cfg.arn
    device = resolve_device(cfg.device)
    obs_shape = videos.stacked_shape
    n_envs = ac.num_envs
    frames_per_step = n_envs * task.action_repeat
    total_steps = math.ceil(harness.budget / frames_per_step)  # vector steps
    with seeded(seed):  # initialising the nets must not consume the run's RNG streams
        lpn = load_lpn(lpn_path, cfg, obs_shape).to(device)
        arn = ActionRemapNetwork(obs_shape, task, cfg).to(device)
    agent = ILPOAgent(task, lpn, arn, device)
    optim = torch.optim.Adam(arn.parameters(), lr=ac.lr)
    # no larger than the run can fill (a checkpoint saves the whole buffer)
    replay = LabelledReplay(min(ac.replay_capacity, total_steps * n_envs), obs_shape, task, seed)
    step = 0
    if state is not None:
        arn.load_state_dict(state["arn"])
        optim.load_state_dict(state["optim"])
        replay.load_state_dict(state["replay"])
        step = int(state["step"])
    stochastic = not task.eval.deterministic if ac.stochastic is None else ac.stochastic

    def policy(obs: np.ndarray) -> np.ndarray:
        return agent.decide(obs, stochastic, epsilon=0.0).actions

    losses, agree, judged, explored = [], 0, 0, 0
    t_log, step_log = time.monotonic(), step
    if state is not None and "tallies" in state:  # what the next log row sums up so far
        losses, agree, judged, explored, step_log = state["tallies"]

    # every action the envs took, so that a resumed run can replay its envs to here
    env_log = ActionLog.resume(state)

    def checkpoint() -> None:
        harness.checkpoint(step * n_envs, {"arn": arn.state_dict(), "optim": optim.state_dict(),
                                           "replay": replay.state_dict(), "step": step,
                                           "env_actions": env_log.state(),
                                           "tallies": (losses, agree, judged, explored,
                                                       step_log)})  # fmt: skip

    env = make_reward_free(task, num_envs=n_envs, seed=env_seed(seed, env_log.seed_offset(step), 17))
    bar = harness.progress_bar(total_steps * frames_per_step, step * frames_per_step)
    try:
        obs = env_log.start(env)
        while step < total_steps:
            warmup = step * n_envs < ac.random_steps
            d = agent.decide(obs, stochastic, epsilon=1.0 if warmup else ac.epsilon)
            out = env.step(d.actions)
            env_log.add(d.actions)
            # Label each transition with z*. An episode's last frame is final_obs; Procgen
            # hides it, so its last transition has no observed outcome and is dropped.
            nxt = out.obs if out.final_obs is None else out.final_obs
            keep = np.flatnonzero(~out.done if out.final_obs is None else np.ones(n_envs, bool))
            if len(keep):
                z_star = lpn.label(torch.from_numpy(obs[keep]).to(device),
                                   torch.from_numpy(nxt[keep]).to(device), d.rows(keep)).cpu()  # fmt: skip
                meant = ~d.explored[keep]
                fit = ~meant if ac.fit_on == "explored" else np.ones(len(keep), bool)
                replay.add(obs[keep[fit]], d.actions[keep[fit]], z_star.numpy()[fit])
                # Did the intended latent happen? Judged where the policy chose the action.
                agree += int((z_star == d.latents[keep])[meant].sum())
                judged += int(meant.sum())
            explored += int(d.explored.sum())
            obs = out.obs
            step += 1
            bar.update(frames_per_step)
            if replay.size >= ac.batch_size:
                for _ in range(step * n_envs // ac.update_every
                               - (step - 1) * n_envs // ac.update_every):  # fmt: skip
                    losses.append(agent.update_step(optim, *replay.sample(ac.batch_size)))
            frames = step * frames_per_step
            if step % ac.log_every == 0 or step == total_steps:
                elapsed = max(time.monotonic() - t_log, 1e-9)
                metrics = {"train/explored": explored / ((step - step_log) * n_envs),
                           "train/env_steps_per_s": (step - step_log) * n_envs / elapsed}  # fmt: skip
                if losses:
                    metrics["train/arn_loss"] = float(np.mean(losses))
                if judged:
                    metrics["train/latent_agreement"] = agree / judged
                harness.log(step * n_envs, frames, metrics)
                losses, agree, judged, explored = [], 0, 0, 0
                t_log, step_log = time.monotonic(), step
            if harness.eval_due(frames) is not None:
                harness.evaluate(policy, step * n_envs, frames)
            if step % ac.checkpoint_every == 0 or step == total_steps:
                checkpoint()
    finally:
        env.close()


# ---------------------------------------------------------------------------------------------
# The method interface (bcvlr/methods.py)
# ---------------------------------------------------------------------------------------------
def run(task: Task | str, seed: int, cfg: Config, harness,
        videos: VideoDataset | None = None) -> None:  # fmt: skip
    task = get_task(task) if isinstance(task, str) else task
    if task.suite not in SUITES:
        raise ValueError(f"ILPO runs on {', '.join(SUITES)} tasks, not on {task.name!r}")
    videos = expert_videos(task, videos, "ILPO")
    with torch_threads(cfg.threads):
        state = harness.start()
        if state is None:  # the LPN is done once the online stage has checkpointed
            t0 = time.perf_counter()
            train_lpn(cfg, videos, seed, harness.path / "pretrain" / "lpn", harness.progress)
            harness.run.add_timing("lpn", time.perf_counter() - t0)
        t0 = time.perf_counter()
        remap(task, seed, cfg, harness, videos, harness.path / "pretrain" / "lpn" / LPN_ARTIFACT,
              state)  # fmt: skip
        harness.run.add_timing("online", time.perf_counter() - t0)
        harness.finish()
