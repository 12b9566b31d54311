import os

# MuJoCo picks its GL backend at import; tests render headless through EGL (Mesa on CPU).
os.environ.setdefault("MUJOCO_GL", "egl")
os.environ.setdefault("PYOPENGL_PLATFORM", "egl")


# Test files that take minutes on the 2-core CI machine (pytest --durations, 2026-11-27), longest
# first. scripts/test.sh gives pytest-xdist whole files in collection order
# (--no-loadscope-reorder; its default orders them by their number of tests), so starting
# with these keeps both workers busy until the end instead of leaving one to finish them alone.
SLOW_FILES = (
    "tests/method/test_bcvlr_e2e.py",
    "tests/workflow/test_baselines_dag.py",
    "tests/workflow/test_run_local.py",
    "tests/workflow/test_slurm.py",
    "tests/experts/test_collect.py",
    "tests/baselines/test_laifo.py",
    "tests/baselines/test_drqv2.py",
)


def pytest_collection_modifyitems(config, items):
    rank = {path: i for i, path in enumerate(SLOW_FILES)}
    items.sort(key=lambda item: rank.get(item.nodeid.split("::")[0], len(SLOW_FILES)))
