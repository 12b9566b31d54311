"""Metaworld v3 tasks rendered at 64x64 through mujoco.Renderer (gymnasium's renderer costs
~10x more per frame)."""

from __future__ import annotations

import numpy as np

from bcvlr.envs.render import RenderSettings, ensure_headless_gl
from bcvlr.tasks import Task


def default_render_settings(task: Task) -> RenderSettings:
    # The task names its camera (bcvlr.tasks.METAWORLD_CAMERA unless "<task>@<camera>"). The
    # scene's cameras render upside down through mujoco.Renderer, hence the flip.
    return RenderSettings(camera=task.camera, flip_vertical=True)


class MetaworldEnv:
    """One Metaworld MT1 task; each reset draws a new goal/object position from the task's 50
    variations (seeded), as MT1 does."""

    def __init__(self, task: Task, seed: int, render: RenderSettings, terminate_on_success=False):
        ensure_headless_gl()
        import gymnasium as gym
        import metaworld  # noqa: F401  (registers the Meta-World/ environments)
        import mujoco

        self._mujoco = mujoco
        self._env = gym.make("Meta-World/MT1", env_name=task.sim_id, seed=seed,
                             disable_env_checker=True)  # fmt: skip
        self._env.get_wrapper_attr("toggle_terminate_on_success")(terminate_on_success)
        self._seed = seed
        self._first_reset = True
        self.settings = render
        model = self._env.unwrapped.model
        if render.offsamples is not None:
            model.vis.quality.offsamples = render.offsamples
        if render.offscreen_buffer == "image":
            model.vis.global_.offwidth, model.vis.global_.offheight = render.width, render.height
        self._renderer = mujoco.Renderer(model, render.height, render.width)
        self._camera = render.camera
        self.state: np.ndarray | None = None

    def render(self) -> np.ndarray:
        mj = self._mujoco
        self._renderer.update_scene(self._env.unwrapped.data, camera=self._camera)
        flags = self._renderer.scene.flags
        flags[mj.mjtRndFlag.mjRND_SHADOW] = self.settings.shadows
        flags[mj.mjtRndFlag.mjRND_REFLECTION] = self.settings.reflections
        img = self._renderer.render()
        if self.settings.flip_vertical:
            img = img[::-1]
        return np.ascontiguousarray(img.transpose(2, 0, 1))

    def reset(self) -> np.ndarray:
        if self._first_reset:
            self.state, _ = self._env.reset(seed=self._seed)
            self._first_reset = False
        else:
            self.state, _ = self._env.reset()
        return self.render()

    def step(self, action: np.ndarray) -> tuple[float, bool, bool, bool]:
        self.state, reward, terminated, truncated, info = self._env.step(
            np.asarray(action, np.float32)
        )
        return float(reward), bool(terminated), bool(truncated), bool(info["success"])

    def close(self) -> None:
        self._renderer.close()
        self._env.close()
