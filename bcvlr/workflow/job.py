"""The `job` wrapper every rule runs its command in: safe to kill and rerun, its marker written
once the product is complete."""

from __future__ import annotations

import json
import shlex
import shutil
import subprocess
import sys
from pathlib import Path


def product_complete(kind: str, path: Path) -> bool:
    """Whether a product folder holds a finished product."""
    try:
        if kind == "run":
            return json.loads((path / "run.json").read_text()).get("status") == "complete"
        if kind == "stage":
            return json.loads((path / "stage.json").read_text()).get("status") == "complete"
        if kind == "videos":
            return bool(json.loads((path / "manifest.json").read_text()).get("complete"))
        if kind == "expert":
            return (path / "expert.json").exists()
    except (FileNotFoundError, ValueError):
        return False
    raise ValueError(f"unknown product kind {kind!r}")


# What a fresh start removes from a run directory: the run's own files. A BCV-LR run keeps its
# pretrain/ stages, which are products of other rules.
_RUN_FILES = ("run.json", "metrics.csv", "checkpoints")


def _clear(kind: str, path: Path) -> None:
    if kind == "run":
        for name in _RUN_FILES:
            p = path / name
            if p.is_dir():
                shutil.rmtree(p)
            else:
                p.unlink(missing_ok=True)
    elif path.exists():
        shutil.rmtree(path)


def _summary(kind: str, path: Path) -> dict:
    try:
        if kind == "run":
            info = json.loads((path / "run.json").read_text())
            keys = ("method", "task", "seed", "status", "budget", "reduced_budget")
            return {k: info.get(k) for k in keys}
        if kind == "videos":
            m = json.loads((path / "manifest.json").read_text())
            return {"task": m.get("task"), "counts": m.get("counts"),
                    "expert_score": (m.get("expert") or {}).get("score")}  # fmt: skip
        if kind == "expert":
            return json.loads((path / "expert.json").read_text())
        if kind == "stage":
            s = json.loads((path / "stage.json").read_text())
            return {k: s.get(k) for k in ("stage", "seed", "status", "step")}
    except (FileNotFoundError, ValueError):
        pass
    return {}


def run_job(kind: str, product: Path, done: Path, command: list[str]) -> int:
    """Run ``command`` so that a killed job resumes and a changed job starts afresh.

    The command line is the product's fingerprint, kept beside the marker. Same fingerprint:
    the command runs again and resumes from the product's checkpoints. Another fingerprint
    (the config changed): the product is cleared first. A complete product with no fingerprint
    (made by hand) is adopted as is; an incomplete one is refused, since it cannot be told
    apart from somebody else's half-finished work.
    """
    from bcvlr.atomic import atomic_write_json

    if not command:
        raise SystemExit("bcvlr.workflow job: no command after --")
    fp_file = done.with_name(done.name + ".cmd")
    done.parent.mkdir(parents=True, exist_ok=True)
    try:
        stored = json.loads(fp_file.read_text())
    except (FileNotFoundError, ValueError):
        stored = None
    exists = product.exists() and (kind != "run" or (product / "run.json").exists())
    if stored is None and exists:
        if product_complete(kind, product):
            print(f"workflow: adopting the complete {kind} in {product} (made outside the "
                  "workflow)", flush=True)  # fmt: skip
            atomic_write_json(fp_file, command)
            atomic_write_json(done, {"product": str(product), "adopted": True,
                                     **_summary(kind, product)})  # fmt: skip
            return 0
        print(f"workflow: {product} holds an unfinished {kind} that this workflow did not "
              "start; move it away or finish it by hand, then rerun", file=sys.stderr)  # fmt: skip
        return 3
    if stored is not None and stored != command:
        print(f"workflow: the command changed since {product} was started: starting afresh",
              flush=True)  # fmt: skip
        _clear(kind, product)
    elif stored is not None and product_complete(kind, product):
        # Rerun by Snakemake (a trigger, --forcerun): the old result is replaced, as Snakemake
        # replaces the outputs of any job it reruns.
        print(f"workflow: {product} is complete but the job reruns: starting afresh", flush=True)
        _clear(kind, product)
    elif stored is not None and exists:
        print(f"workflow: resuming {product}", flush=True)
    atomic_write_json(fp_file, command)
    print("workflow: " + shlex.join(command), flush=True)
    rc = _call(command)
    if rc != 0:
        return rc
    if not product_complete(kind, product):
        print(f"workflow: the command succeeded but {product} is not a complete {kind}",
              file=sys.stderr)  # fmt: skip
        return 4
    atomic_write_json(done, {"product": str(product), **_summary(kind, product)})
    return 0


def _call(command: list[str]) -> int:
    """Run the command, passing SIGTERM/SIGINT on: SLURM and Snakemake signal the job's
    shell, and the command must get the chance to leave its checkpoint consistent."""
    import signal

    proc = subprocess.Popen(command)

    def forward(signum, _frame):
        proc.send_signal(signum)

    old = {s: signal.signal(s, forward) for s in (signal.SIGTERM, signal.SIGINT)}
    try:
        return proc.wait()
    finally:
        for s, handler in old.items():
            signal.signal(s, handler)
