"""DeepMind Control tasks (dm_control.suite plus the URLB tasks of bcvlr.envs.urlb), rendered
with MuJoCo's offscreen renderer at the settings of ``RenderSettings``."""

from __future__ import annotations

import numpy as np

from bcvlr.envs.render import RenderSettings, ensure_headless_gl
from bcvlr.tasks import Task

URLB_DOMAINS = {"jaco"}
URLB_TASKS = {"cheetah/run_backward"}


def default_render_settings(task: Task) -> RenderSettings:
    domain = task.sim_id.split("/")[0]
    if domain in URLB_DOMAINS or task.sim_id in URLB_TASKS:
        from bcvlr.envs import urlb

        return RenderSettings(camera=urlb.camera_for(task.sim_id))
    return RenderSettings(camera=2 if domain == "quadruped" else 0)  # DrQv2's choice


def _flat_state(observation) -> np.ndarray:
    return np.concatenate([np.asarray(v, np.float64).ravel() for v in observation.values()])


class DMCEnv:
    """One dm_control task; actions arrive in [-1, 1] and are mapped to the actuator ranges."""

    def __init__(self, task: Task, seed: int, render: RenderSettings):
        ensure_headless_gl()
        domain, name = task.sim_id.split("/")
        if domain in URLB_DOMAINS or task.sim_id in URLB_TASKS:
            from bcvlr.envs import urlb

            self._env = urlb.load(task.sim_id, seed)
        else:
            from dm_control import suite

            self._env = suite.load(domain, name, task_kwargs={"random": seed},
                                   environment_kwargs={"flat_observation": False})  # fmt: skip
        spec = self._env.action_spec()
        self._low, self._high = spec.minimum.astype(np.float64), spec.maximum.astype(np.float64)
        if spec.shape != (task.action_space.size,):
            raise RuntimeError(
                f"{task.name}: simulator action shape {spec.shape} != registry "
                f"({task.action_space.size},)"
            )
        self.settings = render
        self._configured_physics = None
        self._camera = None
        self.state = np.zeros(0)

    def _configure_renderer(self) -> None:
        # Composer tasks may rebuild their physics on reset; settings go on whichever is live,
        # before its first render creates the GL context.
        physics = self._env.physics
        if physics is self._configured_physics:
            return
        vis = physics.model.vis
        s = self.settings
        if s.offscreen_buffer == "image":
            vis.global_.offwidth, vis.global_.offheight = s.width, s.height
        if s.offsamples is not None:
            vis.quality.offsamples = s.offsamples
        self._configured_physics = physics
        self._free_camera()
        # physics.render builds (and frees) a camera and its scene every frame, about half of
        # a frame's cost: one camera per physics renders the same image
        from dm_control.mujoco import engine  # after ensure_headless_gl chose the GL backend

        self._camera = engine.Camera(physics, height=s.height, width=s.width, camera_id=s.camera)

    def _free_camera(self) -> None:
        if self._camera is not None:
            self._camera._scene.free()  # what physics.render does with each of its cameras
            self._camera = None

    def render(self) -> np.ndarray:
        s = self.settings
        self._configure_renderer()
        img = self._camera.render(
            render_flag_overrides={"shadow": s.shadows, "reflection": s.reflections}
        )
        if s.flip_vertical:
            img = img[::-1]
        return np.array(img.transpose(2, 0, 1), order="C")  # a copy: the camera reuses its buffer

    def reset(self) -> np.ndarray:
        ts = self._env.reset()
        self.state = _flat_state(ts.observation)
        return self.render()

    def step(self, action: np.ndarray) -> tuple[float, bool, bool, bool]:
        scaled = self._low + (np.asarray(action, np.float64) + 1.0) * 0.5 * (self._high - self._low)
        ts = self._env.step(scaled)
        self.state = _flat_state(ts.observation)
        last = ts.last()
        # dm_control marks its time limit with discount 1; a true terminal has discount 0.
        terminated = bool(last and ts.discount == 0.0)
        return float(ts.reward or 0.0), terminated, bool(last and not terminated), False

    def close(self) -> None:
        self._free_camera()
        self._env.close()
