"""Render settings: part of a task's identity.

Expert videos and the frames a learner sees online must come from the same renderer settings,
so they are recorded in every dataset manifest and run.json and compared on load.
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass


@dataclass(frozen=True)
class RenderSettings:
    width: int = 64
    height: int = 64
    camera: str | int = 0
    # MuJoCo-only knobs. The "fast" values (offscreen buffer of the image size, no MSAA, no
    # shadows or reflections) cut a 64x64 render from ~25 ms to ~3 ms on a CPU.
    offscreen_buffer: str = "image"  # "image": buffer = image size; "default": the model's
    offsamples: int | None = 0  # None keeps the model's MSAA samples
    shadows: bool = False
    reflections: bool = False
    flip_vertical: bool = False  # Metaworld's corner cameras render upside down

    @classmethod
    def mujoco_defaults(cls, camera: str | int = 0, **kw) -> RenderSettings:
        return cls(camera=camera, offscreen_buffer="default", offsamples=None, shadows=True,
                   reflections=True, **kw)  # fmt: skip

    def to_dict(self, renderer: str) -> dict:
        d = asdict(self)
        d["renderer"] = renderer
        return d


def ensure_headless_gl() -> None:
    """MuJoCo picks its GL backend at import time; default to EGL (works with Mesa on a CPU and
    with the NVIDIA driver on GPU nodes) unless the user chose one."""
    os.environ.setdefault("MUJOCO_GL", "egl")
    if os.environ["MUJOCO_GL"] == "egl":
        os.environ.setdefault("PYOPENGL_PLATFORM", "egl")
