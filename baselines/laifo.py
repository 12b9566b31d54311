"""LAIfO: adversarial imitation from expert videos on latent features (Giammarino et al.,
"Adversarial Imitation Learning from Visual Observations using Latent Information", TMLR 2024;
reference code VittorioGiammarino/AIL_from_visual_obs, branch LAIfO, agents/lail.py).

A discriminator D, an MLP on the agent's *detached* latent features of a transition
(z_t, z_{t+k}), learns to tell expert video transitions (label 1) from the agent's own (label
0) with binary cross-entropy plus a WGAN-GP style gradient penalty on interpolated features.
The RL learner optimises r = round(sigmoid(D(z_t, z_{t+k}))), a 0/1 reward; the environment's
reward is never learned from (it is only logged).

Two learners, by suite:

- DMC / Metaworld (the paper's setting): DrQv2 (``baselines.drqv2``'s DDPG agent). z is the
  critic's trunk output on the encoder's features (LAIfO's encoder ends in that trunk and is
  trained by the critic only); k = ``nstep``, because the replay's n-step transitions pair o_t
  with o_{t+n} (the reference samples its expert buffer with the same n-step rule). Each
  update draws a replay batch and a batch of expert windows (o_t .. o_{t+n}), randomly shifts
  both, updates D once, then replaces the batch's reward (an n-step return) by D's 0/1 reward
  of the same windows, as the reference's critic target does: r_D + gamma^n Q(o_{t+n}).
- Procgen (our design; the reference is continuous only): PPO (``baselines.ppo``) with the
  reward of each env step from D on the PPO encoder's features of (o_t, o_{t+1}); D is trained
  after each PPO update on that rollout's transitions against as many expert pairs.

Deviations (see docs/baselines.md): D's reward reuses the features (and random shifts) of the
discriminator step instead of drawing new shifts; all episodes of the given videos are used
(the paper: 100 expert episodes); on Procgen a rollout's rewards come from D as trained up to
the previous rollout, and the step that ends an episode gets reward 0 (Procgen does not expose
the episode's last frame, so that transition is neither rewarded by D nor shown to it).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import torch
import torch.nn.functional as F

from baselines import drqv2, ppo
from bcvlr.data import VideoDataset, WindowSampler
from bcvlr.data.replay import Batch
from bcvlr.envs import expert_videos
from bcvlr.nets.augment import RandomShift
from bcvlr.nets.mlp import mlp, orthogonal_init
from bcvlr.tasks import Task, get_task

SUITES = ("procgen", "dmc", "metaworld")
NEEDS_VIDEOS = True


@dataclass
class Config(drqv2.Config):
    """DrQv2's fields (the DMC/Metaworld learner), the discriminator's, and ``ppo`` (the
    Procgen learner). Defaults: the reference's config_lail.yaml and agent/lail.yaml."""

    # the reference's actor reads its encoder's LayerNorm/tanh trunk, trained by the critic
    actor_trunk: Literal["own", "critic"] = "critic"
    disc_hidden_dim: int = 1024  # two hidden layers, as the reference's Discriminator
    disc_lr: float = 4e-4
    grad_penalty: float = 10.0
    # Procgen only: D's minibatch and passes over each rollout's transitions
    disc_batch_size: int = 256
    disc_epochs: int = 1
    ppo: ppo.Config = field(default_factory=ppo.Config)

    def validate(self) -> None:
        super().validate()
        if self.obs != "pixels":
            raise ValueError("LAIfO imitates videos: obs must be 'pixels'")
        for name in ("disc_hidden_dim", "disc_batch_size", "disc_epochs"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.disc_lr <= 0 or self.grad_penalty < 0:
            raise ValueError("disc_lr must be positive and grad_penalty non-negative")


def default_config(task: Task | str) -> dict[str, Any]:
    task = get_task(task) if isinstance(task, str) else task
    if task.suite == "procgen":
        # the reward hook encodes frames and trains D in host memory: the learner stays there
        ppo_cfg = ppo.default_config(task) | {"device": "cpu"}
        return dataclasses.asdict(Config(ppo=ppo.Config(**ppo_cfg)))
    # The reference's per-task std schedules, n-step and batch sizes are DrQv2's.
    return dataclasses.asdict(Config()) | drqv2.task_settings(task)


# -- the discriminator ---------------------------------------------------------------------------
class Discriminator:
    """D on transition features (B, 2F), its optimiser, loss and reward."""

    def __init__(self, feature_dim: int, cfg: Config, device: torch.device):
        self.net = mlp(2 * feature_dim, cfg.disc_hidden_dim, 1, depth=2).to(device)
        self.net.apply(orthogonal_init)
        self.opt = torch.optim.Adam(self.net.parameters(), lr=cfg.disc_lr)
        self.grad_penalty = cfg.grad_penalty

    def logits(self, pairs: torch.Tensor) -> torch.Tensor:
        return self.net(pairs).squeeze(-1)

    def update(self, agent: torch.Tensor, expert: torch.Tensor) -> dict[str, float]:
        """One step of BCE (expert 1, agent 0) + penalty on detached features."""
        d_agent, d_expert = self.logits(agent), self.logits(expert)
        bce = (F.binary_cross_entropy_with_logits(d_expert, torch.ones_like(d_expert))
               + F.binary_cross_entropy_with_logits(d_agent, torch.zeros_like(d_agent)))  # fmt: skip
        # The reference penalises (|grad sigmoid(D)| - 1)^2 at random interpolates between
        # agent and expert features (its Bernoulli mode passes the sigmoid's gradient).
        alpha = torch.rand(len(agent), 1, device=agent.device)
        mixed = (alpha * agent + (1 - alpha) * expert).requires_grad_(True)
        (grad,) = torch.autograd.grad(torch.sigmoid(self.logits(mixed)).sum(), mixed,
                                      create_graph=True)  # fmt: skip
        penalty = self.grad_penalty * (grad.norm(2, dim=1) - 1).pow(2).mean()
        self.opt.zero_grad(set_to_none=True)
        (bce + penalty).backward()
        self.opt.step()
        return {"disc/loss": bce.item(), "disc/grad_penalty": penalty.item(),
                "disc/expert_d": torch.sigmoid(d_expert).mean().item(),
                "disc/agent_d": torch.sigmoid(d_agent).mean().item()}  # fmt: skip

    @torch.no_grad()
    def reward(self, pairs: torch.Tensor) -> torch.Tensor:
        """round(sigmoid(D)): 1 where D takes the transition for the expert's, else 0."""
        return (self.logits(pairs) > 0).float()

    def state_dict(self) -> dict[str, Any]:
        return {"net": self.net.state_dict(), "opt": self.opt.state_dict()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.net.load_state_dict(state["net"])
        self.opt.load_state_dict(state["opt"])


def expert_sampler(videos: VideoDataset, window: int, batch_size: int, seed: int,
                   state: dict | None) -> WindowSampler:  # fmt: skip
    """The expert batches' sampler, at ``state`` (a checkpoint's) if given: a resumed run
    draws the batches a run never killed draws."""
    sub = int(np.random.SeedSequence([seed, 0]).generate_state(1)[0])
    sampler = WindowSampler(videos, window=window, batch_size=batch_size, seed=sub)
    if state is not None:
        sampler.load_state_dict(state)
    return sampler


# -- DMC / Metaworld: DrQv2 with D's reward -----------------------------------------------------
class LAIfOAgent(drqv2.DDPGAgent):
    def __init__(self, obs_shape: tuple[int, ...], action_dim: int, cfg: Config,
                 videos: VideoDataset, seed: int):  # fmt: skip
        super().__init__(obs_shape, action_dim, cfg)
        self.disc = Discriminator(cfg.feature_dim, cfg, self.device)
        self.videos, self.seed, self.updates = videos, seed, 0
        self._expert: WindowSampler | None = None  # opened at the first update
        self._expert_state: dict | None = None  # a checkpoint's, for the sampler's opening

    @torch.no_grad()
    def features(self, frames: np.ndarray) -> torch.Tensor:
        return self.critic.trunk(self.encoder(self._layout(self.aug(self._tensor(frames)))))

    def update(self, batch: Batch, step: int) -> dict[str, float]:
        if self._expert is None:
            self._expert = expert_sampler(self.videos, self.cfg.nstep + 1, self.cfg.batch_size,
                                          self.seed, self._expert_state)  # fmt: skip
        windows = self._expert.sample()
        expert = torch.cat([self.features(windows[:, 0]), self.features(windows[:, -1])], -1)
        agent = torch.cat([self.features(batch.obs), self.features(batch.next_obs)], -1)
        metrics = self.disc.update(agent, expert)
        reward = self.disc.reward(agent)
        # the env's n-step return is logged, never learned from
        metrics |= {"train/reward_d": reward.mean().item(),
                    "train/env_reward": float(batch.reward.mean())}  # fmt: skip
        self.updates += 1
        return metrics | super().update(dataclasses.replace(batch, reward=reward.cpu().numpy()),
                                        step)  # fmt: skip

    def state_dict(self) -> dict[str, Any]:
        expert = self._expert.state_dict() if self._expert is not None else self._expert_state
        return super().state_dict() | {"disc": self.disc.state_dict(), "updates": self.updates,
                                       "expert_sampler": expert}  # fmt: skip

    def load_state_dict(self, state: dict[str, Any]) -> None:
        super().load_state_dict(state)
        if "disc" in state:
            self.disc.load_state_dict(state["disc"])
            self.updates = int(state["updates"])
            self._expert_state = state.get("expert_sampler")


# -- Procgen: PPO with D's reward -----------------------------------------------------------------
class AdversarialReward(ppo.Hooks):
    """PPO's reward hook: D's reward per env step, and D's training after each PPO update on
    the transitions of the rollout (stored as frames: the encoder moves with every update)."""

    def __init__(self, task: Task, cfg: Config, videos: VideoDataset, seed: int):
        self.task, self.cfg, self.videos, self.seed = task, cfg, videos, seed
        self.aug = RandomShift(cfg.aug_pad)
        self.agent: ppo.Agent | None = None
        self.disc: Discriminator | None = None
        self.updates = 0
        self._expert: WindowSampler | None = None  # opened at the first update
        self._expert_state: dict | None = None  # a checkpoint's, for the sampler's opening
        self._pairs: list[tuple[np.ndarray, np.ndarray]] = []
        self._rewards: list[np.ndarray] = []
        self._env_rewards: list[np.ndarray] = []
        self._cache: tuple[np.ndarray, torch.Tensor] | None = None  # (frames, their features)

    def make_agent(self) -> ppo.Agent:
        """PPO's agent and, built alongside from the same seeded RNG, D on its features."""
        p = self.cfg.ppo
        self.agent = ppo.Agent((3, 64, 64), self.task.action_space.size, tuple(p.channels),
                               p.hidden)  # fmt: skip
        self.disc = Discriminator(p.hidden, self.cfg, torch.device("cpu"))
        return self.agent

    @torch.no_grad()
    def features(self, frames: np.ndarray) -> torch.Tensor:
        x = self.aug(torch.from_numpy(frames).float()) / 255.0
        return self.agent.encoder(x.contiguous(memory_format=torch.channels_last))

    def reward(self, obs: np.ndarray, step) -> np.ndarray:
        # o_{t+1} of one step is o_t of the next: encode each frame once per rollout step.
        z = self._cache[1] if self._cache is not None and self._cache[0] is obs \
            else self.features(obs)  # fmt: skip
        z_next = self.features(step.obs)
        self._cache = (step.obs, z_next)
        known = ~step.done  # Procgen gives no final frame: an ending step has no o_{t+1}
        if step.final_obs is not None:
            z_next = torch.where(torch.from_numpy(step.done)[:, None],
                                 self.features(step.final_obs), z_next)  # fmt: skip
            known = np.ones_like(known)
            after = np.where(step.done[:, None, None, None], step.final_obs, step.obs)
        else:
            after = step.obs
        reward = self.disc.reward(torch.cat([z, z_next], -1)).numpy() * known
        self._pairs.append((obs[known], after[known]))
        self._rewards.append(reward)
        self._env_rewards.append(step.reward)  # logged, never learned from
        return reward.astype(np.float32)

    def after_update(self, update: int) -> dict[str, float]:
        bs = self.cfg.disc_batch_size
        if self._expert is None:
            self._expert = expert_sampler(self.videos, 2, bs, self.seed, self._expert_state)
        obs = np.concatenate([p[0] for p in self._pairs])
        nxt = np.concatenate([p[1] for p in self._pairs])
        stats: list[dict[str, float]] = []
        for _ in range(self.cfg.disc_epochs):
            for idx in torch.randperm(len(obs)).split(bs):
                i = idx.numpy()
                windows = self._expert.sample()[: len(i)]
                expert = torch.cat([self.features(windows[:, 0]), self.features(windows[:, 1])], -1)
                agent = torch.cat([self.features(obs[i]), self.features(nxt[i])], -1)
                stats.append(self.disc.update(agent, expert))
        metrics = {k: float(np.mean([s[k] for s in stats])) for k in stats[0]} if stats else {}
        metrics |= {"train/reward_d": float(np.mean(self._rewards)),
                    "train/env_reward": float(np.mean(self._env_rewards))}  # fmt: skip
        self._pairs, self._rewards, self._env_rewards, self._cache = [], [], [], None
        self.updates = update
        return metrics

    def state_dict(self) -> dict[str, Any]:
        expert = self._expert.state_dict() if self._expert is not None else self._expert_state
        return {"disc": self.disc.state_dict(), "updates": self.updates, "expert_sampler": expert}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if state:
            self.disc.load_state_dict(state["disc"])
            self.updates = int(state["updates"])
            self._expert_state = state.get("expert_sampler")


# -- the method interface ---------------------------------------------------------------------------
def run(task: Task | str, seed: int, cfg: Config | dict, harness,
        videos: VideoDataset | None = None):  # fmt: skip
    from bcvlr.config import from_dict

    task = get_task(task) if isinstance(task, str) else task
    cfg = from_dict(Config, cfg) if isinstance(cfg, dict) else cfg
    videos = expert_videos(task, videos, "LAIfO")
    if task.suite == "procgen":
        if cfg.ppo.device != "cpu":
            raise ValueError(f"LAIfO's Procgen learner runs on the CPU (its reward hook works in "
                             f"host memory), not on ppo.device={cfg.ppo.device!r}")  # fmt: skip
        hooks = AdversarialReward(task, cfg, videos, seed)
        return ppo.train(task, seed, cfg.ppo, harness, make_agent=hooks.make_agent, hooks=hooks)

    def make_agent(obs_shape: tuple[int, ...], action_dim: int, c: Config) -> LAIfOAgent:
        return LAIfOAgent(obs_shape, action_dim, c, videos, seed)

    return drqv2.train(task, seed, cfg, harness, make_agent=make_agent)
