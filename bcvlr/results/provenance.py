"""What a run records about where it ran: the code's commit, the packages that change results,
the machine."""

from __future__ import annotations

import functools
import platform
import re
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[2]

# Packages whose versions change results; a missing one is recorded as null, not an error.
TRACKED_PACKAGES: dict[str, tuple[str, ...]] = {
    "torch": ("torch",),
    "numpy": ("numpy",),
    # the Python 3.11 wheels come from procgen-mirror (machine-facts.md)
    "procgen": ("procgen-mirror", "procgen"),
    "dm_control": ("dm_control", "dm-control"),
    "mujoco": ("mujoco",),
    "metaworld": ("metaworld",),
    "gymnasium": ("gymnasium",),
    "bcvlr-bench": ("bcvlr-bench",),
}


# Cached: a process creates many runs only in sweeps and tests, and neither the checkout nor the
# installed packages change under it; the subprocess and metadata scans cost ~20 ms per run.
@functools.lru_cache(maxsize=8)
def git_commit(cwd: Path = REPO_ROOT) -> str:
    try:
        out = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=cwd, capture_output=True, text=True, timeout=10
        )
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    sha = out.stdout.strip()
    return sha if out.returncode == 0 and re.fullmatch(r"[0-9a-f]{40}", sha) else "unknown"


@functools.lru_cache(maxsize=8)
def git_dirty(cwd: Path = REPO_ROOT) -> bool | None:
    # --no-optional-locks: a status call must never take the index lock of a tree others edit.
    try:
        out = subprocess.run(
            ["git", "--no-optional-locks", "status", "--porcelain", "--untracked-files=no"],
            cwd=cwd, capture_output=True, text=True, timeout=20,
        )  # fmt: skip
    except (OSError, subprocess.SubprocessError):
        return None
    return bool(out.stdout.strip()) if out.returncode == 0 else None


def package_versions() -> dict[str, str | None]:
    return dict(_package_versions())


@functools.lru_cache(maxsize=1)
def _package_versions() -> tuple[tuple[str, str | None], ...]:
    from importlib import metadata

    versions: dict[str, str | None] = {}
    for key, dists in TRACKED_PACKAGES.items():
        versions[key] = None
        for dist in dists:
            try:
                versions[key] = metadata.version(dist)
                break
            except metadata.PackageNotFoundError:
                continue
    return tuple(versions.items())


def provenance() -> dict[str, Any]:
    return {
        "git_commit": git_commit(),
        "git_dirty": git_dirty(),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "hostname": socket.gethostname(),
        "argv": list(sys.argv),
        "packages": package_versions(),
    }
