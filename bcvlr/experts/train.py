"""`bcvlr train-expert` and loading a trained expert.

An expert directory holds ``expert.json`` (kind, module, task, seed, final score) and the files
its module needs (weights). The RL experts are the baselines' agents: PPO for Procgen, the
DDPG/DrQv2 agent (from states by default) for DMC; Metaworld uses the scripted policies.
"""

from __future__ import annotations

import argparse
import importlib
import json
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

import numpy as np

from bcvlr.errors import UserError
from bcvlr.tasks import Task, get_task

if TYPE_CHECKING:
    from bcvlr.run.evaluate import Inputs

EXPERT_JSON = "expert.json"
# suite -> {kind: module providing train_expert(...) and load_expert(...)}
TRAINERS = {
    "procgen": {"ppo": "baselines.ppo", "planner": "bcvlr.experts.planning"},
    "dmc": {"ddpg_states": "baselines.drqv2", "drqv2_pixels": "baselines.drqv2"},
    "metaworld": {"scripted": "bcvlr.experts.scripted", "drqv2_pixels": "baselines.drqv2"},
}
DEFAULT_KIND = {"procgen": "ppo", "dmc": "ddpg_states", "metaworld": "scripted"}


class Expert(Protocol):
    inputs: Inputs  # acts on frames, env.states(), or the env itself (a planner)

    def act(self, inputs: np.ndarray, deterministic: bool = True) -> np.ndarray: ...


def main(args: argparse.Namespace) -> None:
    from bcvlr.errors import CliError

    task = get_task(args.task)
    kind = args.kind or DEFAULT_KIND[task.suite]
    if kind not in TRAINERS[task.suite]:
        raise CliError(f"expert kind {kind!r} is not available for {task.suite} tasks; "
                       f"choose from {', '.join(TRAINERS[task.suite])}")  # fmt: skip
    if args.from_dir:
        copy_expert(Path(args.from_dir), Path(args.out), task, kind)
        return
    module = importlib.import_module(TRAINERS[task.suite][kind])
    module.train_expert(task, kind=kind, seed=args.seed, out=Path(args.out),
                        config_file=args.config, overrides=args.set or [],
                        progress=not args.no_progress)  # fmt: skip


def copy_expert(source: Path, out: Path, task: Task, kind: str) -> None:
    """Take an expert trained elsewhere (e.g. the one the repository ships for the embedded
    default) instead of training one: checked for the task and kind, copied whole, its
    expert.json last so that the copy is complete once that exists."""
    import shutil

    meta = _read_meta(source)
    if meta["task"] != task.name or meta["kind"] != kind:
        raise ExpertError(f"{source}: expert is a {meta['kind']!r} for {meta['task']!r}, not a "
                          f"{kind!r} for {task.name!r}")  # fmt: skip
    from bcvlr.atomic import atomic_write_json

    shutil.copytree(source, out, ignore=shutil.ignore_patterns(EXPERT_JSON), dirs_exist_ok=True)
    atomic_write_json(out / EXPERT_JSON, meta | {"copied_from": str(source)})
    print(f"copied the {kind} expert of {task.name} from {source} (score "
          f"{meta.get('final_score')}) to {out}")  # fmt: skip


def write_expert_json(out: Path, task: Task, kind: str, module: str, seed: int, **extra) -> None:
    from bcvlr.atomic import atomic_write_json

    atomic_write_json(out / EXPERT_JSON, {"task": task.name, "kind": kind, "module": module,
                                          "seed": seed, **extra})  # fmt: skip


class ExpertError(UserError, ValueError):
    """No expert in the folder given, or one for another task."""


def _read_meta(path: Path) -> dict:
    try:
        return json.loads((path / EXPERT_JSON).read_text())
    except FileNotFoundError:
        raise ExpertError(f"{path}: no {EXPERT_JSON}; train one with `bcvlr train-expert`"
                          ) from None  # fmt: skip


def load_expert(path: str | Path, task: Task | None = None) -> Expert:
    path = Path(path)
    meta = _read_meta(path)
    if task is not None and meta["task"] != task.name:
        raise ExpertError(f"{path}: expert is for {meta['task']!r}, not {task.name!r}")
    return importlib.import_module(meta["module"]).load_expert(path, meta)


def evaluate_main(args: argparse.Namespace) -> None:
    """`bcvlr evaluate-expert`: the task's evaluation protocol applied to an expert."""
    from bcvlr.run.evaluate import evaluate

    task = get_task(args.task)
    expert = load_expert(args.expert, task)
    result = evaluate(task, lambda x: expert.act(x, deterministic=task.suite != "procgen"),
                      episodes=task.eval.episodes if args.episodes is None else args.episodes, seed=args.seed,
                      inputs=expert.inputs)  # fmt: skip
    print(f"{task.name}: return {result.mean_return:.2f} ± {result.returns.std():.2f}, "
          f"success {result.success_rate:.2f} over {len(result.returns)} episodes")  # fmt: skip
