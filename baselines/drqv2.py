"""DDPG with DrQv2's recipe: the DrQv2 pixel baseline and the state-based DDPG experts.

One agent, two encoders (chosen by ``Config.obs``):
- ``pixels``: DrQv2 (Yarats et al. 2021): conv encoder on 9x64x64 stacked frames with random
  shifts, trained by the critic only; the actor reads detached features.
- ``states``: the same DDPG on ``env.states()`` with an identity encoder and no augmentation;
  this is what trains the DMC experts whose rollouts are rendered into expert videos.

Both: clipped double Q, n-step returns, a target critic updated by Polyak averaging, Gaussian
exploration with a linearly decaying std, uniform random actions for the first seed frames.

Deviations from DrQv2, all for the harness: the replay buffer lives in memory (it is saved in
every checkpoint); a resumed run restarts the environment at a fresh episode (the interrupted
episode's unfinished transitions are dropped); in ``states`` mode the transition that ends an
episode at the time limit is not stored, because the env only exposes the state after its
auto-reset (DrQv2 never samples a transition starting in the last n-1 steps either).
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from bcvlr.atomic import atomic_write
from bcvlr.data.replay import Batch, ReplayBuffer
from bcvlr.envs.action_log import ActionLog
from bcvlr.nets.augment import RandomShift
from bcvlr.nets.encoders import ConvEncoder, IdentityEncoder
from bcvlr.nets.mlp import mlp, orthogonal_init, trunk
from bcvlr.run.device import resolve_device, torch_threads
from bcvlr.run.seeding import env_seed, seeded
from bcvlr.tasks import Task, get_task

SUITES = ("dmc", "metaworld")
NEEDS_VIDEOS = False  # a reward-based baseline

# DrQv2's cfgs/task: these tasks use the "medium" exploration schedule (500k steps of std decay);
# URLB's cheetah_run_backward and jaco reaches follow DrQv2's cheetah_run and reach_duplo. Every
# other task takes "easy" (100k), point_mass_easy too: DrQv2 has no file for it (our choice).
_MEDIUM = {"reacher_easy", "reacher_hard", "cheetah_run_backward", "jaco_reach_top_right",
           "jaco_reach_bottom_left"}  # fmt: skip


@dataclass
class Config:
    """DrQv2's hyper-parameters (facebookresearch/drqv2 cfgs) as defaults."""

    obs: Literal["pixels", "states"] = "pixels"
    budget: int | None = None  # environment frames; None: the task's budget
    # a scaled-down config (a CPU size): its runs are labelled reduced_budget even at the
    # task's full budget, since their nets or updates are not the reference's
    reduced_size: bool = False
    lr: float = 1e-4
    batch_size: int = 256
    nstep: int = 3
    gamma: float = 0.99
    tau: float = 0.01  # critic target soft-update rate
    update_every_steps: int = 2  # policy steps between updates
    seed_frames: int = 4000  # uniformly random actions, no updates
    # Exploration std: linear from std_init to std_final over std_steps *policy* steps (DrQv2
    # applies its 'linear(1.0,0.1,N)' schedules to agent steps, not frames).
    std_init: float = 1.0
    std_final: float = 0.1
    std_steps: int = 500_000
    std_clip: float = 0.3  # clip of the target-policy and actor-loss noise
    replay_size: int = 1_000_000
    feature_dim: int = 50
    hidden_dim: int = 1024
    hidden_depth: int = 2
    aug_pad: int = 4
    channels: int = 32
    # What the actor reads: its own trunk on the encoder's output (DrQv2), or the critic's
    # trunk, detached (LAIfO's reference: one trunk inside its encoder, trained by the critic)
    actor_trunk: Literal["own", "critic"] = "own"
    # Evaluation schedule for `bcvlr train-expert` (frames; None: the task's protocol). Under
    # `bcvlr run` the harness applies the task's protocol.
    eval_every: int | None = None
    eval_episodes: int | None = None
    checkpoint_every: int = 10_000  # policy steps
    log_every: int = 1_000  # policy steps between training-metric rows
    # Torch intra-op threads; 0 keeps torch's default. Use 1 on a shared few-core machine:
    # with 2 threads on a busy 2-core VM, OpenMP spin-waits made convs ~60x slower.
    threads: int = 0
    device: str = "auto"  # "auto": cuda when available

    def validate(self) -> None:
        for name in ("batch_size", "nstep", "update_every_steps", "std_steps", "replay_size",
                     "feature_dim", "hidden_dim", "channels", "checkpoint_every", "log_every"):  # fmt: skip
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        if not 0.0 < self.gamma <= 1.0 or not 0.0 < self.tau <= 1.0:
            raise ValueError("gamma and tau must lie in (0, 1]")
        if self.lr <= 0 or self.std_final < 0 or self.std_init < 0 or self.std_clip < 0:
            raise ValueError("lr must be positive and the std settings non-negative")
        if self.budget is not None and self.budget < 1:
            raise ValueError(f"budget must be positive, got {self.budget}")


def task_settings(task: Task | str) -> dict[str, Any]:
    """DrQv2's per-task settings: its std schedule's length, and walker_walk.yaml's."""
    task = get_task(task) if isinstance(task, str) else task
    settings = {"std_steps": 500_000 if task.name in _MEDIUM else 100_000}
    if task.name == "walker_walk":
        settings |= {"nstep": 1, "batch_size": 512}
    return settings


def default_config(task: Task | str) -> dict[str, Any]:
    return dataclasses.asdict(Config()) | task_settings(task)


# -- networks -------------------------------------------------------------------------------
class ClippedGaussian:
    """N(mean, std) squashed into the action box; ``clip`` bounds the noise (DrQv2's
    TruncatedNormal). Gradients flow to the mean through the box clamp (straight-through)."""

    def __init__(self, mean: torch.Tensor, std: float):
        self.mean, self.std = mean, std

    def sample(self, clip: float | None = None) -> torch.Tensor:
        noise = torch.randn_like(self.mean) * self.std
        if clip is not None:
            noise = noise.clamp(-clip, clip)
        x = self.mean + noise
        eps = 1e-6
        return x - x.detach() + x.detach().clamp(-1 + eps, 1 - eps)


class Actor(nn.Module):
    def __init__(self, repr_dim: int, action_dim: int, cfg: Config):
        super().__init__()
        own = cfg.actor_trunk == "own"  # else it reads the critic's trunk features
        self.trunk = trunk(repr_dim, cfg.feature_dim) if own else nn.Identity()
        self.policy = mlp(cfg.feature_dim, cfg.hidden_dim, action_dim, cfg.hidden_depth)
        self.apply(orthogonal_init)

    def forward(self, h: torch.Tensor, std: float) -> ClippedGaussian:
        return ClippedGaussian(torch.tanh(self.policy(self.trunk(h))), std)


class Critic(nn.Module):
    def __init__(self, repr_dim: int, action_dim: int, cfg: Config):
        super().__init__()
        self.trunk = trunk(repr_dim, cfg.feature_dim)
        in_dim = cfg.feature_dim + action_dim
        self.q1 = mlp(in_dim, cfg.hidden_dim, 1, cfg.hidden_depth)
        self.q2 = mlp(in_dim, cfg.hidden_dim, 1, cfg.hidden_depth)
        self.apply(orthogonal_init)

    def forward(self, h: torch.Tensor, action: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self.q(self.trunk(h), action)

    def q(self, z: torch.Tensor, action: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Both Q heads on trunk features ``z``."""
        x = torch.cat([z, action], dim=-1)
        return self.q1(x).squeeze(-1), self.q2(x).squeeze(-1)


def make_encoder(cfg: Config, obs_shape: tuple[int, ...]) -> ConvEncoder | IdentityEncoder:
    if cfg.obs == "pixels":
        enc = ConvEncoder(obs_shape, channels=cfg.channels)  # type: ignore[arg-type]
        enc.apply(orthogonal_init)
        return enc
    return IdentityEncoder(obs_shape)  # type: ignore[arg-type]


class DDPGAgent:
    def __init__(self, obs_shape: tuple[int, ...], action_dim: int, cfg: Config):
        self.cfg = cfg
        self.obs_shape, self.action_dim = tuple(obs_shape), action_dim
        self.device = resolve_device(cfg.device)
        self.encoder = make_encoder(cfg, obs_shape).to(self.device)
        # NHWC convs: ~25% faster encoder updates on the CPU (benchmarks/drqv2.py)
        self.pixels = cfg.obs == "pixels"
        if self.pixels:
            self.encoder.to(memory_format=torch.channels_last)
        self.aug = RandomShift(cfg.aug_pad) if self.pixels else nn.Identity()
        rd = self.encoder.repr_dim
        self.actor = Actor(rd, action_dim, cfg).to(self.device)
        self.critic = Critic(rd, action_dim, cfg).to(self.device)
        self.critic_target = Critic(rd, action_dim, cfg).to(self.device)
        self.critic_target.load_state_dict(self.critic.state_dict())
        self.critic_target.requires_grad_(False)
        self.actor_opt = torch.optim.Adam(self.actor.parameters(), lr=cfg.lr)
        # The encoder learns from the critic's loss only (DrQv2), so it shares its optimizer.
        critic_params = list(self.critic.parameters()) + list(self.encoder.parameters())
        self.critic_opt = torch.optim.Adam(critic_params, lr=cfg.lr)

    def std(self, step: int) -> float:
        c = self.cfg
        mix = min(max(step / c.std_steps, 0.0), 1.0)
        return (1.0 - mix) * c.std_init + mix * c.std_final

    def _tensor(self, x: np.ndarray) -> torch.Tensor:
        # frames travel as uint8 and become floats on the device (4x less to copy)
        return torch.as_tensor(x).to(self.device).float()

    def _layout(self, x: torch.Tensor) -> torch.Tensor:
        return x.contiguous(memory_format=torch.channels_last) if self.pixels else x

    def _actor_input(self, h: torch.Tensor) -> torch.Tensor:
        return h if self.cfg.actor_trunk == "own" else self.critic.trunk(h).detach()

    @torch.no_grad()
    def act(self, obs: np.ndarray, step: int, deterministic: bool) -> np.ndarray:
        h = self.encoder(self._layout(self._tensor(obs)))
        dist = self.actor(self._actor_input(h), self.std(step))
        action = dist.mean if deterministic else dist.sample()
        return action.cpu().numpy().astype(np.float32)

    def sample(self, buffer: ReplayBuffer, rng: np.random.Generator) -> Batch:
        """The batch ``update`` learns from (methods built on this agent may ask for more)."""
        return buffer.sample(self.cfg.batch_size, rng)

    def update(self, batch: Batch, step: int) -> dict[str, float]:
        obs = self._layout(self.aug(self._tensor(batch.obs)))
        next_obs = self._layout(self.aug(self._tensor(batch.next_obs)))
        action, reward = self._tensor(batch.action), self._tensor(batch.reward)
        discount = self._tensor(batch.discount)
        std = self.std(step)
        h = self.encoder(obs)
        with torch.no_grad():
            h_next = self.encoder(next_obs)
            next_action = self.actor(self._actor_input(h_next), std).sample(self.cfg.std_clip)
            target = reward + discount * torch.min(*self.critic_target(h_next, next_action))
        z = self.critic.trunk(h)
        q1, q2 = self.critic.q(z, action)
        critic_loss = F.mse_loss(q1, target) + F.mse_loss(q2, target)
        self.critic_opt.zero_grad(set_to_none=True)
        critic_loss.backward()
        self.critic_opt.step()

        if self.cfg.actor_trunk == "critic":
            # LAIfO's reference: the actor and its Q read the features from before this step
            z = z.detach()
            pi = self.actor(z, std).sample(self.cfg.std_clip)
            actor_loss = -torch.min(*self.critic.q(z, pi)).mean()
        else:  # DrQv2: the critic's updated trunk on the encoder's features from before it
            h = h.detach()
            pi = self.actor(h, std).sample(self.cfg.std_clip)
            actor_loss = -torch.min(*self.critic(h, pi)).mean()
        self.actor_opt.zero_grad(set_to_none=True)
        actor_loss.backward()
        self.actor_opt.step()

        with torch.no_grad():
            for p, tp in zip(self.critic.parameters(), self.critic_target.parameters(),
                             strict=True):  # fmt: skip
                tp.lerp_(p, self.cfg.tau)
        return {"train/critic_loss": critic_loss.item(), "train/actor_loss": actor_loss.item(),
                "train/q": q1.mean().item(), "train/target_q": target.mean().item()}  # fmt: skip

    def policy_state(self) -> dict[str, Any]:
        """What acting needs: the encoder and the actor."""
        return {"encoder": self.encoder.state_dict(), "actor": self.actor.state_dict()}

    def state_dict(self) -> dict[str, Any]:
        return self.policy_state() | {
            "critic": self.critic.state_dict(), "critic_target": self.critic_target.state_dict(),
            "actor_opt": self.actor_opt.state_dict(), "critic_opt": self.critic_opt.state_dict(),
        }  # fmt: skip

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.encoder.load_state_dict(state["encoder"])
        self.actor.load_state_dict(state["actor"])
        if "critic" in state:
            self.critic.load_state_dict(state["critic"])
            self.critic_target.load_state_dict(state["critic_target"])
            self.actor_opt.load_state_dict(state["actor_opt"])
            self.critic_opt.load_state_dict(state["critic_opt"])


# -- training through the harness ----------------------------------------------------------
def run(task: Task | str, seed: int, cfg: Config | dict, harness, videos=None) -> DDPGAgent:
    """Train with rewards (DrQv2 from pixels, or DDPG from states) under ``harness``."""
    from bcvlr.config import from_dict

    del videos  # a reward-based baseline: expert videos are not used
    cfg = from_dict(Config, cfg) if isinstance(cfg, dict) else cfg
    return train(task, seed, cfg, harness)


AgentFactory = Callable[[tuple[int, ...], int, Config], DDPGAgent]


def train(task: Task | str, seed: int, cfg: Config, harness,
          make_agent: AgentFactory = DDPGAgent) -> DDPGAgent:  # fmt: skip
    """The DDPG training loop, shared by the methods built on this agent (TACO, LAIfO):
    ``make_agent(obs_shape, action_dim, cfg)`` builds a ``DDPGAgent`` (or a subclass that
    overrides ``update`` and extends ``state_dict``). Resumes from the harness's checkpoint,
    evaluates on its schedule, checkpoints every ``checkpoint_every`` policy steps (agent,
    optimizers, replay buffer, counters, RNGs) and finishes the run."""
    from bcvlr.envs import make

    task = get_task(task) if isinstance(task, str) else task
    if task.suite not in SUITES:
        raise ValueError(f"{harness.method} runs on {SUITES} tasks, not {task.name} ({task.suite})")
    states = cfg.obs == "states"
    budget = harness.budget
    repeat = task.action_repeat
    seed_steps = cfg.seed_frames // repeat
    total_steps = -(-budget // repeat)

    state = harness.start()
    step = 0 if state is None else int(state["step"])
    # every action the env took, so that a resumed run can replay its env to here
    env_log = ActionLog.resume(state)
    env = make(task, num_envs=1, seed=env_seed(seed, env_log.seed_offset(step)),
               frames=not states)  # fmt: skip
    with torch_threads(cfg.threads), contextlib.closing(env):
        obs = env_log.start(env)
        x = env.states() if states else obs
        with seeded(seed):  # nor must initialising the nets consume the run's RNG streams
            agent = make_agent(x.shape[1:], task.action_space.size, cfg)
        # slots: one per policy step plus one reset observation per episode
        capacity = min(cfg.replay_size, total_steps + total_steps // task.episode_length + 2)
        buffer = ReplayBuffer(capacity, x.shape[1:], task.action_space.size,
                              obs_dtype=np.float32 if states else np.uint8,
                              frame_stack=1 if states else task.frame_stack,
                              nstep=cfg.nstep, gamma=cfg.gamma)  # fmt: skip
        rng = np.random.default_rng(seed)
        episodes, metrics = 0, {}
        if state is not None:
            agent.load_state_dict(state["agent"])
            buffer.load_state_dict(state["replay"])
            rng.bit_generator.state = state["np_rng"]
            episodes = int(state["episodes"])
        if state is None or not env_log.exact:  # else the buffer holds the env's episode
            buffer.add_first(x[0])

        def policy(inputs: np.ndarray) -> np.ndarray:
            return agent.act(inputs, step, deterministic=True)

        def checkpoint() -> None:
            harness.checkpoint(step, {"step": step, "episodes": episodes, "agent": agent.state_dict(),
                                      "replay": buffer.state_dict(), "obs_shape": x.shape[1:],
                                      "np_rng": rng.bit_generator.state,
                                      "env_actions": env_log.state()})  # fmt: skip

        bar = harness.progress_bar(budget, initial=min(step * repeat, budget))
        t_log, step_log = time.monotonic(), step
        while step < total_steps:
            if step < seed_steps:
                action = rng.uniform(-1.0, 1.0, (1, task.action_space.size)).astype(np.float32)
            else:
                action = agent.act(x, step, deterministic=False)
            if step >= seed_steps and step % cfg.update_every_steps == 0:
                metrics = agent.update(agent.sample(buffer, rng), step)
            s = env.step(action)
            env_log.add(action)
            step += 1
            bar.update(repeat)
            nxt = env.states() if states else s.obs
            if s.done[0]:
                # Terminal: the next observation only enters multiplied by discount 0.
                final = (nxt if states else s.final_obs)[0]
                if s.terminated[0] or not states:
                    buffer.add(action[0], s.reward[0], 0.0 if s.terminated[0] else 1.0, final)
                buffer.add_first(nxt[0])
                episodes += 1
                ep = s.episodes[0]
                harness.log(step, step * repeat, {"train/episode_return": ep.episode_return,
                                                  "train/episodes": episodes})  # fmt: skip
            else:
                buffer.add(action[0], s.reward[0], 1.0, nxt[0])
            x = nxt
            # Everything logged at a step comes before the checkpoint at that step, so a resume
            # from it neither repeats nor loses rows.
            if harness.eval_due(step * repeat) is not None:
                harness.evaluate(policy, step, step * repeat, inputs="states" if states else "frames")
            if step % cfg.log_every == 0 and metrics:
                # policy steps per second of wall time, evaluations included
                sps = (step - step_log) / max(time.monotonic() - t_log, 1e-9)
                t_log, step_log = time.monotonic(), step
                harness.log(step, step * repeat, metrics | {"train/std": agent.std(step),
                                                            "train/steps_per_s": sps})  # fmt: skip
            if step % cfg.checkpoint_every == 0 or step == total_steps:
                checkpoint()
        harness.finish()
    return agent


# -- experts ------------------------------------------------------------------------------
EXPERT_WEIGHTS = "policy.pt"


def expert_config(task: Task | str, kind: str) -> dict[str, Any]:
    """Defaults for ``bcvlr train-expert`` (see docs/experts.md)."""
    task = get_task(task) if isinstance(task, str) else task
    cfg = default_config(task)
    if kind == "ddpg_states":
        # Sized to train on 2 CPU cores: LAIfO's 1024x2 MLPs at batch 1024 run ~2.5 steps/s
        # here. States are cheap, so update every step and decay exploration faster.
        cfg |= {"obs": "states", "budget": 300_000, "hidden_dim": 256, "batch_size": 256,
                "lr": 3e-4, "update_every_steps": 1, "std_steps": 50_000, "aug_pad": 0,
                "eval_every": 10_000, "checkpoint_every": 5_000, "threads": 1}  # fmt: skip
    elif kind == "drqv2_pixels":
        # The authors' DMC expert videos come from DrQv2 trained 1M frames.
        cfg |= {"obs": "pixels", "budget": 1_000_000, "eval_every": 20_000}
    else:
        raise ValueError(f"unknown expert kind {kind!r}; expected ddpg_states or drqv2_pixels")
    return cfg


def train_expert(task: Task | str, *, kind: str, seed: int, out: str | Path,
                 config_file: str | None = None, overrides=(), progress: bool = True) -> None:  # fmt: skip
    """Train (or resume training) an expert into ``out``; idempotent once complete."""
    from bcvlr.config import load_config
    from bcvlr.experts.train import write_expert_json
    from bcvlr.results.rundir import score_metric
    from bcvlr.run.checkpoint import load_checkpoint
    from bcvlr.run.harness import CHECKPOINT, Harness

    task = get_task(task) if isinstance(task, str) else task
    cfg = load_config(Config, config_file, list(overrides), base=expert_config(task, kind))
    out = Path(out)
    harness = Harness(f"expert_{kind}", task, seed, config=dataclasses.asdict(cfg),
                      runs_root=out, budget=cfg.budget, eval_every=cfg.eval_every,
                      eval_episodes=cfg.eval_episodes, progress=progress)  # fmt: skip
    run_json = harness.path / "run.json"
    done = run_json.exists() and json.loads(run_json.read_text()).get("status") == "complete"
    if not done:
        with harness:
            run(task, seed, cfg, harness)
    # The policy is the one of the final checkpoint, written at the end of the budget.
    state = load_checkpoint(harness.path / CHECKPOINT)
    if state is None:
        raise RuntimeError(f"{harness.path}: complete run without a final checkpoint")
    policy = {k: state["agent"][k] for k in ("encoder", "actor")}
    atomic_write(out / EXPERT_WEIGHTS, lambda f: torch.save(policy, f))
    final = _last_value(harness.path / "metrics.csv", score_metric(task.name))
    write_expert_json(out, task, kind, __name__, seed, weights=EXPERT_WEIGHTS,
                      config=dataclasses.asdict(cfg), obs_shape=list(state["obs_shape"]),
                      final_score=final, frames=cfg.budget,
                      run_dir=str(harness.path.relative_to(out)))  # fmt: skip


def _last_value(metrics_csv: Path, metric: str) -> float | None:
    import csv

    with open(metrics_csv, newline="") as f:
        values = [float(r["value"]) for r in csv.DictReader(f) if r["metric"] == metric]
    return values[-1] if values else None


class LoadedExpert:
    """A trained expert's policy: acts on env.states() (``ddpg_states``) or frames."""

    def __init__(self, agent: DDPGAgent):
        self.agent = agent
        self.inputs = "states" if agent.cfg.obs == "states" else "frames"

    def act(self, inputs: np.ndarray, deterministic: bool = True) -> np.ndarray:
        # Stochastic acting uses the final exploration std.
        return self.agent.act(inputs, self.agent.cfg.std_steps, deterministic)


def load_expert(path: str | Path, meta: dict) -> LoadedExpert:
    from bcvlr.config import from_dict

    cfg = from_dict(Config, meta["config"])
    task = get_task(meta["task"])
    agent = DDPGAgent(tuple(meta["obs_shape"]), task.action_space.size, cfg)
    agent.load_state_dict(torch.load(Path(path) / meta["weights"], map_location="cpu"))
    return LoadedExpert(agent)
