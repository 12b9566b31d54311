"""Running Snakemake on this repository's workflow from tests, in a folder of the test's own
(`-d`), so that tests never touch the checkout's results."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent


def env(**extra: str) -> dict[str, str]:
    e = dict(os.environ)
    # the rules call `bcvlr` and `python`: the test interpreter's environment provides both
    e["PATH"] = f"{BIN}{os.pathsep}{e.get('PATH', '')}"
    e.setdefault("MUJOCO_GL", "egl")
    if "PYTHONPATH" in extra and e.get("PYTHONPATH"):  # add to it, do not replace it
        extra["PYTHONPATH"] += os.pathsep + e["PYTHONPATH"]
    e.update(extra)
    return e


def snakemake_cmd(workdir: Path, *args: str) -> list[str]:
    return [str(BIN / "snakemake"), "-s", str(REPO / "Snakefile"), "-d", str(workdir), *args]


def snakemake(workdir: Path, *args: str, timeout: float = 600, check: bool = True,
              **extra_env: str) -> subprocess.CompletedProcess:  # fmt: skip
    result = subprocess.run(snakemake_cmd(workdir, *args), cwd=REPO, env=env(**extra_env),
                            capture_output=True, text=True, timeout=timeout)  # fmt: skip
    if check and result.returncode != 0:
        raise AssertionError(f"snakemake {' '.join(args)} failed ({result.returncode}):\n"
                             f"{result.stdout[-4000:]}\n{result.stderr[-6000:]}")  # fmt: skip
    return result


def job_counts(output: str) -> dict[str, int]:
    """The "Job stats" table of `snakemake -n`."""
    lines = output.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("Job stats:"))
    counts = {}
    for line in lines[start + 3 :]:
        parts = line.split()
        if len(parts) != 2 or not parts[1].isdigit():
            break
        counts[parts[0]] = int(parts[1])
    return counts


def descendants(pid: int) -> list[int]:
    """Every process below ``pid`` (Snakemake's jobs run in sessions of their own)."""
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        children.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    out, todo = [], [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            out.append(child)
            todo.append(child)
    return out


def kill_tree(proc: subprocess.Popen) -> None:
    """SIGKILL Snakemake and every job under it at once: nothing gets to clean up."""
    pids = [proc.pid, *descendants(proc.pid)]
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    proc.wait()
    time.sleep(0.5)
