"""Environments: one vectorised interface over Procgen, DMC and Metaworld.

env = make("reacher_hard", num_envs=1, seed=0)        # full view, for evaluation/RL
learner_env = make_reward_free("reacher_hard", 1, 0)  # what video imitation may see
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

import numpy as np

from bcvlr.data.errors import RenderMismatchError
from bcvlr.envs.base import (
    EpisodeStats,
    FrameStackVecEnv,
    ObsStep,
    RewardFreeEnv,
    Step,
    VecEnv,
)
from bcvlr.envs.render import RenderSettings, ensure_headless_gl
from bcvlr.tasks import Task, get_task

# Before anything imports mujoco (metaworld, dm_control, the scripted policies): it picks its GL
# backend once, at import.
ensure_headless_gl()

__all__ = ["EpisodeStats", "ObsStep", "RenderSettings", "RewardFreeEnv", "Step", "VecEnv",
           "render_differences",
           "default_render_settings", "env_seeds", "expert_videos", "make", "make_reward_free"]  # fmt: skip


def env_seeds(seed: int, num_envs: int) -> list[int]:
    """Independent, reproducible per-env seeds derived from one run seed."""
    children = np.random.SeedSequence(seed).spawn(num_envs)
    return [int(c.generate_state(1)[0] % (2**31 - 1)) for c in children]


def default_render_settings(task: Task | str) -> RenderSettings | None:
    task = get_task(task) if isinstance(task, str) else task
    if task.suite == "dmc":
        from bcvlr.envs import dmc

        return dmc.default_render_settings(task)
    if task.suite == "metaworld":
        from bcvlr.envs import metaworld

        return metaworld.default_render_settings(task)
    return None


# recorded for provenance only: another MuJoCo build or an importer's tag changes no setting
_PROVENANCE_KEYS = {"mujoco", "renderer", "source"}


def render_differences(task: Task | str, recorded: Mapping[str, Any]) -> list[str]:
    """The render settings a video dataset records that differ from those this task's envs
    render with ("key: videos X, env Y"): a policy cloned from frames of another camera,
    orientation or size acts on images it never saw. Only settings both sides name are
    compared (an imported dataset records fewer)."""
    task = get_task(task) if isinstance(task, str) else task
    if task.suite == "procgen":
        from bcvlr.envs import procgen

        ours = procgen.default_render_settings()
    else:
        ours = dataclasses.asdict(default_render_settings(task))
    return [f"{k}: videos {recorded[k]!r}, env {v!r}" for k, v in sorted(ours.items())
            if k in recorded and k not in _PROVENANCE_KEYS and recorded[k] != v]  # fmt: skip


def make(
    task: Task | str,
    num_envs: int | None = None,
    seed: int = 0,
    render: RenderSettings | None = None,
    processes: bool = False,
    frames: bool = True,
    **suite_kwargs,
) -> VecEnv:
    """N parallel, seeded copies of ``task``. ``num_envs`` defaults to the registry's (64 for
    Procgen, 1 otherwise); ``processes`` runs MuJoCo envs one per subprocess; ``frames=False``
    renders no frames after steps (all-zero observations), for policies acting on
    ``env.states()``: the simulator itself steps exactly as with frames."""
    task = get_task(task) if isinstance(task, str) else task
    n = task.num_envs if num_envs is None else num_envs
    if n < 1:
        raise ValueError(f"num_envs must be >= 1, got {n}")
    if task.suite == "procgen":
        if render is not None:
            raise ValueError("procgen renders its own 64x64 frames; render settings do not apply")
        if not frames:
            raise ValueError("procgen has no low-dimensional states: its envs always give frames")
        from bcvlr.envs.procgen import ProcgenVecEnv

        return ProcgenVecEnv(task, n, seed, **suite_kwargs)
    render = render or default_render_settings(task)
    seeds = env_seeds(seed, n)
    if task.suite == "dmc":
        from functools import partial

        from bcvlr.envs.dmc import DMCEnv

        makers = [partial(DMCEnv, task, s, render, **suite_kwargs) for s in seeds]
        renderer = "dm_control"
    else:
        from functools import partial

        from bcvlr.envs.metaworld import MetaworldEnv

        makers = [partial(MetaworldEnv, task, s, render, **suite_kwargs) for s in seeds]
        renderer = "mujoco.Renderer"
    import mujoco

    settings = render.to_dict(renderer) | {"mujoco": mujoco.__version__}
    return FrameStackVecEnv(task, makers, (3, render.height, render.width), settings, processes,
                            frames)  # fmt: skip


def make_reward_free(task: Task | str, num_envs: int | None = None, seed: int = 0,
                     **kwargs) -> RewardFreeEnv:  # fmt: skip
    return RewardFreeEnv(make(task, num_envs, seed, **kwargs))


def expert_videos(task: Task, videos, method: str):
    """The expert videos a video-imitation ``method`` learns from on ``task``, checked before
    any compute: given, of that task, rendered like its envs, and stacked like its
    observations; each fault one line (a DatasetError subclass)."""
    from bcvlr.data import MissingVideosError, ShapeError

    if videos is None:
        raise MissingVideosError(f"{method} learns from expert videos of {task.name!r}: pass "
                                 "--videos DATASET")  # fmt: skip
    videos.validate(task=task.name)  # TaskMismatchError names both tasks
    check_video_render(videos)
    render = default_render_settings(task)
    shape = (3 * task.frame_stack, render.height, render.width) if render else (3, 64, 64)
    if tuple(videos.stacked_shape) != shape:
        raise ShapeError(f"{videos.path}: observations {tuple(videos.stacked_shape)}, "
                         f"{task.name}'s envs give {shape}")  # fmt: skip
    return videos


def check_video_render(videos) -> None:
    """Refuse a video dataset whose frames were rendered unlike its task's envs (another
    camera, orientation or size), before any compute."""
    task = videos.manifest["task"]
    if diffs := render_differences(task, videos.render):
        raise RenderMismatchError(
            f"video dataset {videos.path} was rendered unlike the {task} envs a policy acts in "
            f"({'; '.join(diffs)}): collect it again with `bcvlr collect-videos`"
        )
