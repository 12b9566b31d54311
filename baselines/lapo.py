"""LAPO (Schmidt & Jiang, "Learning to Act without Actions", ICLR 2024) and LAPO-BC (the BCV-LR
paper's Appendix B.3, Table 7), on Procgen.

`bcvlr run --method lapo` (or `lapo_bc`) runs three stages in one run directory, each
checkpointed so that rerunning the command after a kill resumes where it stopped:

  1. pretrain_dynamics  LAPO's stage 1 on the videos: IDM p(o_t-1, o_t, o_t+1) -> z (128-d) -> VQ
                        and FDM w(o_t-1, o_t, z_q) -> o_t+1 on pixels (bcvlr's LatentActionModel
                        fed pixels in [-0.5, 0.5]; LAPO's U-Net with its tanh/2 output)
                        -> pretrain/dynamics/dynamics.pt
  2. pretrain_policy    LAPO's stage 2, latent behaviour cloning: pi(o_t) regresses p's
                        unquantised z on the videos -> pretrain/latent_policy/latent_policy.pt
  3. online             LAPO's stage 3. pi's conv stack is frozen; the acting logits are
                        (RL head(fc'(h)) + d(pi's latent(fc(h)))) / 2, where fc' starts as a copy
                        of pi's fc and the RL head at zero. The decoder d (latent -> action) is
                        retrained from scratch, by cross-entropy, on the agent's own transitions
                        labelled with p: no reward. Then, on the RL head, fc' (and a value head):
                          variant "rl" (lapo):    PPO with the env's rewards (a reward user);
                          variant "bc" (lapo_bc): the RL loss replaced by behaviour cloning:
                            cross-entropy towards d(p(window)) on expert-video frames,
                            with the same optimiser, schedule, step count and batch size as
                            PPO's minibatches; it never sees a reward.

LAPO's stage-3 schedules are in env steps of a 4M-step run: learning rates that are zero until
25k-50k steps, peak at 50k-200k and fall to zero at 4M, and decoder retraining from 10k to 400k
steps. By default they run as LAPO wrote them (`online.schedule: literal`), whatever the
budget: at the paper's 100k the heads have started, the decoder is still being retrained, and
no learning rate has decayed much. `online.schedule: rescaled` multiplies every breakpoint by
budget / schedule_horizon (400k, the span of LAPO's decoder phase) and ends every learning rate
at zero at the end of the budget. docs/baselines.md lists every value.
"""

from __future__ import annotations

import copy
import dataclasses
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from baselines import ppo
from bcvlr.config import ConfigError
from bcvlr.data import VideoDataset
from bcvlr.data.video_batches import VideoBatches
from bcvlr.diagnostics.config import DiagnosticsConfig
from bcvlr.diagnostics.probe import LatentActionProbe
from bcvlr.envs import expert_videos, make, make_reward_free
from bcvlr.envs.action_log import ActionLog
from bcvlr.method.bcvlr.config import LatentActionConfig
from bcvlr.method.bcvlr.model import LatentActionModel, action_decoder
from bcvlr.nets.features import encode_windows
from bcvlr.nets.impala import ImpalaCNN
from bcvlr.run.device import resolve_device
from bcvlr.run.harness import Harness
from bcvlr.run.seeding import env_seed, seeded
from bcvlr.run.stage import Stage, completed_artifact
from bcvlr.tasks import Task, get_task

SUITES = ("procgen",)
NEEDS_VIDEOS = True
CHANNELS_LAST = torch.channels_last  # oneDNN's convolutions run ~2x faster so on CPU (measured)


# ---------------------------------------------------------------------------------------------
# Configuration: LAPO's config.yaml (reference code schmidtdominik/LAPO) as defaults
# ---------------------------------------------------------------------------------------------
def _lapo_dynamics() -> LatentActionConfig:
    # IDM: IMPALA scale 4 -> fc 256 -> 128; FDM: U-Net base 24; VQ 2 codebooks x 4 positions x
    # 16 dims, 64 entries; 50k updates of batch 128 at lr 3e-4, grad norm clipped to 2.
    return LatentActionConfig(window=3, updates=50_000, batch_size=128, idm_lr=3e-4,
                              wm_lr=3e-4, grad_clip=2.0, idm_channels=(64, 128, 128),
                              idm_hidden=256, wm_base_channels=24, wm_bounded_output=True)  # fmt: skip


@dataclass
class PolicyConfig:
    """Stage 2, latent behaviour cloning (LAPO's models.Policy and stage2 settings)."""

    channels: list[int] = field(default_factory=lambda: [64, 128, 128])  # IMPALA scale 4
    hidden: int = 256
    updates: int = 60_000
    batch_size: int = 128
    lr: float = 2e-4
    warmup: int = 1_000  # lr from 1% to full over these updates, then linearly to 0


@dataclass
class OnlineConfig:
    """Stage 3. Step counts of schedules are LAPO's env steps (see ``schedule``)."""

    num_envs: int = 64
    num_steps: int = 64  # steps per env per iteration: 4,096 env steps
    lr: float = 1e-2  # Adam; each group's schedule peaks at a fraction of it
    # [start, peak, fraction of lr]: 0 until start, linear to the peak, linear to 0 at the end
    # (LAPO's lapo_steps, or the budget when rescaled)
    head_lr: list[float] = field(default_factory=lambda: [35_000, 50_000, 0.25])
    value_lr: list[float] = field(default_factory=lambda: [25_000, 50_000, 0.25])
    fc_lr: list[float] = field(default_factory=lambda: [50_000, 200_000, 0.1])
    # literal: LAPO's breakpoints as they are; rescaled: x budget / schedule_horizon
    schedule: str = "literal"
    lapo_steps: int = 4_000_000  # LAPO's stage-3 length, where its learning rates reach 0
    schedule_horizon: int = 400_000  # rescaled: LAPO's steps that map onto the whole budget
    num_minibatches: int = 8
    update_epochs: int = 3
    ent_coef: float = 0.0025
    vf_coef: float = 0.5
    clip_coef: float = 0.2
    clip_vloss: bool = True
    norm_adv: bool = True
    max_grad_norm: float = 0.5
    target_kl: float | None = None
    gamma: float = 0.999
    gae_lambda: float = 0.95
    reward_norm: bool = True  # gym's NormalizeReward + clip, as LAPO's env wrapper
    reward_clip: float = 10.0
    # the decoder d, retrained from scratch after an iteration when start < step < stop and
    # (step < dense_until or the iteration count is a multiple of every, scaled)
    decoder_hidden: list[int] = field(default_factory=lambda: [192, 128, 64])
    decoder_start: int = 10_000
    decoder_dense_until: int = 50_000
    decoder_every: int = 20  # iterations
    decoder_stop: int = 400_000
    decoder_epochs: int = 3
    decoder_batch_size: int = 512
    decoder_lr: float = 1e-3
    label_smoothing: float = 0.05
    # variant "bc": steps and batch of each iteration's BC update; None: PPO's, i.e.
    # update_epochs x num_minibatches steps on batches of num_envs x num_steps / num_minibatches
    bc_steps: int | None = None
    bc_batch_size: int | None = None
    # what BC clones: d's distribution over actions ("soft", as LAPO samples its actions from
    # d's logits) or its most likely action ("hard")
    bc_targets: Literal["soft", "hard"] = "soft"
    checkpoint_every: int = 5  # iterations


@dataclass
class Config:
    variant: Literal["rl", "bc"] = "rl"  # LAPO (PPO finetuning) or LAPO-BC (Table 7)
    latent_actions: LatentActionConfig = field(default_factory=_lapo_dynamics)
    dynamics_warmup: int = 50  # stage 1: lr from 10% to full, then linearly to 1% at the end
    policy: PolicyConfig = field(default_factory=PolicyConfig)
    online: OnlineConfig = field(default_factory=OnlineConfig)
    budget: int | None = None  # env steps; None: the task's (100k)
    # a scaled-down config (a CPU size): its runs are labelled reduced_budget even at the
    # task's full budget, since their nets or updates are not the reference's
    reduced_size: bool = False
    checkpoint_every: int = 1000  # pretraining updates between checkpoints
    device: str = "auto"
    # LAPO's own diagnostics, on by default (they read the labels; never trained on): every
    # probe_every stage-1 updates, how much of the videos' true actions p's latents carry; online,
    # after each decoder fit, how often d(p(window)) names the true action (probe_windows windows)
    diagnostics: DiagnosticsConfig = field(default_factory=lambda: DiagnosticsConfig(enabled=True))

    def validate(self) -> None:
        la, pc, oc = self.latent_actions, self.policy, self.online
        if la.window != 3:
            raise ValueError("latent_actions.window must be 3: LAPO's IDM sees o_t-1, o_t, o_t+1")
        for name in ("num_envs", "num_steps", "num_minibatches", "update_epochs",
                     "decoder_epochs", "decoder_batch_size", "decoder_every", "checkpoint_every",
                     "schedule_horizon", "lapo_steps"):  # fmt: skip
            if getattr(oc, name) < 1:
                raise ValueError(f"online.{name} must be >= 1, got {getattr(oc, name)}")
        if oc.schedule not in ("literal", "rescaled"):
            raise ValueError(f"online.schedule must be literal or rescaled, got {oc.schedule!r}")
        for name in ("bc_steps", "bc_batch_size"):
            if getattr(oc, name) is not None and getattr(oc, name) < 1:
                raise ValueError(f"online.{name} must be >= 1 or null")
        for name in ("head_lr", "value_lr", "fc_lr"):
            sched = getattr(oc, name)
            if len(sched) != 3 or not 0 <= sched[0] < sched[1] < oc.schedule_horizon \
                    or sched[2] < 0:  # fmt: skip
                raise ValueError(f"online.{name} must be [start, peak, fraction] with "
                                 f"0 <= start < peak < schedule_horizon, got {sched}")  # fmt: skip
        if not 0 <= oc.decoder_start < oc.decoder_dense_until <= oc.decoder_stop \
                <= oc.schedule_horizon:  # fmt: skip
            raise ValueError("online.decoder_* must satisfy 0 <= start < dense_until <= stop "
                             "<= schedule_horizon")  # fmt: skip
        if min(pc.updates, pc.batch_size, pc.hidden, la.updates, la.batch_size, *pc.channels) < 1:
            raise ValueError("policy and latent_actions sizes and update counts must be >= 1")


def check_run(cfg: Config, task: Task, budget: int) -> None:
    """Refuses a budget that ends before LAPO's literal schedule starts the action head: its
    learning rate is 0 until online.head_lr's start, so stage 3 would leave the head untrained."""
    start = cfg.online.head_lr[0]
    if cfg.online.schedule == "literal" and budget <= start:
        raise ConfigError(f"budget {budget} ends before online.head_lr starts ({start:g} env "
                          "steps, literal schedule): stage 3 would never train the action head; "
                          "raise the budget or set online.schedule=rescaled")  # fmt: skip


def default_config(task: Task | str) -> dict:
    task = get_task(task) if isinstance(task, str) else task
    if task.suite not in SUITES:
        raise ValueError(f"LAPO runs on {', '.join(SUITES)} tasks, not on {task.name!r}")
    return dataclasses.asdict(Config())


def _ramp(step: float, warmup: float, total: float, first: float, last: float) -> float:
    """A learning-rate multiplier: ``first`` at 0, 1 at ``warmup``, ``last`` at ``total``."""
    warmup = min(warmup, total)  # a run shorter than the warm-up only warms up
    return float(np.interp(step, [0, warmup, total], [first, 1.0, last]))


# ---------------------------------------------------------------------------------------------
# Networks
# ---------------------------------------------------------------------------------------------
class Pixels(nn.Module):
    """LAPO's models see frames scaled to [-0.5, 0.5] (its normalize_obs). As the "encoder" of
    bcvlr's latent-action helpers it makes them work on pixels instead of learnt features."""

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        return obs.float() / 255.0 - 0.5


PIXELS = Pixels()


def _latents(lam: LatentActionModel, windows: torch.Tensor) -> torch.Tensor:
    """p's unquantised latent action (LAPO's "la") of uint8 windows (B, 3, C, H, W)."""
    with torch.no_grad():
        return lam.latent(encode_windows(PIXELS, windows, grad=False))


class LatentPolicy(nn.Module):
    """pi (LAPO's models.Policy): IMPALA CNN -> fc -> ReLU -> latent action."""

    def __init__(self, obs_shape: tuple[int, int, int], pc: PolicyConfig, latent_dim: int):
        super().__init__()
        self.encoder = ImpalaCNN(obs_shape, pc.channels, out_features=pc.hidden)
        self.head = nn.Linear(pc.hidden, latent_dim)
        self.to(memory_format=CHANNELS_LAST)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.encoder(x))


class Agent(nn.Module):
    """Stage 3's policy on top of a pretrained pi, with baselines.ppo.Agent's interface."""

    def __init__(self, policy: LatentPolicy, num_actions: int, decoder_hidden: list[int]):
        super().__init__()
        hidden = policy.head.in_features
        self.convs = policy.encoder.sequences.requires_grad_(False)
        self.fc_latent = policy.encoder.fc.requires_grad_(False)  # LAPO's fc_sl
        self.latent_head = policy.head.requires_grad_(False)
        self.decoder = action_decoder(policy.head.out_features, num_actions, decoder_hidden)
        self.fc = copy.deepcopy(policy.encoder.fc).requires_grad_(True)  # LAPO's fc_rl
        self.action_head = nn.Linear(hidden, num_actions)
        self.value_head = nn.Linear(hidden, 1)
        # The RL path starts at zero output, so the agent first acts as the decoded pi.
        nn.init.zeros_(self.action_head.weight)
        nn.init.zeros_(self.action_head.bias)
        nn.init.orthogonal_(self.value_head.weight, 1.0)
        nn.init.zeros_(self.value_head.bias)

    def forward(self, obs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """uint8 frames (B, C, H, W) -> action logits (B, A), values (B,), on the CPU (where
        baselines.ppo keeps its rollouts)."""
        device = self.action_head.weight.device
        with torch.no_grad():  # the frozen conv stack and the SL path take no gradient
            h = F.relu(self.convs(PIXELS(obs.to(device))).flatten(1))
            decoded = self.decoder(self.latent_head(F.relu(self.fc_latent(h))))
        hidden = F.relu(self.fc(h))
        logits = (self.action_head(hidden) + decoded) / 2
        return logits.cpu(), self.value_head(hidden).squeeze(-1).cpu()

    # frames -> actions: the argmax or a sample of forward's logits, as PPO's agent acts
    act = ppo.Agent.act


def param_groups(agent: Agent, variant: str) -> list[dict]:
    """What stage 3 optimises, one group per LAPO schedule. The BC variant has no value."""
    groups = [{"params": list(agent.action_head.parameters()), "schedule": "head_lr"},
              {"params": list(agent.fc.parameters()), "schedule": "fc_lr"}]  # fmt: skip
    if variant == "rl":
        groups.append({"params": list(agent.value_head.parameters()), "schedule": "value_lr"})
    return groups


# ---------------------------------------------------------------------------------------------
# Stages 1 and 2: pretraining on the videos
# ---------------------------------------------------------------------------------------------
def _pretrain(name: str, filename: str, out: Path, cfg: Config, videos: VideoDataset, seed: int,
              progress: bool, *, build: Callable[[], tuple[nn.ModuleDict, torch.optim.Optimizer]],
              loss_fn: Callable[[nn.ModuleDict, torch.Tensor], tuple[torch.Tensor, dict]],
              updates: int, batch_size: int, lr_scale: Callable[[int], float],
              grad_clip: float | None = None,
              diagnose: tuple[int, Callable[[nn.ModuleDict], dict]] | None = None) -> Path:  # fmt: skip
    """One pretraining stage on batches of video windows (o_t-1, o_t, o_t+1), checkpointed and
    resumable; writes ``out/filename`` with the modules' weights and returns its path."""
    if (done := completed_artifact(out, filename)) is not None:
        return done
    with Stage(out, name, cfg=dataclasses.asdict(cfg), seed=seed, progress=progress,
               checkpoint_every=cfg.checkpoint_every) as stage:  # fmt: skip
        state = stage.start()
        with seeded(seed):  # built the same way, fresh or resumed
            modules, optim = build()
        base_lrs = [g["lr"] for g in optim.param_groups]
        if state is not None:
            modules.load_state_dict(state["modules"])
            optim.load_state_dict(state["optim"])
        device = resolve_device(cfg.device)
        batches = VideoBatches([videos], 3, batch_size, seed)
        if state is not None:
            batches.load_state_dict(state["batches"])
        bar = stage.bar(updates, name)
        try:
            for update in range(stage.step, updates):
                for group, lr in zip(optim.param_groups, base_lrs, strict=True):
                    group["lr"] = lr * lr_scale(update)
                loss, metrics = loss_fn(modules, batches.sample(device))
                optim.zero_grad(set_to_none=True)
                loss.backward()
                if grad_clip is not None:
                    nn.utils.clip_grad_norm_(modules.parameters(), grad_clip)
                optim.step()
                stage.advance(update + 1, metrics, bar)
                if diagnose is not None and (
                    (update + 1) % diagnose[0] == 0 or update + 1 == updates
                ):
                    stage.log(update + 1, diagnose[1](modules))
                if stage.checkpoint_due(update + 1):
                    stage.checkpoint(update + 1, {"modules": modules.state_dict(),
                                                  "optim": optim.state_dict(),
                                                  "batches": batches.state_dict()})  # fmt: skip
        finally:
            batches.close()
        return stage.finish({"modules": modules.state_dict(), "config": dataclasses.asdict(cfg)},
                            filename)  # fmt: skip


def _load_modules(path: Path, **modules: nn.Module) -> None:
    """Weights from the artifact of a pretraining stage into ``modules`` (by the stage's names)."""
    state = torch.load(path, map_location="cpu", weights_only=False)
    nn.ModuleDict(modules).load_state_dict(state["modules"])


def load_dynamics(cfg: Config, path: Path, obs_shape: tuple[int, int, int],
                  device: torch.device) -> LatentActionModel:  # fmt: skip
    """Stage 1's p and w, frozen and in eval mode (the VQ codebook stays put)."""
    lam = LatentActionModel(obs_shape, cfg.latent_actions)
    _load_modules(path, lam=lam)
    return lam.to(device, memory_format=CHANNELS_LAST).eval().requires_grad_(False)


def pretrain_dynamics(cfg: Config, videos: VideoDataset, seed: int, out: Path,
                      progress: bool = True) -> Path:  # fmt: skip
    """Stage 1: p (with VQ) and w on the videos, loss = FDM pixel MSE + VQ commitment."""
    la, device = cfg.latent_actions, resolve_device(cfg.device)

    def build() -> tuple[nn.ModuleDict, torch.optim.Optimizer]:
        lam = LatentActionModel(videos.stacked_shape, la).to(device, memory_format=CHANNELS_LAST)
        idm = list(lam.idm.parameters()) + list(lam.to_latent.parameters())
        optim = torch.optim.AdamW([{"params": idm, "lr": la.idm_lr},
                                   {"params": lam.world_model.parameters(), "lr": la.wm_lr}])  # fmt: skip
        return nn.ModuleDict({"lam": lam}), optim

    def loss_fn(modules: nn.ModuleDict, windows: torch.Tensor) -> tuple[torch.Tensor, dict]:
        _, wm_loss, vq_loss = modules["lam"].losses(encode_windows(PIXELS, windows, grad=False))
        return wm_loss + vq_loss, {"loss/world_model": wm_loss.item(), "loss/vq": vq_loss.item()}

    # LAPO's own diagnostic, read from the videos' action labels and never trained on.
    diag = cfg.diagnostics
    probe = LatentActionProbe.from_videos(videos, la.window, diag, seed) if diag.probing() else None
    diagnose = None
    if probe is not None:
        diagnose = (diag.probe_every, lambda m: probe.score(PIXELS, m["lam"], device))
    return _pretrain("dynamics", "dynamics.pt", out, cfg, videos, seed + 1000, progress,
                     build=build, loss_fn=loss_fn, updates=la.updates, batch_size=la.batch_size,
                     lr_scale=lambda u: _ramp(u, cfg.dynamics_warmup, la.updates, 0.1, 0.01),
                     grad_clip=la.grad_clip, diagnose=diagnose)  # fmt: skip


def pretrain_policy(cfg: Config, videos: VideoDataset, dynamics: Path, seed: int, out: Path,
                    progress: bool = True) -> Path:  # fmt: skip
    """Stage 2: pi(o_t) regresses p's unquantised latent of (o_t-1, o_t, o_t+1) (MSE)."""
    pc, device = cfg.policy, resolve_device(cfg.device)
    lam = load_dynamics(cfg, dynamics, videos.stacked_shape, device)

    def build() -> tuple[nn.ModuleDict, torch.optim.Optimizer]:
        policy = LatentPolicy(videos.stacked_shape, pc, cfg.latent_actions.latent_dim).to(device)
        return nn.ModuleDict({"policy": policy}), torch.optim.AdamW(policy.parameters(), pc.lr)

    def loss_fn(modules: nn.ModuleDict, windows: torch.Tensor) -> tuple[torch.Tensor, dict]:
        loss = F.mse_loss(modules["policy"](PIXELS(windows[:, -2])), _latents(lam, windows))
        return loss, {"loss/latent_bc": loss.item()}

    return _pretrain("latent_policy", "latent_policy.pt", out, cfg, videos, seed + 2000,
                     progress, build=build, loss_fn=loss_fn, updates=pc.updates,
                     batch_size=pc.batch_size,
                     lr_scale=lambda u: _ramp(u, pc.warmup, pc.updates, 0.01, 0.0))  # fmt: skip


# ---------------------------------------------------------------------------------------------
# Stage 3: online decoding
# ---------------------------------------------------------------------------------------------
class Schedule:
    """LAPO's stage-3 schedules in env steps: its own (literal), or rescaled to the budget."""

    def __init__(self, oc: OnlineConfig, budget: int):
        self.oc, self.budget = oc, budget
        rescaled = oc.schedule == "rescaled"
        self.scale = budget / oc.schedule_horizon if rescaled else 1.0
        self.end = budget if rescaled else max(oc.lapo_steps, budget)

    def lr(self, name: str, step: int) -> float:
        start, peak, fraction = getattr(self.oc, name)
        xs = [0.0, start * self.scale, peak * self.scale, self.end]
        return float(np.interp(step, xs, [0.0, 0.0, fraction * self.oc.lr, 0.0]))

    def set_lrs(self, optimizer: torch.optim.Optimizer, step: int) -> dict[str, float]:
        for group in optimizer.param_groups:
            group["lr"] = self.lr(group["schedule"], step)
        return {f"train/{g['schedule']}": g["lr"] for g in optimizer.param_groups}

    def decoder_due(self, iteration: int, step: int) -> bool:
        """LAPO's post-update rule: 10k < step < 400k and (step < 50k or update % 20 == 0)."""
        oc, s = self.oc, self.scale
        every = max(1, round(oc.decoder_every * s))
        return (oc.decoder_start * s < step < oc.decoder_stop * s
                and (step < oc.decoder_dense_until * s or iteration % every == 0))  # fmt: skip


class Transitions:
    """The agent's own transitions as (p's latent, action taken): d's training set (LAPO's
    buf_la / buf_ta), labelled with windows (o_t-1, o_t, o_t+1) inside one episode. LAPO slides
    its window across episode ends; those windows are left out here."""

    def __init__(self) -> None:
        self.latents: list[torch.Tensor] = []
        self.actions: list[torch.Tensor] = []
        self._prev: torch.Tensor | None = None  # each env's o_t-1 for the next rollout
        self._prev_done = np.ones(0, bool)

    def __len__(self) -> int:
        return sum(len(a) for a in self.actions)

    def add(self, lam: LatentActionModel, obs: torch.Tensor, next_obs: np.ndarray,
            actions: torch.Tensor, dones: np.ndarray, chunk: int = 512) -> None:  # fmt: skip
        """A rollout: obs (T, N, C, H, W) uint8, next_obs after it, actions and dones (T, N)
        (dones[t]: the action at t ended the episode, so o_t+1 belongs to the next one)."""
        first = self._prev if self._prev is not None else obs[0]
        frames = torch.cat([first[None], obs, torch.from_numpy(next_obs)[None]])
        before = np.concatenate([self._prev_done[None] if self._prev is not None
                                 else np.ones((1, obs.shape[1]), bool), dones[:-1]])  # fmt: skip
        t, n = (torch.from_numpy(x) for x in np.nonzero(~dones & ~before))
        device = lam.to_latent.weight.device
        for ts, ns in zip(t.split(chunk), n.split(chunk), strict=True):
            windows = torch.stack([frames[ts + k, ns] for k in range(3)], 1)
            self.latents.append(_latents(lam, windows.to(device)).cpu())
            self.actions.append(actions[ts, ns])
        self._prev, self._prev_done = obs[-1], dones[-1]

    def tensors(self) -> tuple[torch.Tensor, torch.Tensor]:
        return torch.cat(self.latents), torch.cat(self.actions)

    def state_dict(self) -> dict:
        # with the window carry: a resumed run's envs continue the episodes they were in
        carry = {"prev": self._prev, "prev_done": self._prev_done}
        if not self.actions:
            return {"latents": None, "actions": None, **carry}
        z, a = self.tensors()
        return {"latents": z, "actions": a, **carry}

    def load_state_dict(self, state: dict) -> None:
        has = state["actions"] is not None
        self.latents = [state["latents"]] if has else []
        self.actions = [state["actions"]] if has else []
        # older checkpoints lack the carry: their resumed envs start new episodes
        self._prev, self._prev_done = state.get("prev"), state.get("prev_done", np.ones(0, bool))


def train_decoder(decoder: nn.Sequential, data: Transitions, oc: OnlineConfig) -> dict:
    """LAPO's online decoder training: reset d, then epochs of cross-entropy (label smoothing)
    from p's latent of the agent's own transitions to the action it took."""
    device = decoder[0].weight.device
    for layer in decoder:
        if isinstance(layer, nn.Linear):
            layer.reset_parameters()
    optim = torch.optim.Adam(decoder.parameters(), lr=oc.decoder_lr)
    latents, actions = data.tensors()
    for _ in range(oc.decoder_epochs):
        for idx in torch.randperm(len(actions)).split(oc.decoder_batch_size):
            logits = decoder(latents[idx].to(device))
            loss = F.cross_entropy(logits, actions[idx].to(device),
                                   label_smoothing=oc.label_smoothing)  # fmt: skip
            optim.zero_grad(set_to_none=True)
            loss.backward()
            optim.step()
    # no stale gradients for the stage-3 optimiser's gradient clipping to count
    optim.zero_grad(set_to_none=True)
    accuracy = (logits.argmax(-1) == actions[idx].to(device)).float().mean().item()
    return {"decoder/loss": loss.item(), "decoder/accuracy": accuracy,
            "decoder/transitions": float(len(actions))}  # fmt: skip


def collect_reward_free(agent: Agent, env, next_obs: np.ndarray, steps: int):
    """LAPO-BC's interaction: frames, sampled actions and episode ends, from the reward-free
    view of the env (it has no reward to read)."""
    obs = torch.zeros((steps, *next_obs.shape), dtype=torch.uint8)
    actions = torch.zeros((steps, len(next_obs)), dtype=torch.int64)
    dones = np.zeros((steps, len(next_obs)), bool)
    for t in range(steps):
        obs[t] = torch.from_numpy(next_obs)
        actions[t] = torch.from_numpy(agent.act(next_obs))
        out = env.step(actions[t].numpy())
        dones[t], next_obs = out.done, out.obs
    return obs, actions, dones, next_obs


class _EpisodeEnds(ppo.Hooks):
    """Keeps the episode ends of a ppo.collect rollout (its Rollout has none) for labelling;
    the reward is PPO's."""

    def __init__(self) -> None:
        self.dones: list[np.ndarray] = []

    def reward(self, obs: np.ndarray, step) -> np.ndarray:
        self.dones.append(step.done)
        return step.reward


def bc_update(agent: Agent, lam: LatentActionModel, optimizer: torch.optim.Optimizer,
              videos: VideoBatches, steps: int, oc: OnlineConfig) -> dict[str, float]:  # fmt: skip
    """LAPO-BC's replacement of the PPO update: the acting policy at o_t is cloned towards the
    action d decodes from p's latent of the expert window (o_t-1, o_t, o_t+1)."""
    device = lam.to_latent.weight.device
    losses, agree = [], []
    for _ in range(steps):
        windows = videos.sample(device)
        with torch.no_grad():
            decoded = F.softmax(agent.decoder(_latents(lam, windows)), -1).cpu()
        target = decoded if oc.bc_targets == "soft" else decoded.argmax(-1)
        logits, _ = agent(windows[:, -2])
        loss = F.cross_entropy(logits, target)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        nn.utils.clip_grad_norm_(agent.parameters(), oc.max_grad_norm)
        optimizer.step()
        losses.append(loss.item())
        agree.append((logits.argmax(-1) == decoded.argmax(-1)).float().mean().item())
    return {"loss/bc": float(np.mean(losses)), "train/bc_agreement": float(np.mean(agree))}


def _ppo_config(oc: OnlineConfig) -> ppo.Config:
    return ppo.Config(num_envs=oc.num_envs, num_steps=oc.num_steps, learning_rate=oc.lr,
                      gamma=oc.gamma, gae_lambda=oc.gae_lambda, num_minibatches=oc.num_minibatches,
                      update_epochs=oc.update_epochs, norm_adv=oc.norm_adv,
                      clip_coef=oc.clip_coef, clip_vloss=oc.clip_vloss, ent_coef=oc.ent_coef,
                      vf_coef=oc.vf_coef, max_grad_norm=oc.max_grad_norm,
                      target_kl=oc.target_kl)  # fmt: skip


def _video_accuracy(probe: LatentActionProbe | None, agent: Agent,
                    lam: LatentActionModel) -> dict[str, float]:  # fmt: skip
    """Diagnostic: how often d(p(window)) names the expert's true action (labels read here only)."""
    if probe is None:
        return {}
    obs, actions = probe.eval_set
    device = lam.to_latent.weight.device
    with torch.no_grad():
        decoded = torch.cat([agent.decoder(_latents(lam, torch.from_numpy(o).to(device))).cpu()
                             for o in np.array_split(obs, max(1, len(obs) // 256))])  # fmt: skip
    hits = (decoded.argmax(-1).numpy() == actions).mean()
    return {"diag/decoded_video_accuracy": float(hits)}


def online(task: Task, seed: int, cfg: Config, harness: Harness, videos: VideoDataset,
           dynamics: Path, latent_policy: Path) -> None:  # fmt: skip
    oc, rl = cfg.online, cfg.variant == "rl"
    device = resolve_device(cfg.device)
    obs_shape = videos.stacked_shape
    lam = load_dynamics(cfg, dynamics, obs_shape, device)
    diag = cfg.diagnostics
    probe = (LatentActionProbe.from_videos(videos, cfg.latent_actions.window, diag, seed)
             if diag.enabled and diag.probe_windows else None)  # fmt: skip

    state = harness.start()  # seeds every RNG, or restores them from the checkpoint
    with seeded(seed):  # building the nets must not use the run's RNG
        policy = LatentPolicy(obs_shape, cfg.policy, cfg.latent_actions.latent_dim)
        _load_modules(latent_policy, policy=policy)
        agent = Agent(policy, task.action_space.size, oc.decoder_hidden).to(device)
    optimizer = torch.optim.Adam(param_groups(agent, cfg.variant), lr=oc.lr)
    normalizer = (ppo.ReturnNormalizer(oc.num_envs, oc.gamma, oc.reward_clip)
                  if rl and oc.reward_norm else None)  # fmt: skip
    data = Transitions()
    pcfg = _ppo_config(oc)
    global_step, iteration = 0, 0
    # every action the envs took, so that a resumed run can replay its envs to here
    env_log = ActionLog.resume(state)
    if state is not None:
        agent.load_state_dict(state["agent"])
        optimizer.load_state_dict(state["optimizer"])
        data.load_state_dict(state["data"])
        if normalizer is not None:
            normalizer.load_state_dict(state["reward_norm"])
            if not env_log.exact:
                normalizer.returns[:] = 0.0  # the resumed run's envs start new episodes
        global_step, iteration = state["global_step"], state["iteration"]

    def checkpoint() -> None:
        harness.checkpoint(global_step, {
            "agent": agent.state_dict(), "optimizer": optimizer.state_dict(),
            "data": data.state_dict(), "global_step": global_step, "iteration": iteration,
            "reward_norm": None if normalizer is None else normalizer.state_dict(),
            "env_actions": env_log.state(),
            "video_batches": None if video_batches is None else video_batches.state_dict(),
        })  # fmt: skip

    def policy_fn(frames: np.ndarray) -> np.ndarray:
        return agent.act(frames, deterministic=task.eval.deterministic)

    budget, n = harness.budget, oc.num_envs
    schedule = Schedule(oc, budget)
    bc_batch = oc.bc_batch_size or max(1, n * oc.num_steps // oc.num_minibatches)
    bc_steps = oc.bc_steps or oc.update_epochs * oc.num_minibatches
    env = None
    if global_step < budget:
        env = (make if rl else make_reward_free)(task, num_envs=n,
                                                 seed=env_seed(seed, env_log.seed_offset(iteration)))  # fmt: skip
    video_batches = (None if rl
                     else VideoBatches([videos], 3, bc_batch,
                                       seed + 3000 + env_log.seed_offset(iteration)))  # fmt: skip
    if video_batches is not None and state is not None and state.get("video_batches"):
        video_batches.load_state_dict(state["video_batches"])
    bar = harness.progress_bar(budget, initial=min(global_step, budget))
    try:
        next_obs = None
        if env is not None:  # a resumed run's envs, back where its checkpoint left them
            next_obs = env_log.start(env)
        while global_step < budget:
            steps = min(oc.num_steps, math.ceil((budget - global_step) / n))
            metrics = schedule.set_lrs(optimizer, global_step)
            t0 = time.perf_counter()
            if rl:
                ends = _EpisodeEnds()
                rollout, next_obs, episodes = ppo.collect(agent, env, next_obs, steps,
                                                          normalizer, pcfg, ends)  # fmt: skip
                obs, actions, dones = rollout.obs, rollout.actions, np.stack(ends.dones)
            else:
                obs, actions, dones, next_obs = collect_reward_free(agent, env, next_obs, steps)
                episodes = []
            for taken in actions.cpu().numpy():
                env_log.add(taken)
            data.add(lam, obs, next_obs, actions, dones)
            t1 = time.perf_counter()
            # an update whose learning rates are all zero (before LAPO's schedules start)
            # would move nothing but Adam's moments: skipped
            if any(g["lr"] > 0 for g in optimizer.param_groups):
                if rl:
                    metrics |= ppo.ppo_update(agent, optimizer, rollout, pcfg)
                else:
                    assert video_batches is not None
                    metrics |= bc_update(agent, lam, optimizer, video_batches, bc_steps, oc)
            global_step += steps * n
            iteration += 1
            if schedule.decoder_due(iteration, global_step) and len(data):
                metrics |= train_decoder(agent.decoder, data, oc)
                metrics |= _video_accuracy(probe, agent, lam)
            t2 = time.perf_counter()
            metrics |= {"perf/sps": steps * n / (t2 - t0), "perf/rollout_s": t1 - t0,
                        "perf/update_s": t2 - t1, "train/decoder_data": float(len(data))}  # fmt: skip
            if episodes:  # LAPO's rollouts only: the reward-free env reports no episodes
                metrics["train/episodes"] = float(len(episodes))
                metrics["train/episode_return"] = float(np.mean([e.episode_return
                                                                 for e in episodes]))  # fmt: skip
            harness.log(global_step, global_step, metrics)
            bar.update(min(global_step, budget) - bar.n)
            if harness.eval_due(global_step) is not None:
                agent.eval()
                harness.evaluate(policy_fn, global_step, global_step)
                agent.train()
            if iteration % oc.checkpoint_every == 0 or global_step >= budget:
                checkpoint()
    finally:
        if env is not None:
            env.close()
        if video_batches is not None:
            video_batches.close()
    harness.finish()


# ---------------------------------------------------------------------------------------------
# The method interface (bcvlr/methods.py): `bcvlr run --method lapo` chains the stages.
# ---------------------------------------------------------------------------------------------
def run(task: Task | str, seed: int, cfg: Config, harness: Harness,
        videos: VideoDataset | None = None) -> None:  # fmt: skip
    task = get_task(task) if isinstance(task, str) else task
    if task.suite not in SUITES:
        raise ValueError(f"{harness.method} runs on {', '.join(SUITES)} tasks, not {task.name!r}")
    check_run(cfg, task, harness.budget)
    videos = expert_videos(task, videos, harness.method)
    pretrain = harness.path / "pretrain"
    dynamics = pretrain_dynamics(cfg, videos, seed, pretrain / "dynamics", harness.progress)
    latent_policy = pretrain_policy(cfg, videos, dynamics, seed, pretrain / "latent_policy",
                                    harness.progress)  # fmt: skip
    online(task, seed, cfg, harness, videos, dynamics, latent_policy)
