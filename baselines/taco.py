"""TACO (Zheng et al., NeurIPS 2023; FrankZheng2022/TACO): DrQv2 plus temporal action-driven
contrastive learning of state and action representations.

On top of the DrQv2 agent and loop (baselines/drqv2.py: critic, actor, n-step returns,
exploration schedule, training loop; the loop samples through ``agent.sample``, here asking the
replay for K-step action sequences and the observation K steps on), after every DDPG update:
- an action encoder e maps each action to a latent action (critic and target critic read
  Q(h, e(a)); the actor still outputs real actions) and K=3 latent actions to one sequence code;
- TACO loss: InfoNCE with a bilinear W between g(z_t, e(a_t..a_{t+K-1})) and z_{t+K}, where
  z = tanh(LN(Linear(conv(x)))) is a projection of the DrQv2 encoder's features, the other
  samples of the batch are the negatives and z_{t+K} carries no gradient;
- CURL loss: InfoNCE (same W) between two random shifts of x_t, the second without gradient;
- reward loss: MSE of an MLP of (z_t, sequence code) against the n-step return.
The three losses train the conv encoder, the action encoder and the heads with their own Adam
(``encoder_lr``); the critic's loss also trains the encoder and the action encoder.

As in TACO's replay, a sampled start needs max(nstep, K) more steps in its episode (DrQv2
alone also samples windows cut short by a terminal; none of our tasks terminates early).
Deviations (see docs/baselines.md): the ones of our DrQv2 (in-memory replay saved in
checkpoints, fresh episode after a resume).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from baselines import drqv2
from bcvlr.data.replay import Batch, ReplayBuffer
from bcvlr.nets.mlp import mlp, orthogonal_init, trunk
from bcvlr.tasks import Task, get_task

SUITES = drqv2.SUITES
NEEDS_VIDEOS = False  # a reward-based baseline


@dataclass
class Config(drqv2.Config):
    """TACO's cfgs (agent/taco.yaml over DrQv2's config.yaml) as defaults."""

    batch_size: int = 1024
    encoder_lr: float = 1e-4  # the conv and action encoders and the TACO heads
    multistep: int = 3  # K: actions per sequence, steps to the contrasted future state
    latent_action_dim: int | None = None  # None: TACO's heuristic int(1.25 * action_dim) + 1
    curl: bool = True
    reward_head: bool = True

    def validate(self) -> None:
        super().validate()
        if self.obs != "pixels":
            raise ValueError("TACO learns from pixels: obs must be 'pixels'")
        latent = self.latent_action_dim
        if self.multistep < 1 or (latent is not None and latent < 1) or self.encoder_lr <= 0:
            raise ValueError("multistep and latent_action_dim must be >= 1, encoder_lr positive")


def default_config(task: Task | str) -> dict[str, Any]:
    # DrQv2's per-task values (TACO's task cfgs are DrQv2's); TACO's batch size wins over
    # walker_walk's 512 as in TACO's hydra defaults order (task, then agent).
    task = get_task(task) if isinstance(task, str) else task
    return asdict(Config()) | drqv2.task_settings(task) | {"batch_size": Config.batch_size}


# -- networks -------------------------------------------------------------------------------
class ActionEncoder(nn.Module):
    """Latent actions: an MLP of one action (what the critic reads) and a LayerNorm-ed tanh
    projection of K concatenated latent actions (what the TACO and reward heads read)."""

    def __init__(self, action_dim: int, latent_dim: int, multistep: int):
        super().__init__()
        self.one = nn.Sequential(nn.Linear(action_dim, 64), nn.Tanh(), nn.Linear(64, latent_dim))
        self.seq = trunk(latent_dim * multistep, latent_dim * multistep)
        self.apply(orthogonal_init)

    def forward(self, action: torch.Tensor) -> torch.Tensor:
        return self.one(action)

    def sequence(self, actions: torch.Tensor) -> torch.Tensor:
        """(B, K, A) -> (B, K * latent_dim)."""
        return self.seq(self.one(actions).flatten(1))


class LatentActionCritic(nn.Module):
    """DrQv2's double Q on latent actions. The action encoder is referenced, not owned (it is
    neither in this module's parameters nor in its state): TACO's target critic evaluates the
    *online* action encoder, and the encoder trains with the conv encoder, not by Polyak."""

    def __init__(self, critic: drqv2.Critic, action_encoder: ActionEncoder):
        super().__init__()
        self.critic = critic
        self.encode_action = action_encoder.__call__  # a bound method: not registered

    def forward(self, h: torch.Tensor, action: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self.critic(h, self.encode_action(action))

    @property
    def trunk(self) -> nn.Module:
        return self.critic.trunk

    def q(self, z: torch.Tensor, action: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Both Q heads on trunk features ``z`` (DrQv2's update reads them apart)."""
        return self.critic.q(z, self.encode_action(action))


class TACOHeads(nn.Module):
    def __init__(self, repr_dim: int, seq_dim: int, cfg: Config):
        super().__init__()
        f = cfg.feature_dim
        self.proj_s = trunk(repr_dim, f)  # z = proj_s(conv(x)), apart from actor/critic trunks
        self.proj_sa = mlp(f + seq_dim, cfg.hidden_dim, f, depth=1)
        self.reward = mlp(f + seq_dim, cfg.hidden_dim, 1, depth=1)
        self.apply(orthogonal_init)
        # TACO draws W uniformly in [0, 1) and leaves it out of the orthogonal init
        self.W = nn.Parameter(torch.rand(f, f))

    def logits(self, anchor: torch.Tensor, positive: torch.Tensor) -> torch.Tensor:
        """(B, B) bilinear scores; the positives are on the diagonal. TACO subtracts each row's
        max first: cross_entropy is invariant to it and already stable, so we do not."""
        return anchor @ self.W @ positive.T


class TACOAgent(drqv2.DDPGAgent):
    def __init__(self, obs_shape: tuple[int, ...], action_dim: int, cfg: Config):
        super().__init__(obs_shape, action_dim, cfg)
        latent = cfg.latent_action_dim or int(action_dim * 1.25) + 1
        rd, dev = self.encoder.repr_dim, self.device
        self.action_encoder = ActionEncoder(action_dim, latent, cfg.multistep).to(dev)
        # DrQv2's critics, rebuilt on latent actions
        self.critic = LatentActionCritic(drqv2.Critic(rd, latent, cfg), self.action_encoder).to(dev)
        self.critic_target = LatentActionCritic(drqv2.Critic(rd, latent, cfg),
                                                self.action_encoder).to(dev)  # fmt: skip
        self.critic_target.load_state_dict(self.critic.state_dict())
        self.critic_target.requires_grad_(False)
        encoders = [*self.encoder.parameters(), *self.action_encoder.parameters()]
        self.critic_opt = torch.optim.Adam([{"params": self.critic.parameters(), "lr": cfg.lr},
                                            {"params": encoders, "lr": cfg.encoder_lr}])  # fmt: skip
        self.heads = TACOHeads(rd, latent * cfg.multistep, cfg).to(dev)
        self.taco_opt = torch.optim.Adam([*encoders, *self.heads.parameters()], lr=cfg.encoder_lr)

    def sample(self, buffer: ReplayBuffer, rng: np.random.Generator) -> Batch:
        return buffer.sample(self.cfg.batch_size, rng, seq_len=self.cfg.multistep)

    def update(self, batch: Batch, step: int) -> dict[str, float]:
        return super().update(batch, step) | self.update_taco(batch)

    def update_taco(self, batch: Batch) -> dict[str, float]:
        if batch.action_seq is None or batch.future_obs is None:
            raise ValueError("TACO's batches come from TACOAgent.sample (replay seq_len=K)")
        obs, future = self._tensor(batch.obs), self._tensor(batch.future_obs)
        z = self.heads.proj_s(self.encoder(self._layout(self.aug(obs))))
        with torch.no_grad():
            # TACO's "ema" targets are the same encoder without gradient (no momentum copy);
            # one batched pass for the CURL positives and the future states
            targets = self.encoder(self._layout(self.aug(torch.cat([obs, future]))))
            positive, z_future = self.heads.proj_s(targets).chunk(2)
        za = torch.cat([z, self.action_encoder.sequence(self._tensor(batch.action_seq))], dim=-1)
        labels = torch.arange(len(z), device=self.device)
        taco_loss = F.cross_entropy(self.heads.logits(self.heads.proj_sa(za), z_future), labels)
        loss, metrics = taco_loss, {"train/taco_loss": taco_loss.item()}
        if self.cfg.curl:
            curl_loss = F.cross_entropy(self.heads.logits(z, positive), labels)
            loss, metrics["train/curl_loss"] = loss + curl_loss, curl_loss.item()
        if self.cfg.reward_head:
            reward_loss = F.mse_loss(self.heads.reward(za).squeeze(-1), self._tensor(batch.reward))
            loss, metrics["train/reward_loss"] = loss + reward_loss, reward_loss.item()
        # also clears what the actor's loss left on the action encoder
        self.taco_opt.zero_grad(set_to_none=True)
        loss.backward()
        self.taco_opt.step()
        return metrics

    def state_dict(self) -> dict[str, Any]:
        return super().state_dict() | {
            "action_encoder": self.action_encoder.state_dict(), "heads": self.heads.state_dict(),
            "taco_opt": self.taco_opt.state_dict(),
        }  # fmt: skip

    def load_state_dict(self, state: dict[str, Any]) -> None:
        super().load_state_dict(state)
        if "heads" in state:  # else a policy only (encoder and actor)
            self.action_encoder.load_state_dict(state["action_encoder"])
            self.heads.load_state_dict(state["heads"])
            self.taco_opt.load_state_dict(state["taco_opt"])


def run(task: Task | str, seed: int, cfg: Config | dict, harness, videos=None) -> TACOAgent:
    """Train TACO with rewards under ``harness`` (DrQv2's loop with the TACO agent)."""
    from bcvlr.config import from_dict

    del videos  # a reward-based baseline: expert videos are not used
    cfg = from_dict(Config, cfg) if isinstance(cfg, dict) else cfg
    return drqv2.train(task, seed, cfg, harness, make_agent=TACOAgent)  # type: ignore[return-value]
