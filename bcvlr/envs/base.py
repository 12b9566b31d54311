"""The one vectorised environment interface shared by the three suites.

Every env gives N parallel copies of a task, uint8 channel-first frames (stacked along channels
when the task stacks frames), actions in the task's action space (integers in [0, n) for
discrete tasks, floats in [-1, 1]^d otherwise), auto-reset, and per-episode bookkeeping.
Rewards and success flags live in ``Step``; imitation learners get a ``RewardFreeEnv`` whose
``ObsStep`` has no field that could carry them.
"""

from __future__ import annotations

import contextlib
import multiprocessing as mp
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np

from bcvlr.tasks import ActionSpace, Task


@dataclass(frozen=True)
class EpisodeStats:
    env_index: int
    episode_return: float
    length: int  # in policy steps
    success: bool  # any step of the episode reported success (always False where undefined)


@dataclass
class Step:
    """The result of one vectorised step (for evaluation and reward-using learners)."""

    obs: (
        np.ndarray
    )  # (N, C, H, W) uint8: next observation; the first one of a new episode after done
    reward: np.ndarray  # (N,) float32, summed over action repeats
    terminated: np.ndarray  # (N,) bool: a true terminal state (no bootstrapping)
    truncated: np.ndarray  # (N,) bool: cut by the time limit
    # (N, C, H, W): the last observation of the episode that just ended where done, else obs.
    # None when the simulator does not expose it (procgen resets inside its C++ loop).
    final_obs: np.ndarray | None
    success: np.ndarray  # (N,) bool: this step reported success (metaworld), else False
    episodes: list[EpisodeStats] = field(default_factory=list)

    @property
    def done(self) -> np.ndarray:
        return self.terminated | self.truncated


@dataclass
class ObsStep:
    """What a video-imitation learner sees of a step: frames and episode boundaries, no reward."""

    obs: np.ndarray
    done: np.ndarray
    final_obs: np.ndarray | None


class VecEnv(Protocol):
    task: Task
    num_envs: int
    obs_shape: tuple[int, int, int]
    action_space: ActionSpace
    render_settings: dict

    def reset(self) -> np.ndarray: ...

    def step(self, actions: np.ndarray) -> Step: ...

    def close(self) -> None: ...


def check_actions(actions: np.ndarray, space: ActionSpace, num_envs: int) -> np.ndarray:
    actions = np.asarray(actions)
    if space.is_discrete:
        if actions.shape != (num_envs,):
            raise ValueError(f"expected {num_envs} discrete actions, got shape {actions.shape}")
        if not np.issubdtype(actions.dtype, np.integer):
            raise ValueError(f"discrete actions must be integers, got {actions.dtype}")
        if actions.min() < 0 or actions.max() >= space.size:
            raise ValueError(f"discrete actions must lie in [0, {space.size}), got {actions}")
        return actions.astype(np.int32)
    if actions.shape != (num_envs, space.size):
        raise ValueError(f"expected actions of shape {(num_envs, space.size)}, got {actions.shape}")
    # Policies (and DrQv2's noise) may overshoot; every suite's box is [-1, 1].
    return np.clip(actions, -1.0, 1.0).astype(np.float64)


class EpisodeTracker:
    """Running returns, lengths and success per env; emits EpisodeStats at episode ends."""

    def __init__(self, num_envs: int):
        self.returns = np.zeros(num_envs, np.float64)
        self.lengths = np.zeros(num_envs, np.int64)
        self.succeeded = np.zeros(num_envs, bool)

    def update(
        self, reward: np.ndarray, done: np.ndarray, success: np.ndarray
    ) -> list[EpisodeStats]:
        self.returns += reward
        self.lengths += 1
        self.succeeded |= success
        ended = []
        for i in np.flatnonzero(done):
            ended.append(EpisodeStats(int(i), float(self.returns[i]), int(self.lengths[i]),
                                      bool(self.succeeded[i])))  # fmt: skip
            self.returns[i], self.lengths[i], self.succeeded[i] = 0.0, 0, False
        return ended


class SingleEnv(Protocol):
    """One simulator instance at the simulator's own step (before action repeat) that renders one
    raw frame (C, H, W) on request; ``FrameStackVecEnv`` adds action repeat and stacking."""

    # the low-dimensional state of the current step, for state-based experts only
    state: np.ndarray

    def reset(self) -> np.ndarray: ...  # the reset frame

    # -> reward, terminated, truncated, success
    def step(self, action: np.ndarray) -> tuple[float, bool, bool, bool]: ...

    def render(self) -> np.ndarray: ...

    def close(self) -> None: ...


def _repeat_step(env: SingleEnv, action: np.ndarray, repeat: int, frames: bool = True):
    total, success = 0.0, False
    for _ in range(repeat):
        reward, terminated, truncated, succ = env.step(action)
        total += reward
        success |= succ
        if terminated or truncated:
            break
    # Rendering dominates the cost of a step: render only the frame the policy sees, and none
    # for a policy that acts on states.
    return env.render() if frames else None, total, terminated, truncated, success, env.state


def _worker(conn, make_env: Callable[[], SingleEnv], repeat: int, frames: bool) -> None:
    env = make_env()
    try:
        while True:
            cmd, arg = conn.recv()
            if cmd == "reset":
                conn.send((env.reset(), env.state))
            elif cmd == "step":
                conn.send(_repeat_step(env, arg, repeat, frames))
            elif cmd == "close":
                break
    except (EOFError, KeyboardInterrupt):
        pass
    finally:
        env.close()
        conn.close()


class FrameStackVecEnv:
    """N single envs with action repeat, frame stacking and auto-reset, run in this process or
    (``processes=True``) one subprocess each.

    Stacking rule (shared with the video dataset sampler): at reset the stack is filled with the
    reset frame; afterwards the oldest frame drops out.

    With ``frames=False`` (for policies that act on ``states()``) nothing is rendered after a
    step and every observation is all zeros.
    """

    def __init__(
        self,
        task: Task,
        makers: Sequence[Callable[[], SingleEnv]],
        frame_shape: tuple[int, int, int],
        render_settings: dict,
        processes: bool = False,
        frames: bool = True,
    ):
        self.task = task
        self.num_envs = len(makers)
        self.action_space = task.action_space
        self.render_settings = render_settings
        c, h, w = frame_shape
        self.frame_shape = frame_shape
        self.obs_shape = (c * task.frame_stack, h, w)
        self._stack = np.zeros((self.num_envs, *self.obs_shape), np.uint8)
        self._tracker = EpisodeTracker(self.num_envs)
        self._processes = processes
        self._frames = frames
        if processes:
            ctx = mp.get_context("spawn")  # fork would duplicate EGL contexts
            self._conns, self._procs = [], []
            for make in makers:
                parent, child = ctx.Pipe()
                proc = ctx.Process(target=_worker, args=(child, make, task.action_repeat, frames),
                                   daemon=True)  # fmt: skip
                proc.start()
                child.close()
                self._conns.append(parent)
                self._procs.append(proc)
        else:
            self._envs = [make() for make in makers]

    def _push(self, i: int, frame: np.ndarray | None, reset: bool) -> None:
        if not self._frames:
            return
        c = self.frame_shape[0]
        if reset:
            self._stack[i] = np.tile(frame, (self.task.frame_stack, 1, 1))
        else:
            self._stack[i, :-c] = self._stack[i, c:]
            self._stack[i, -c:] = frame

    def _reset_all(self) -> list[tuple[np.ndarray, np.ndarray]]:
        if self._processes:
            for conn in self._conns:
                conn.send(("reset", None))
            return [conn.recv() for conn in self._conns]
        return [(env.reset(), env.state) for env in self._envs]

    def _reset_one(self, i: int) -> tuple[np.ndarray, np.ndarray]:
        if self._processes:
            self._conns[i].send(("reset", None))
            return self._conns[i].recv()
        return self._envs[i].reset(), self._envs[i].state

    def reset(self) -> np.ndarray:
        resets = self._reset_all()
        self._states = np.stack([state for _, state in resets]).astype(np.float32)
        for i, (frame, _) in enumerate(resets):
            self._push(i, frame, reset=True)
        self._tracker = EpisodeTracker(self.num_envs)
        return self._stack.copy()

    def states(self) -> np.ndarray:
        """(N, D) low-dimensional simulator states matching the current observations, for
        state-based experts (scripted Metaworld policies, DDPG-from-states). Never given to
        video-imitation learners."""
        return self._states.copy()

    def step(self, actions: np.ndarray) -> Step:
        actions = check_actions(actions, self.action_space, self.num_envs)
        if self._processes:
            for conn, a in zip(self._conns, actions, strict=True):
                conn.send(("step", a))
            results = [conn.recv() for conn in self._conns]
        else:
            results = [_repeat_step(env, a, self.task.action_repeat, self._frames)
                       for env, a in zip(self._envs, actions, strict=True)]  # fmt: skip
        n = self.num_envs
        reward = np.zeros(n, np.float32)
        terminated, truncated, success = np.zeros(n, bool), np.zeros(n, bool), np.zeros(n, bool)
        for i, (frame, r, term, trunc, succ, state) in enumerate(results):
            self._push(i, frame, reset=False)
            reward[i], terminated[i], truncated[i], success[i] = r, term, trunc, succ
            self._states[i] = state
        done = terminated | truncated
        final_obs = self._stack.copy()
        for i in np.flatnonzero(done):
            frame, self._states[i] = self._reset_one(int(i))
            self._push(i, frame, reset=True)
        episodes = self._tracker.update(reward, done, success)
        return Step(self._stack.copy(), reward, terminated, truncated, final_obs, success, episodes)

    def close(self) -> None:
        if self._processes:
            for conn in self._conns:
                with contextlib.suppress(BrokenPipeError, OSError):
                    conn.send(("close", None))
            for proc in self._procs:
                proc.join(timeout=5)
                if proc.is_alive():
                    proc.kill()
            self._processes = False
            self._envs = []
        else:
            for env in self._envs:
                env.close()
            self._envs = []


class RewardFreeEnv:
    """The view of an environment given to video-imitation learners.

    It forwards frames and episode boundaries only: ``step`` returns an ``ObsStep``, which has no
    reward, success or episode-return field, so a learner cannot read them by mistake.
    """

    def __init__(self, env: VecEnv):
        self.__env = env  # name-mangled: not part of the learner-facing surface
        self.task = env.task
        self.num_envs = env.num_envs
        self.obs_shape = env.obs_shape
        self.action_space = env.action_space
        self.render_settings = env.render_settings

    def reset(self) -> np.ndarray:
        return self.__env.reset()

    def step(self, actions: np.ndarray) -> ObsStep:
        s = self.__env.step(actions)
        return ObsStep(obs=s.obs, done=s.done, final_obs=s.final_obs)

    def close(self) -> None:
        self.__env.close()
