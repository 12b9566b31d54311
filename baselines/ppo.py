"""PPO on Procgen with an IMPALA CNN: the PPO baseline and the trainer of the Procgen experts.

The recipe is cleanrl's ppo_procgen (docs/experts.md lists every value): IMPALA (16, 32, 32) +
256 fc, 64 envs x 256 steps, Adam lr 5e-4 (eps 1e-5), 8 minibatches, 3 epochs, gamma 0.999,
GAE lambda 0.95, clip 0.2 (policy and value), entropy 0.01, value 0.5, grad norm 0.5,
observations / 255, rewards divided by the running std of the discounted return, clipped to 10.

One implementation, two uses:

- the baseline (``bcvlr run --method ppo --task starpilot``): the task's 100k env steps with
  rewards, evaluated by the harness per the task registry (64 parallel episodes);
- the expert trainer (``bcvlr train-expert --task starpilot``): the same loop for 25M env steps,
  then the final weights and ``expert.json``; ``load_expert`` gives the policy back.

Budgets: the last rollout is shortened so the run uses exactly ceil(budget / num_envs) steps per
env; the total overshoots the budget by less than ``num_envs`` env steps.

Resume after a kill: the checkpoint (every ``checkpoint_every`` updates and after the last one)
holds the model, the optimiser, the reward normaliser's statistics, the global step and the
harness's RNG and evaluation state, and the games in progress: every env's saved simulator
state (``ProcgenVecEnv.get_state``) and the normaliser's per-env discounted returns, so a
resumed run continues exactly where the checkpoint was taken (the same rows as a run never
killed, wall-clock apart). The harness drops metric rows logged after the checkpoint, and the
redone updates log them again, so metrics.csv has every row once.
"""

from __future__ import annotations

import dataclasses
import json
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from bcvlr.envs import make
from bcvlr.nets import module_device
from bcvlr.nets.impala import ImpalaCNN
from bcvlr.run.checkpoint import load_checkpoint, save_checkpoint
from bcvlr.run.device import resolve_device
from bcvlr.run.harness import CHECKPOINT, Harness
from bcvlr.run.seeding import env_seed, seeded
from bcvlr.tasks import Task, get_task

SUITES = ("procgen",)
WEIGHTS = "ppo.pt"
EXPERT_METHOD = "expert_ppo"
# The paper's Procgen experts: PPO trained for 25M env steps (cleanrl's ppo_procgen budget).
EXPERT_BUDGET = 25_000_000


@dataclass
class Config:
    # env steps summed over the parallel envs; None = the task's budget (100k for Procgen)
    budget: int | None = None
    num_envs: int = 64
    num_steps: int = 256  # steps per env per rollout
    learning_rate: float = 5e-4
    anneal_lr: bool = False  # cleanrl's ppo_procgen default
    gamma: float = 0.999
    gae_lambda: float = 0.95
    num_minibatches: int = 8
    update_epochs: int = 3
    norm_adv: bool = True
    clip_coef: float = 0.2
    clip_vloss: bool = True
    ent_coef: float = 0.01
    vf_coef: float = 0.5
    max_grad_norm: float = 0.5
    target_kl: float | None = None  # stop an update's epochs early above this approx KL
    reward_norm: bool = True
    reward_clip: float = 10.0
    # a list, not a tuple: the config must equal itself after run.json's JSON round trip,
    # which is how a resumed run proves it has the same settings
    channels: list[int] = field(default_factory=lambda: [16, 32, 32])
    hidden: int = 256
    checkpoint_every: int = 10  # updates (one update = num_envs x num_steps env steps)
    # env steps between evaluations; None = the task's protocol (every 25,600 for Procgen)
    eval_every: int | None = None
    eval_episodes: int | None = None  # None = the task's protocol (64)
    torch_threads: int | None = None  # None = torch's default
    device: str = "auto"  # the GPU when one is visible (rollouts stay in host memory)

    def validate(self) -> None:
        positive = ("num_envs", "num_steps", "num_minibatches", "update_epochs", "hidden",
                    "checkpoint_every")  # fmt: skip
        for name in positive:
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        for name in ("budget", "eval_every", "eval_episodes", "torch_threads"):
            value = getattr(self, name)
            if value is not None and value < 1:
                raise ValueError(f"{name} must be >= 1 or null, got {value}")
        if not 0.0 < self.gamma <= 1.0 or not 0.0 <= self.gae_lambda <= 1.0:
            raise ValueError("gamma must lie in (0, 1] and gae_lambda in [0, 1]")
        if self.learning_rate <= 0 or self.clip_coef <= 0 or self.reward_clip <= 0:
            raise ValueError("learning_rate, clip_coef and reward_clip must be positive")
        if not self.channels or min(self.channels) < 1:
            raise ValueError(f"channels must be a non-empty list of positive ints: {self.channels}")


def default_config(task: Task | str) -> dict:
    task = get_task(task) if isinstance(task, str) else task
    if task.suite not in SUITES:
        raise ValueError(f"PPO runs on {', '.join(SUITES)} tasks, not on {task.name!r}")
    return dataclasses.asdict(Config(num_envs=task.num_envs))


def expert_config(task: Task | str) -> dict:
    """The baseline's hyper-parameters at the expert budget. 25 evaluations (of 64 episodes)
    instead of the task protocol's ~1000 keep evaluation a small share of the run."""
    return default_config(task) | {"budget": EXPERT_BUDGET, "eval_every": 1_000_000,
                                   "checkpoint_every": 20}  # fmt: skip


# -- the agent ---------------------------------------------------------------------------------


class Agent(nn.Module):
    def __init__(self, obs_shape: tuple[int, int, int], num_actions: int,
                 channels: tuple[int, ...] = (16, 32, 32), hidden: int = 256):  # fmt: skip
        super().__init__()
        self.encoder = ImpalaCNN(obs_shape, channels, out_features=hidden)
        self.actor = nn.Linear(hidden, num_actions)
        self.critic = nn.Linear(hidden, 1)
        # Near-uniform initial policy and unit-scale values (cleanrl's layer_init on the heads).
        nn.init.orthogonal_(self.actor.weight, 0.01)
        nn.init.orthogonal_(self.critic.weight, 1.0)
        nn.init.zeros_(self.actor.bias)
        nn.init.zeros_(self.critic.bias)
        # oneDNN's convolutions run ~2-3x faster on CPU in channels-last layout (measured).
        self.to(memory_format=torch.channels_last)

    def forward(self, obs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """uint8 frames (B, C, H, W) -> action logits (B, A), values (B,)."""
        x = (obs.float() / 255.0).contiguous(memory_format=torch.channels_last)
        hidden = self.encoder(x)
        return self.actor(hidden), self.critic(hidden).squeeze(-1)

    @torch.no_grad()
    def act(self, obs: np.ndarray, deterministic: bool = False) -> np.ndarray:
        logits, _ = self(torch.from_numpy(obs).to(module_device(self)))
        if deterministic:
            return logits.argmax(-1).cpu().numpy()
        return torch.distributions.Categorical(logits=logits).sample().cpu().numpy()


# -- reward normalisation and advantages -------------------------------------------------------


class ReturnNormalizer:
    """Divides rewards by the running std of each env's discounted return (as gym's
    NormalizeReward does), then clips: keeps value targets near unit scale across games whose
    reward scales differ by 100x."""

    def __init__(self, num_envs: int, gamma: float, clip: float, eps: float = 1e-8):
        self.gamma, self.clip, self.eps = gamma, clip, eps
        self.mean, self.var, self.count = 0.0, 1.0, 1e-4
        self.returns = np.zeros(num_envs, np.float64)

    def _update(self, x: np.ndarray) -> None:
        # Chan et al.'s parallel merge of (mean, var, count) with a batch's moments.
        b_mean, b_var, b_count = float(x.mean()), float(x.var()), x.size
        delta, total = b_mean - self.mean, self.count + b_count
        m2 = self.var * self.count + b_var * b_count + delta**2 * self.count * b_count / total
        self.mean, self.var, self.count = self.mean + delta * b_count / total, m2 / total, total

    def __call__(self, reward: np.ndarray, done: np.ndarray) -> np.ndarray:
        self.returns = self.returns * self.gamma + reward
        self._update(self.returns)
        self.returns[done] = 0.0
        scaled = reward / math.sqrt(self.var + self.eps)
        return np.clip(scaled, -self.clip, self.clip).astype(np.float32)

    def state_dict(self) -> dict:
        return {"mean": self.mean, "var": self.var, "count": self.count,
                "returns": self.returns.tolist()}  # fmt: skip

    def load_state_dict(self, state: dict) -> None:
        self.mean, self.var, self.count = state["mean"], state["var"], state["count"]
        if "returns" in state:  # checkpoints before the envs were saved: episodes restart
            self.returns = np.asarray(state["returns"], np.float64).copy()


def gae(rewards: torch.Tensor, values: torch.Tensor, dones: torch.Tensor,
        next_value: torch.Tensor, gamma: float, lam: float) -> torch.Tensor:  # fmt: skip
    """Generalised advantage estimates for a (T, N) rollout.

    ``dones[t]`` is 1 where the action at t ended the episode: no bootstrapping across it.
    ``next_value`` (N,) is the value of the observation after the last step.
    """
    advantages = torch.zeros_like(rewards)
    running = torch.zeros_like(next_value)
    for t in reversed(range(rewards.shape[0])):
        following = next_value if t == rewards.shape[0] - 1 else values[t + 1]
        nonterminal = 1.0 - dones[t]
        delta = rewards[t] + gamma * following * nonterminal - values[t]
        running = delta + gamma * lam * nonterminal * running
        advantages[t] = running
    return advantages


# -- one PPO update ----------------------------------------------------------------------------


@dataclass
class Rollout:
    obs: torch.Tensor  # (T, N, C, H, W) uint8
    actions: torch.Tensor  # (T, N) int64
    logprobs: torch.Tensor  # (T, N)
    values: torch.Tensor  # (T, N)
    advantages: torch.Tensor  # (T, N)

    @property
    def returns(self) -> torch.Tensor:
        return self.advantages + self.values


class Hooks:
    """What a method built on this PPO loop may change (LAIfO's discrete learner replaces the
    reward; LAPO brings its own agent through ``train(make_agent=...)``). The defaults are PPO."""

    def reward(self, obs: np.ndarray, step) -> np.ndarray:
        """The reward PPO optimises for the transition ``obs`` -> ``step`` (``step.obs``, with
        ``step.final_obs`` where ``step.done``); called once per env step, in order."""
        return step.reward

    def after_update(self, update: int) -> dict[str, float]:
        """Called after each PPO update; returns metrics to log."""
        return {}

    def state_dict(self) -> dict[str, Any]:
        return {}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        pass


def collect(agent: Agent, env, next_obs: np.ndarray, steps: int,
            normalizer: ReturnNormalizer | None, cfg: Config, hooks: Hooks | None = None):  # fmt: skip
    """Run ``steps`` steps in every env with the current policy.

    Returns the rollout (advantages computed), the observation to continue from and the
    episodes that ended (with their raw, unnormalised returns)."""
    hooks = hooks or Hooks()
    n, device = env.num_envs, module_device(agent)
    obs = torch.zeros((steps, n, *next_obs.shape[1:]), dtype=torch.uint8)
    actions = torch.zeros((steps, n), dtype=torch.int64)
    logprobs, values, rewards, dones = (torch.zeros((steps, n)) for _ in range(4))
    episodes = []
    with torch.no_grad():
        for t in range(steps):
            obs[t] = torch.from_numpy(next_obs)
            logits, value = agent(obs[t].to(device))
            dist = torch.distributions.Categorical(logits=logits)
            action = dist.sample()
            actions[t], logprobs[t] = action.cpu(), dist.log_prob(action).cpu()
            values[t] = value.cpu()
            step = env.step(actions[t].numpy())
            reward = hooks.reward(next_obs, step)
            if normalizer is not None:
                reward = normalizer(reward, step.done)
            rewards[t] = torch.from_numpy(reward)
            dones[t] = torch.from_numpy(step.done.astype(np.float32))
            next_obs = step.obs
            episodes += step.episodes
        _, next_value = agent(torch.from_numpy(next_obs).to(device))
    advantages = gae(rewards, values, dones, next_value.cpu(), cfg.gamma, cfg.gae_lambda)
    return Rollout(obs, actions, logprobs, values, advantages), next_obs, episodes


def ppo_update(agent: Agent, optimizer: torch.optim.Optimizer, rollout: Rollout,
               cfg: Config) -> dict[str, float]:  # fmt: skip
    device = module_device(agent)
    obs = rollout.obs.flatten(0, 1)  # uint8 frames stay in host memory; minibatches move
    actions, old_logprobs, old_values, advantages, returns = (
        x.flatten().to(device) for x in (rollout.actions, rollout.logprobs, rollout.values,
                                          rollout.advantages, rollout.returns))  # fmt: skip
    stats: dict[str, list[float]] = {k: [] for k in ("policy", "value", "entropy", "approx_kl",
                                                      "clipfrac")}  # fmt: skip
    for _ in range(cfg.update_epochs):
        # chunk() also splits the shortened last rollout of a run into num_minibatches parts
        for idx in torch.randperm(len(obs)).chunk(cfg.num_minibatches):
            logits, values = agent(obs[idx].to(device, non_blocking=True))
            idx = idx.to(device)
            dist = torch.distributions.Categorical(logits=logits)
            logratio = dist.log_prob(actions[idx]) - old_logprobs[idx]
            ratio = logratio.exp()
            adv = advantages[idx]
            if cfg.norm_adv and len(idx) > 1:
                adv = (adv - adv.mean()) / (adv.std() + 1e-8)
            clipped = torch.clamp(ratio, 1 - cfg.clip_coef, 1 + cfg.clip_coef)
            policy_loss = torch.max(-adv * ratio, -adv * clipped).mean()
            if cfg.clip_vloss:
                # The value may move at most clip_coef from its rollout estimate, unless the
                # unclipped error is the larger one.
                v_clipped = old_values[idx] + torch.clamp(
                    values - old_values[idx], -cfg.clip_coef, cfg.clip_coef
                )
                value_loss = 0.5 * torch.max((values - returns[idx]) ** 2,
                                             (v_clipped - returns[idx]) ** 2).mean()  # fmt: skip
            else:
                value_loss = 0.5 * F.mse_loss(values, returns[idx])
            entropy = dist.entropy().mean()
            loss = policy_loss - cfg.ent_coef * entropy + cfg.vf_coef * value_loss
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            nn.utils.clip_grad_norm_(agent.parameters(), cfg.max_grad_norm)
            optimizer.step()
            with torch.no_grad():
                # the low-variance KL estimator (ratio - 1) - log ratio
                approx_kl = ((ratio - 1) - logratio).mean().item()
                stats["clipfrac"].append(((ratio - 1).abs() > cfg.clip_coef).float().mean().item())
            stats["policy"].append(policy_loss.item())
            stats["value"].append(value_loss.item())
            stats["entropy"].append(entropy.item())
            stats["approx_kl"].append(approx_kl)
        if cfg.target_kl is not None and approx_kl > cfg.target_kl:
            break
    var_returns = returns.var().item()
    explained = (float("nan") if var_returns == 0
                 else 1 - (returns - old_values).var().item() / var_returns)  # fmt: skip
    out = {f"loss/{k}": float(np.mean(v)) for k, v in stats.items()}
    out["loss/explained_variance"] = explained
    return out


# -- the training loop -------------------------------------------------------------------------


@dataclass
class Trained:
    agent: Agent
    env_steps: int
    score: float | None  # the last evaluation's score (the final one once the run is complete)


def run(task: Task | str, seed: int, cfg: Config, harness: Harness, videos=None) -> Trained:
    """Train PPO for ``harness.budget`` env steps (the harness decides the budget)."""
    if videos is not None:
        raise ValueError("PPO learns from rewards, not from expert videos")
    return train(task, seed, cfg, harness)


def train(task: Task | str, seed: int, cfg: Config, harness: Harness, *,
          make_agent: Callable[[], nn.Module] | None = None,
          hooks: Hooks | None = None) -> Trained:  # fmt: skip
    """The PPO loop, shared by the methods built on it: ``make_agent()`` returns a module with
    ``Agent``'s interface (``forward(uint8 frames) -> (logits, values)`` and ``act``; LAPO's
    latent policy with its decoder head), ``hooks`` may replace the reward and add per-update
    work whose state is checkpointed with the run (LAIfO's discriminator)."""
    task = get_task(task) if isinstance(task, str) else task
    if task.suite not in SUITES:
        raise ValueError(
            f"{harness.method} runs on {', '.join(SUITES)} tasks, not on {task.name!r}"
        )
    hooks = hooks or Hooks()
    if cfg.torch_threads is not None:
        torch.set_num_threads(cfg.torch_threads)
    # The config may set the evaluation cadence and size (the expert needs ~25 evaluations in
    # 25M steps, not ~1000); set before start() so the schedule is the same on every resume.
    if cfg.eval_every is not None:
        harness.eval_every = cfg.eval_every
    if cfg.eval_episodes is not None:
        harness.eval_episodes = cfg.eval_episodes

    state = harness.start()  # seeds every RNG, or restores them from the checkpoint
    obs_shape = (3, 64, 64)
    with seeded(seed):  # building the nets must not use the run's RNG
        agent = (make_agent() if make_agent is not None
                 else Agent(obs_shape, task.action_space.size, tuple(cfg.channels), cfg.hidden))  # fmt: skip
    agent.to(resolve_device(cfg.device))
    optimizer = torch.optim.Adam(agent.parameters(), lr=cfg.learning_rate, eps=1e-5)
    normalizer = ReturnNormalizer(cfg.num_envs, cfg.gamma, cfg.reward_clip)
    global_step, update, score = 0, 0, None
    if state is not None:
        agent.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        normalizer.load_state_dict(state["reward_norm"])
        hooks.load_state_dict(state.get("hooks", {}))
        global_step, update, score = state["global_step"], state["update"], state["score"]

    def checkpoint() -> None:
        harness.checkpoint(global_step, {
            "model": agent.state_dict(), "optimizer": optimizer.state_dict(),
            "reward_norm": normalizer.state_dict(), "global_step": global_step,
            "update": update, "score": score, "hooks": hooks.state_dict(),
            "envs": env.get_state() if env is not None else None,
        })  # fmt: skip

    def policy(frames: np.ndarray) -> np.ndarray:
        return agent.act(frames, deterministic=task.eval.deterministic)

    budget, n = harness.budget, cfg.num_envs
    bar = harness.progress_bar(budget, initial=min(global_step, budget))
    env = make(task, num_envs=n, seed=env_seed(seed, update)) if global_step < budget else None
    try:
        next_obs = env.reset() if env is not None else None
        if env is not None and state is not None and state.get("envs") is not None:
            next_obs = env.set_state(state["envs"])  # the games the checkpoint was taken in
        while global_step < budget:
            steps = min(cfg.num_steps, math.ceil((budget - global_step) / n))
            if cfg.anneal_lr:
                optimizer.param_groups[0]["lr"] = cfg.learning_rate * (1 - global_step / budget)
            t0 = time.perf_counter()
            rollout, next_obs, episodes = collect(
                agent, env, next_obs, steps, normalizer if cfg.reward_norm else None, cfg, hooks
            )
            t1 = time.perf_counter()
            metrics = ppo_update(agent, optimizer, rollout, cfg)
            t2 = time.perf_counter()

            global_step += steps * n
            update += 1
            metrics |= hooks.after_update(update)
            metrics |= {"train/lr": optimizer.param_groups[0]["lr"],
                        "perf/sps": steps * n / (t2 - t0), "perf/rollout_s": t1 - t0,
                        "perf/update_s": t2 - t1, "train/episodes": float(len(episodes))}  # fmt: skip
            if episodes:
                metrics["train/episode_return"] = float(
                    np.mean([e.episode_return for e in episodes])
                )
                metrics["train/episode_length"] = float(np.mean([e.length for e in episodes]))
            harness.log(global_step, global_step, metrics)
            bar.update(min(global_step, budget) - bar.n)
            if "train/episode_return" in metrics:
                bar.set_postfix(train_return=f"{metrics['train/episode_return']:.3g}")

            if harness.eval_due(global_step) is not None:
                agent.eval()
                score = harness.evaluate(policy, global_step, global_step).score(task)
                agent.train()
            if update % cfg.checkpoint_every == 0 or global_step >= budget:
                checkpoint()
    finally:
        if env is not None:
            env.close()
    harness.finish()
    return Trained(agent, global_step, score)


# -- Procgen experts ---------------------------------------------------------------------------


def train_expert(task: Task, *, kind: str, seed: int, out, config_file=None, overrides=(),
                 progress: bool = True) -> None:  # fmt: skip
    """Train a PPO expert into ``out``: the run directory (``out/expert_ppo/<task>/seed<seed>``,
    checkpoints there, so rerunning the same command resumes), then ``ppo.pt`` and
    ``expert.json``. The budget defaults to 25M env steps; override it with ``--set budget=N``."""
    from bcvlr.config import load_config
    from bcvlr.experts.train import write_expert_json

    if kind != "ppo":
        raise ValueError(f"baselines.ppo trains 'ppo' experts, not {kind!r}")
    cfg = load_config(Config, config_file, list(overrides), base=expert_config(task))
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    harness = Harness(EXPERT_METHOD, task, seed, config=dataclasses.asdict(cfg), runs_root=out,
                      budget=cfg.budget, progress=progress)  # fmt: skip
    trained = _completed(harness, task, cfg)
    if trained is None:
        with harness:
            trained = run(task, seed, cfg, harness)
    save_checkpoint(out / WEIGHTS, {
        "model": trained.agent.state_dict(), "obs_shape": (3, 64, 64),
        "num_actions": task.action_space.size, "channels": tuple(cfg.channels),
        "hidden": cfg.hidden,
    })  # fmt: skip
    write_expert_json(out, task, kind, __name__, seed, weights=WEIGHTS, score=trained.score,
                      score_metric=f"eval/{task.eval.metric}", env_steps=trained.env_steps,
                      budget=harness.budget, run=str(harness.path.relative_to(out)))  # fmt: skip


def _completed(harness: Harness, task: Task, cfg: Config) -> Trained | None:
    """The trained agent of a run that already completed (a kill after training, before the
    export), else None. The final checkpoint holds everything the export needs."""
    try:
        info = json.loads((harness.path / "run.json").read_text())
    except FileNotFoundError:
        return None
    if info.get("status") != "complete":
        return None
    if info.get("config") != harness.config:
        raise ValueError(f"{harness.path} holds a complete run with other settings; "
                         "train into another --out")  # fmt: skip
    state = load_checkpoint(harness.path / CHECKPOINT)
    if state is None:
        raise FileNotFoundError(f"{harness.path}: complete, but its final checkpoint is missing")
    agent = Agent((3, 64, 64), task.action_space.size, tuple(cfg.channels), cfg.hidden)
    agent.load_state_dict(state["model"])
    return Trained(agent, state["global_step"], state["score"])


class PPOExpert:
    inputs = "frames"

    def __init__(self, agent: Agent):
        self.agent = agent.eval()

    def act(self, inputs: np.ndarray, deterministic: bool = True) -> np.ndarray:
        """uint8 frames (N, 3, 64, 64) -> actions (N,): argmax, or sampled from the policy."""
        return self.agent.act(inputs, deterministic=deterministic)


def load_expert(path, meta: dict[str, Any]) -> PPOExpert:
    state = load_checkpoint(Path(path) / meta.get("weights", WEIGHTS))
    if state is None:
        raise FileNotFoundError(f"{path}: no {meta.get('weights', WEIGHTS)}")
    agent = Agent(tuple(state["obs_shape"]), state["num_actions"], tuple(state["channels"]),
                  state["hidden"])  # fmt: skip
    agent.load_state_dict(state["model"])
    return PPOExpert(agent)
