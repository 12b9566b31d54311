import os

# MuJoCo picks its GL backend at import; tests render headless through EGL (Mesa on CPU).
os.environ.setdefault("MUJOCO_GL", "egl")
os.environ.setdefault("PYOPENGL_PLATFORM", "egl")
