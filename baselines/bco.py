"""BCO(alpha): Behavioral Cloning from Observation (Torabi, Warnell, Stone, IJCAI 2018), on pixels.

Read top to bottom, ``iterate`` is the paper's Algorithm 1 under the harness's interaction budget:

  1. collect |I_pre| = pre_fraction x budget interactions with a uniformly random policy;
  2. train an inverse dynamics model a_t = IDM(o_t, o_t+1) on the agent's own transitions
     (reward-free: the agent knows the actions it took);
  3. label the expert videos' transitions with the IDM and behaviour-clone a policy on them;
  4. collect alpha x |I_pre| more interactions with that policy and go back to 2, until the
     budget is spent.

The same loop drives UPESV (baselines/upesv.py), which swaps in another labeller: a ``Learner``
is what steps 2-3 and acting need.

Our choices (the paper is state-based and sets none of them for pixels; docs/baselines.md):
- the IDM and the policy are IMPALA CNNs with a LayerNorm-tanh bottleneck (bcvlr/nets/idm.py)
  for every suite; the IDM sees (o_t, o_t+1) stacked along channels, and on Procgen
  (o_t-1, o_t, o_t+1) (``window``: LAPO's and BCV-LR's Procgen window; o_t-1 holds the
  velocity that the action changes); cross-entropy (discrete) or MSE (continuous);
- the random policy of I_pre repeats each env's last action with probability ``sticky``
  (Procgen: 0.75; otherwise 0, i.i.d.): under i.i.d. random actions starpilot's ship barely
  moves between frames, and an IDM of 2 or 3 frames stayed at chance for 1000 updates; with
  0.75 it reached 40% held-out accuracy after 1200. Evaluation points inside I_pre score an
  i.i.d. random policy;
- discrete labels are the IDM's most likely action (the paper's maximum-likelihood label);
  continuous labels are its predicted action;
- the IDM and the policy are warm-started across iterations (the paper retrains them), with a
  fixed number of updates per iteration;
- random shifts (DrQ) of the policy's input on DMC and Metaworld (``aug_pad``); the IDM sees
  its frames unshifted, since the motion it must read is a pixel or two (not ablated);
- collection with the policy samples its categorical (discrete) or adds Gaussian noise of
  ``explore_std`` to its action (continuous); evaluation follows the task's protocol;
- the IDM's held-out score is measured on the transitions of the latest collection phase,
  before it trains on them: transitions of the current policy it has never seen;
- the budget is met by whole vectorised steps: the run uses ceil(budget / (num_envs x action
  repeat)) of them (Procgen: 1563 x 64 = 100,032 env steps), so its last point is evaluated;
- an evaluation point reached during a collection phase is scored with the policy that is
  collecting (the random policy during I_pre); one reached at a phase's end, with the policy
  trained on that phase's data.

Resume after a kill: a checkpoint after every ``checkpoint_every`` iterations holds the IDM,
the policy, their optimisers, the replay of every transition so far, the acting and video
samplers' RNGs, the loop counters and every action the envs took: a resumed run remakes its
envs with the same seed and replays those actions, so it continues exactly where it stopped.
"""

from __future__ import annotations

import dataclasses
import math
import time
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np
import torch

from bcvlr.data import VideoDataset, WindowSampler
from bcvlr.data.window_replay import WindowReplay
from bcvlr.envs import expert_videos, make_reward_free
from bcvlr.envs.action_log import ActionLog
from bcvlr.nets.augment import RandomShift
from bcvlr.nets.idm import ActionNet, InverseDynamics
from bcvlr.run.device import resolve_device, torch_threads
from bcvlr.run.seeding import env_seed, seeded
from bcvlr.tasks import Task, get_task

SUITES = ("procgen", "dmc", "metaworld")
NEEDS_VIDEOS = True


@dataclass
class Config:
    budget: int | None = None  # the task's unit (Procgen env steps, else frames); None: task's
    # a scaled-down config (a CPU size): its runs are labelled reduced_budget even at the
    # task's full budget, since their nets or updates are not the reference's
    reduced_size: bool = False
    num_envs: int | None = None  # parallel envs; None: the task's (64 Procgen, 1 otherwise)
    # frames the IDM sees: (o_t, o_t+1), the paper's; default_config: (o_t-1, o_t, o_t+1) on
    # Procgen (LAPO's and BCV-LR's window: the velocity a game's inertia carries)
    window: int = 2
    pre_fraction: float = 0.2  # |I_pre| / budget: random interactions before any learning
    # the random policy repeats an env's last action with this probability (default_config:
    # 0.75 on Procgen, where i.i.d. random actions barely move the ship between two frames)
    sticky: float = 0.0
    alpha: float = 0.5  # each later iteration collects alpha x |I_pre| with the policy
    idm_updates: int = 2000  # labeller updates per iteration
    # after I_pre, the first labeller is trained from scratch for longer: a labeller at chance
    # makes the first policy repeat one action, and its data then teach nothing (None: as above)
    idm_first_updates: int | None = None
    bc_updates: int = 2000  # policy updates per iteration
    batch_size: int = 128
    lr: float = 3e-4
    # IDM and policy: IMPALA conv sequences, then a LayerNorm-tanh bottleneck of ``hidden``
    # (a list: the config must equal itself after run.json's JSON round trip)
    channels: list[int] = field(default_factory=lambda: [16, 32, 32])
    hidden: int = 256
    aug_pad: int = 0  # random shift of the policy's input (default_config: 4 on DMC, Metaworld)
    explore_std: float = 0.3  # continuous collection noise
    heldout_windows: int = 1024  # held-out transitions scored per iteration
    replay_capacity: int | None = None  # transitions kept; None: the whole budget
    checkpoint_every: int = 1  # iterations
    eval_every: int | None = None  # None: the task's protocol
    eval_episodes: int | None = None
    threads: int = 0  # torch intra-op threads; 0 keeps torch's default
    device: str = "auto"  # "auto": cuda when available

    def validate(self) -> None:
        if not 0.0 <= self.sticky < 1.0:
            raise ValueError(f"sticky must lie in [0, 1), got {self.sticky}")
        if not 0.0 < self.pre_fraction <= 1.0:
            raise ValueError(f"pre_fraction must lie in (0, 1], got {self.pre_fraction}")
        if self.window not in (2, 3):
            raise ValueError(f"window must be 2 or 3, got {self.window}")
        if self.alpha <= 0:
            raise ValueError(f"alpha must be positive, got {self.alpha}")
        for name in ("idm_updates", "bc_updates", "batch_size", "hidden", "heldout_windows",
                     "checkpoint_every"):  # fmt: skip
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        for name in ("idm_first_updates", "budget", "num_envs", "replay_capacity", "eval_every",
                     "eval_episodes"):  # fmt: skip
            value = getattr(self, name)
            if value is not None and value < 1:
                raise ValueError(f"{name} must be >= 1 or null, got {value}")
        if self.lr <= 0 or self.explore_std < 0 or self.aug_pad < 0 or self.threads < 0:
            raise ValueError("lr must be positive; explore_std, aug_pad, threads non-negative")
        if not self.channels or min(self.channels) < 1:
            raise ValueError(f"channels must be a non-empty list of positive ints: {self.channels}")


def default_config(task: Task | str) -> dict[str, Any]:
    task = get_task(task) if isinstance(task, str) else task
    if task.suite == "procgen":
        return dataclasses.asdict(Config(window=3, sticky=0.75, aug_pad=0))
    return dataclasses.asdict(Config(window=2, aug_pad=4))


# ---------------------------------------------------------------------------------------------
# The learner: what trains the labeller, clones the policy and acts
# ---------------------------------------------------------------------------------------------
class Learner(Protocol):
    def train_labeller(self, replay: WindowReplay, videos: WindowSampler,
                       updates: int) -> dict[str, float]: ...  # fmt: skip

    def heldout(self, replay: WindowReplay, windows: int) -> dict[str, float]: ...

    def clone(self, videos: WindowSampler, updates: int) -> dict[str, float]: ...

    def act(
        self, obs: np.ndarray, deterministic: bool, generator: torch.Generator
    ) -> np.ndarray: ...

    def state_dict(self) -> dict[str, Any]: ...

    def load_state_dict(self, state: dict[str, Any]) -> None: ...


def mean_metrics(rows: list[dict[str, float]], prefix: str = "") -> dict[str, float]:
    """Per-key means of an iteration's update metrics (under ``prefix/`` if given)."""
    head = f"{prefix}/" if prefix else ""
    return {head + k: float(np.mean([r[k] for r in rows])) for k in rows[0]} if rows else {}


def heldout_batches(replay: WindowReplay, windows: int, window: int, batch: int = 256):
    """Up to ``windows`` transitions of ``replay`` as (obs windows, actions) batches."""
    if replay.transitions == 0:
        return
    for _ in range(math.ceil(windows / batch)):
        yield replay.sample(batch, window)


class BCO:
    """The labeller (an IDM) and the policy, with their optimisers; UPESV subclasses it."""

    def __init__(self, idm: InverseDynamics, policy: ActionNet, cfg: Config,
                 device: torch.device):  # fmt: skip
        self.cfg, self.device, self.noise = cfg, device, cfg.explore_std
        self.idm, self.policy = idm.to(device), policy.to(device)
        self.idm_opt = torch.optim.Adam(self.idm.parameters(), lr=cfg.lr)
        self.policy_opt = torch.optim.Adam(self.policy.parameters(), lr=cfg.lr)
        self.aug = RandomShift(cfg.aug_pad)

    @classmethod
    def build(cls, task: Task, obs_shape: tuple[int, int, int], cfg: Config,
              device: torch.device) -> BCO:  # fmt: skip
        space = task.action_space
        return cls(InverseDynamics(obs_shape, space, cfg.channels, cfg.hidden, window=cfg.window),
                   ActionNet(obs_shape, space, cfg.channels, cfg.hidden), cfg, device)  # fmt: skip

    def _tensor(self, x: np.ndarray) -> torch.Tensor:
        return torch.from_numpy(x).to(self.device)

    def train_labeller(self, replay: WindowReplay, videos: WindowSampler,
                       updates: int) -> dict[str, float]:  # fmt: skip
        """Step 2: the IDM regresses the actions of the agent's own transitions."""
        self.idm.train()
        rows = []
        for _ in range(updates):
            obs, actions = replay.sample(self.cfg.batch_size, self.cfg.window)
            out = self.idm(self._tensor(obs))
            target = self._tensor(actions)
            loss = self.idm.loss(out, target)
            self.idm_opt.zero_grad(set_to_none=True)
            loss.backward()
            self.idm_opt.step()
            rows.append({"loss": loss.item()} | train_scores(self.idm, out, target))
        return mean_metrics(rows, "idm")

    @torch.no_grad()
    def heldout(self, replay: WindowReplay, windows: int) -> dict[str, float]:
        self.idm.eval()
        outs, targets = [], []
        for obs, actions in heldout_batches(replay, windows, self.cfg.window):
            outs.append(self.idm(self._tensor(obs)))
            targets.append(self._tensor(actions))
        if not outs:
            return {}
        scores = self.idm.metrics(torch.cat(outs), torch.cat(targets))
        return {f"idm/heldout_{k}": v for k, v in scores.items()}

    def clone(self, videos: WindowSampler, updates: int) -> dict[str, float]:
        """Step 3: label video transitions with the IDM (in eval mode), clone the policy."""
        self.idm.eval()
        self.policy.train()
        losses = []
        for _ in range(updates):
            windows = self._tensor(videos.sample())
            with torch.no_grad():
                labels = self.idm.label(self.idm(windows))
            # the policy acts on o_t: the frame before the last of the window
            loss = self.policy.loss(self.policy(windows[:, -2], self.aug), labels)
            self.policy_opt.zero_grad(set_to_none=True)
            loss.backward()
            self.policy_opt.step()
            losses.append(loss.item())
        return {"bc/loss": float(np.mean(losses))}

    def act(self, obs: np.ndarray, deterministic: bool, generator: torch.Generator) -> np.ndarray:
        self.policy.eval()
        return self.policy.act(obs, deterministic=deterministic, noise_std=self.noise,
                               generator=generator)  # fmt: skip

    def state_dict(self) -> dict[str, Any]:
        return {"idm": self.idm.state_dict(), "policy": self.policy.state_dict(),
                "idm_opt": self.idm_opt.state_dict(),
                "policy_opt": self.policy_opt.state_dict()}  # fmt: skip

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.idm.load_state_dict(state["idm"])
        self.policy.load_state_dict(state["policy"])
        self.idm_opt.load_state_dict(state["idm_opt"])
        self.policy_opt.load_state_dict(state["policy_opt"])


def train_scores(net: ActionNet, out: torch.Tensor, target: torch.Tensor) -> dict[str, float]:
    """Accuracy or R^2 on a training batch (its MSE is the loss already)."""
    return {f"train_{k}": v for k, v in net.metrics(out, target).items() if k != "mse"}


# ---------------------------------------------------------------------------------------------
# The iterations under the harness (shared with UPESV)
# ---------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Schedule:
    """Phase ends in vectorised env steps: I_pre, then alpha x I_pre per iteration."""

    total: int  # vectorised steps in the run
    pre: int
    per_iteration: int

    @classmethod
    def of(cls, total: int, cfg: Config) -> Schedule:
        pre = min(total, max(1, round(cfg.pre_fraction * total)))
        return cls(total, pre, max(1, round(cfg.alpha * pre)))

    def end(self, phase: int) -> int:
        return min(self.total, self.pre + phase * self.per_iteration)


def _random_actions(task: Task, n: int, gen: torch.Generator) -> np.ndarray:
    from bcvlr.method.bcvlr.online import random_actions

    return random_actions(task, n, gen)


class StickyRandom:
    """Uniformly random actions, each env repeating its previous one with probability
    ``sticky``: I_pre's random policy, with runs of one action long enough to be seen."""

    def __init__(self, task: Task, sticky: float, gen: torch.Generator):
        self.task, self.sticky, self.gen = task, sticky, gen
        self.last: np.ndarray | None = None

    def __call__(self, obs: np.ndarray) -> np.ndarray:
        new = _random_actions(self.task, len(obs), self.gen)
        if self.last is not None and self.sticky > 0:
            keep = torch.rand(len(obs), generator=self.gen).numpy() < self.sticky
            new[keep] = self.last[keep]
        self.last = new
        return new.copy()


def iterate(task: Task, seed: int, cfg: Config, harness, videos: VideoDataset,
            learner: Learner) -> None:  # fmt: skip
    """Collect, train the labeller, clone, repeat: the loop of BCO(alpha) and UPESV."""
    n = cfg.num_envs or task.num_envs
    per_step = n * task.action_repeat  # budget units (env steps or frames) per vectorised step
    schedule = Schedule.of(-(-harness.budget // per_step), cfg)
    obs_shape = videos.stacked_shape
    # Every transition of the run fits unless replay_capacity says otherwise; the slack holds
    # the final frames of episodes and the entries that close streams on a resume.
    capacity = cfg.replay_capacity or n * schedule.total
    capacity += n * (capacity // (n * 8) + 8)
    replay = WindowReplay(capacity, n, obs_shape, task.action_space, seed=seed,
                          frame_stack=task.frame_stack)
    gen = torch.Generator().manual_seed(seed)

    state = harness.start()
    step, phase = 0, 0
    if state is not None:
        learner.load_state_dict(state["learner"])
        replay.load_state_dict(state["replay"])
        gen.set_state(state["generator"])
        step, phase = int(state["step"]), int(state["phase"])
    sampler = WindowSampler(videos, window=cfg.window, batch_size=cfg.batch_size,
                            seed=seed + 7919)  # fmt: skip
    if state is not None and "sampler" in state:  # older checkpoints lack it
        sampler.load_state_dict(state["sampler"])
    # every action the envs took, so that a resumed run can replay its envs to here
    env_log = ActionLog.resume(state)

    def policy(obs: np.ndarray) -> np.ndarray:
        return learner.act(obs, task.eval.deterministic, gen)

    def explore(obs: np.ndarray) -> np.ndarray:
        return learner.act(obs, False, gen)

    def random_policy(obs: np.ndarray) -> np.ndarray:
        return _random_actions(task, len(obs), gen)

    def checkpoint() -> None:
        harness.checkpoint(step, {"learner": learner.state_dict(),
                                  "replay": replay.state_dict(),
                                  "generator": gen.get_state(), "sampler": sampler.state_dict(),
                                  "env_actions": env_log.state(), "step": step, "phase": phase})  # fmt: skip

    env = make_reward_free(task, num_envs=n, seed=env_seed(seed, env_log.seed_offset(phase)))
    bar = harness.progress_bar(schedule.total * per_step, step * per_step)
    try:
        obs = env_log.start(env)  # back where the checkpoint left them
        if state is None:
            replay.start(obs)
        elif not np.array_equal(obs, replay.pending):
            replay.restart(obs)
        while step < schedule.total:
            end = schedule.end(phase)
            # This phase's transitions, also kept apart: the labeller's held-out set.
            fresh = WindowReplay(n * (end - step + (end - step) // 8 + 8), n, obs_shape,
                                 task.action_space, seed=seed + phase,
                                 frame_stack=task.frame_stack)  # fmt: skip
            fresh.start(obs)
            if phase == 0:
                collect, scored = StickyRandom(task, cfg.sticky, gen), random_policy
            else:
                collect, scored = explore, policy
            t0 = time.perf_counter()
            while step < end:
                actions = collect(obs)
                out = env.step(actions)
                env_log.add(actions)
                replay.add(actions, out.obs, out.done, out.final_obs)
                fresh.add(actions, out.obs, out.done, out.final_obs)
                obs = out.obs
                step += 1
                bar.update(per_step)
                if step < end and harness.eval_due(step * per_step) is not None:
                    harness.evaluate(scored, step, step * per_step)
            t1 = time.perf_counter()
            metrics = learner.heldout(fresh, cfg.heldout_windows) if phase > 0 else {}
            del fresh
            updates = (
                cfg.idm_first_updates if phase == 0 and cfg.idm_first_updates else cfg.idm_updates
            )
            metrics |= learner.train_labeller(replay, sampler, updates)
            metrics |= learner.clone(sampler, cfg.bc_updates)
            t2 = time.perf_counter()
            phase += 1
            metrics |= {"train/iteration": phase, "train/transitions": replay.transitions,
                        "perf/collect_s": t1 - t0, "perf/update_s": t2 - t1}  # fmt: skip
            harness.log(step, step * per_step, metrics)
            shown = {k.split("/")[-1]: f"{v:.3g}" for k, v in metrics.items()
                     if k in ("idm/heldout_accuracy", "idm/heldout_r2", "bc/loss")}  # fmt: skip
            bar.set_postfix(iteration=phase, **shown)
            if harness.eval_due(step * per_step) is not None:
                harness.evaluate(policy, step, step * per_step)
            if phase % cfg.checkpoint_every == 0 or step >= schedule.total:
                checkpoint()
    finally:
        env.close()
        sampler.close()
    harness.finish()


def run(
    task: Task | str, seed: int, cfg: Config, harness, videos: VideoDataset | None = None
) -> None:
    task = get_task(task) if isinstance(task, str) else task
    videos = expert_videos(task, videos, "BCO")
    with torch_threads(cfg.threads):
        with seeded(seed):
            learner = BCO.build(task, videos.stacked_shape, cfg, resolve_device(cfg.device))
        iterate(task, seed, cfg, harness, videos, learner)
