"""`bcvlr run --method M --task T --seed S [--config FILE] [--set k=v]`: one run of one method,
through the common harness. Everything is validated before any compute."""

from __future__ import annotations

import argparse
import dataclasses
from pathlib import Path


def main(args: argparse.Namespace) -> None:
    from bcvlr.cli import CliError
    from bcvlr.config import load_config
    from bcvlr.methods import load_method
    from bcvlr.run.harness import Harness
    from bcvlr.tasks import get_task

    task = get_task(args.task)
    try:
        method = load_method(args.method)
    except KeyError as e:
        raise CliError(str(e.args[0])) from None
    if task.suite not in method.SUITES:
        raise CliError(f"method {args.method!r} runs on {', '.join(method.SUITES)} tasks, "
                       f"not on {task.name!r} ({task.suite})")  # fmt: skip
    cfg = load_config(method.Config, args.config, args.set, base=method.default_config(task))
    videos = None
    if args.videos:
        from bcvlr.data import VideoDataset

        videos = VideoDataset(args.videos)
        videos.validate(task=task.name)
    elif getattr(method, "NEEDS_VIDEOS", False):
        raise CliError(f"method {args.method!r} learns from expert videos: pass --videos DATASET")
    budget = args.budget or getattr(cfg, "budget", None)
    with Harness(args.method, task, args.seed, config=dataclasses.asdict(cfg),
                 runs_root=Path(args.runs_root), budget=budget,
                 eval_episodes=args.eval_episodes, eval_every=args.eval_every,
                 progress=not args.no_progress) as harness:  # fmt: skip
        method.run(task, args.seed, cfg, harness, videos=videos)
