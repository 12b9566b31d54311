"""The BCV-LR stage commands: `bcvlr pretrain-features`, `bcvlr pretrain-actions`,
`bcvlr online`. `bcvlr run --method bcvlr` chains all three in one run directory."""

from __future__ import annotations

import argparse
import dataclasses
from pathlib import Path


def _setup(args: argparse.Namespace):
    from bcvlr.config import load_config
    from bcvlr.data import VideoDataset
    from bcvlr.envs import check_video_render
    from bcvlr.errors import CliError
    from bcvlr.method import bcvlr
    from bcvlr.tasks import get_task

    task = get_task(args.task)
    cfg = load_config(bcvlr.Config, args.config, args.set, base=bcvlr.default_config(task))
    videos = []
    for path in args.videos:
        if not Path(path).exists():
            raise CliError(f"video dataset {path} does not exist")
        videos.append(VideoDataset(path))
        check_video_render(videos[-1])
    shapes = {v.stacked_shape for v in videos}
    if len(shapes) > 1:
        raise CliError(f"video datasets have different observation shapes: {sorted(shapes)}")
    for name in ("features", "latent_actions"):
        path = getattr(args, name, None)
        if path is not None and not Path(path).exists():
            raise CliError(f"--{name.replace('_', '-')} {path} does not exist")
    return task, cfg, videos


def pretrain_features(args: argparse.Namespace) -> None:
    from bcvlr.method import bcvlr

    task, cfg, videos = _setup(args)
    path = bcvlr.pretrain_features(cfg, videos, args.seed, Path(args.out), not args.no_progress)
    print(f"wrote {path}")


def pretrain_actions(args: argparse.Namespace) -> None:
    from bcvlr.method import bcvlr

    task, cfg, videos = _setup(args)
    path = bcvlr.pretrain_latent_actions(cfg, videos, args.features, args.seed, Path(args.out),
                                         not args.no_progress)  # fmt: skip
    print(f"wrote {path}")


def online(args: argparse.Namespace) -> None:
    from bcvlr.envs import expert_videos
    from bcvlr.errors import CliError
    from bcvlr.method import bcvlr
    from bcvlr.run.harness import Harness

    task, cfg, videos = _setup(args)
    if len(videos) != 1:
        raise CliError("the online stage clones one task's videos: pass exactly one --videos")
    expert_videos(task, videos[0], "BCV-LR")
    with Harness(args.method_name, task, args.seed, config=dataclasses.asdict(cfg),
                 runs_root=args.runs_root, budget=cfg.budget if args.budget is None else args.budget,
                 eval_episodes=args.eval_episodes, eval_every=args.eval_every,
                 progress=not args.no_progress, reduced_size=cfg.reduced_size) as harness:  # fmt: skip
        bcvlr.online(task, args.seed, cfg, harness, videos[0], args.latent_actions, args.features)


def add_parsers(sub) -> None:
    from bcvlr.arguments import NATURAL, POSITIVE, lazy

    def common(p, multi_videos: bool) -> None:
        p.add_argument("--task", required=True, help="task whose settings apply")
        p.add_argument("--seed", type=NATURAL, default=0)
        if multi_videos:  # several: multi-task pretraining (Table 3)
            p.add_argument("--videos", required=True, nargs="+", help="expert-video dataset(s)")
        else:
            p.add_argument("--videos", required=True, action="append", help="expert videos")
        p.add_argument("--config", help="YAML file of hyper-parameter overrides")
        p.add_argument("--set", action="append", metavar="KEY=VALUE")
        p.add_argument("--no-progress", action="store_true")

    p = sub.add_parser("pretrain-features", help="BCV-LR stage 1: self-supervised features f")
    common(p, multi_videos=True)
    p.add_argument("--out", required=True)
    p.set_defaults(func=lazy("bcvlr.method.cli:pretrain_features"))

    p = sub.add_parser("pretrain-actions", help="BCV-LR stage 2: latent actions (p, VQ, w)")
    common(p, multi_videos=True)
    p.add_argument("--features", help="features.pt from pretrain-features (omit for w/o lf)")
    p.add_argument("--out", required=True)
    p.set_defaults(func=lazy("bcvlr.method.cli:pretrain_actions"))

    p = sub.add_parser("online", help="BCV-LR stage 3: online finetuning, latent BC, evaluation")
    common(p, multi_videos=False)
    p.add_argument("--latent-actions", help="latent_actions.pt (omit for w/o la)")
    p.add_argument("--features", help="features.pt (used when --latent-actions is omitted)")
    p.add_argument("--method-name", default="bcvlr", help="name of the run (variants)")
    p.add_argument("--runs-root", default="results/runs")
    p.add_argument("--budget", type=POSITIVE)
    p.add_argument("--eval-episodes", type=POSITIVE)
    p.add_argument("--eval-every", type=POSITIVE)
    p.set_defaults(func=lazy("bcvlr.method.cli:online"))
