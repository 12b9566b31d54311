"""The `bcvlr` command. Each subcommand is a thin call into the package; heavy imports are lazy
so that `bcvlr --help` and config errors come back fast."""

from __future__ import annotations

import argparse
import sys

from bcvlr.arguments import NATURAL, POSITIVE, lazy
from bcvlr.errors import report_user_errors
from bcvlr.tasks import SUITES


def _cmd_tasks(args: argparse.Namespace) -> None:
    from bcvlr.tasks import registry_json, tasks_of

    if args.json:
        print(registry_json(args.suite))
        return
    rows = tasks_of(args.suite)
    header = f"{'task':<24} {'suite':<9} {'budget':>8} {'unit':<9} {'actions':<14} {'ep len':>6} {'expert':>7}"
    print(header)
    print("-" * len(header))
    for t in rows:
        acts = f"{t.action_space.kind[:4]}({t.action_space.size})"
        expert = "-" if t.expert_score is None else f"{t.expert_score:g}"
        print(
            f"{t.name:<24} {t.suite:<9} {t.budget:>8} {t.budget_unit:<9} {acts:<14} "
            f"{t.episode_length:>6} {expert:>7}"
        )
    if any(t.suite == "metaworld" for t in rows):
        from bcvlr.tasks import CAMERA_SEPARATOR, METAWORLD_CAMERA, METAWORLD_CAMERAS

        others = ", ".join(c for c in METAWORLD_CAMERAS if c != METAWORLD_CAMERA)
        print(f"\nMetaworld tasks render from {METAWORLD_CAMERA!r}; another camera is a task of "
              f"its own: <task>{CAMERA_SEPARATOR}<camera>, camera one of {others}")  # fmt: skip


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="bcvlr", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("tasks", help="print the task registry")
    p.add_argument("--suite", choices=SUITES)
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(func=_cmd_tasks)

    p = sub.add_parser(
        "demo", help="step every task of a suite with random actions (a short real demo)"
    )
    p.add_argument("--suite", choices=SUITES, action="append", help="default: all suites")
    p.add_argument("--steps", type=POSITIVE, default=50)
    p.add_argument("--out", default="results/demo", help="where frames and a summary are written")
    p.set_defaults(func=lazy("bcvlr.envs.demo:main"))

    p = sub.add_parser("run", help="one run of one method on one task and seed")
    p.add_argument("--method", required=True)
    p.add_argument("--task", required=True)
    p.add_argument("--seed", type=NATURAL, default=0)
    p.add_argument("--config", help="YAML file of hyper-parameter overrides")
    p.add_argument("--set", action="append", metavar="KEY=VALUE", help="override one setting")
    p.add_argument("--videos", help="expert-video dataset (video-imitation methods)")
    p.add_argument("--budget", type=POSITIVE, help="interaction budget (default: the task's)")
    p.add_argument(
        "--eval-episodes", type=POSITIVE, help="episodes per evaluation (default: task's)"
    )
    p.add_argument(
        "--eval-every", type=POSITIVE, help="frames between evaluations (default: task's)"
    )
    p.add_argument("--runs-root", default="results/runs")
    p.add_argument("--no-progress", action="store_true")
    p.set_defaults(func=lazy("bcvlr.run.cli:main"))

    from bcvlr.method.cli import add_parsers as add_bcvlr_parsers

    add_bcvlr_parsers(sub)

    p = sub.add_parser(
        "train-expert", help="train (or record) the expert that makes a task's videos"
    )
    p.add_argument("--task", required=True)
    p.add_argument("--seed", type=NATURAL, default=0)
    p.add_argument("--out", required=True, help="expert directory to write (resumes if present)")
    p.add_argument("--kind", help="expert kind (default per suite: ppo, ddpg_states, scripted; "
                   "Procgen also planner: no training, docs/experts.md)")  # fmt: skip
    p.add_argument("--from", dest="from_dir", metavar="DIR",
                   help="copy this finished expert (checked for task and kind) instead of "
                        "training one")  # fmt: skip
    p.add_argument("--config", help="YAML file of hyper-parameter overrides")
    p.add_argument("--set", action="append", metavar="KEY=VALUE", help="override one setting")
    p.add_argument("--no-progress", action="store_true")
    p.set_defaults(func=lazy("bcvlr.experts.train:main"))

    p = sub.add_parser("evaluate-expert", help="score an expert with the task's protocol")
    p.add_argument("--task", required=True)
    p.add_argument("--expert", required=True, help="expert directory (from train-expert)")
    p.add_argument("--episodes", type=POSITIVE, help="default: the task's evaluation episodes")
    p.add_argument("--seed", type=NATURAL, default=12345)
    p.set_defaults(func=lazy("bcvlr.experts.train:evaluate_main"))

    p = sub.add_parser("collect-videos", help="roll an expert out and write its video dataset")
    p.add_argument("--task", required=True)
    p.add_argument("--expert", required=True, help="expert directory (from train-expert)")
    p.add_argument("--steps", type=POSITIVE, help="transitions to collect (default per suite)")
    p.add_argument("--out", required=True, help="dataset folder (resumes if present)")
    p.add_argument("--seed", type=NATURAL, default=0)
    p.add_argument("--chunk-frames", type=POSITIVE)
    p.add_argument(
        "--action-noise",
        type=float,
        default=0.0,
        metavar="STD",
        help="Gaussian noise std on a continuous expert's actions (default 0)",
    )
    p.add_argument("--no-progress", action="store_true")
    p.set_defaults(func=lazy("bcvlr.experts.collect:main"))

    p = sub.add_parser("import-videos", help="convert a third-party expert-video dataset")
    p.add_argument("--format", required=True, choices=["lapo"])
    p.add_argument("--src", required=True, help="source folder (LAPO: expert_data/<game>)")
    p.add_argument("--task", required=True)
    p.add_argument("--out", required=True, help="dataset folder to write")
    p.add_argument("--split", default="train", choices=["train", "test"])
    p.set_defaults(func=lazy("bcvlr.data.lapo:main"))

    p = sub.add_parser("validate-videos", help="check a video dataset and print its manifest")
    p.add_argument("path")
    p.add_argument("--task", help="fail unless the dataset is for this task")
    p.add_argument("--quick", action="store_true",
                   help="skip the chunks' sha256 (shapes and counts only)")  # fmt: skip
    p.set_defaults(func=lazy("bcvlr.data.dataset:validate_main"))

    p = sub.add_parser("aggregate", help="check every run directory and collect them in one CSV")
    p.add_argument("--runs", action="append", help="runs root (repeatable; default results/runs)")
    p.add_argument("--out", default="results/aggregate.csv")
    p.add_argument("--skip-invalid", action="store_true", help="report bad runs, do not fail")
    p.set_defaults(func=lazy("bcvlr.results.aggregate:main"))

    p = sub.add_parser("report", help="paper tables, rliable statistics and figures from runs")
    p.add_argument("--runs", action="append", help="runs root (repeatable; default results/runs)")
    p.add_argument("--out", default="results/report")
    p.add_argument("--seeds", type=POSITIVE, default=3, help="seeds expected per cell (for gaps)")
    p.add_argument("--reps", type=POSITIVE, default=2000, help="bootstrap replications")
    p.add_argument("--rng-seed", type=NATURAL, default=0, help="seed of the bootstrap")
    p.add_argument("--skip-invalid", action="store_true", help="report bad runs, do not fail")
    p.add_argument("--no-figures", action="store_true")
    p.set_defaults(func=lazy("bcvlr.report.main:main"))

    # The workflow's config check (bcvlr/workflow/), and `bcvlr run --slurm` (its options are
    # added to the run parser from bcvlr/run/cli.py).
    p = sub.add_parser("validate-config", help="check a workflow config (config/*.yaml)")
    p.add_argument("file", help="e.g. config/paper.yaml")
    p.add_argument("--shallow", action="store_true", help="schema only: skip the methods' settings")
    p.set_defaults(func=lazy("bcvlr.workflow:validate_config_main"))
    from bcvlr.run.cli import add_slurm_arguments

    add_slurm_arguments(sub.choices["run"])
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    return report_user_errors(f"bcvlr {args.command}", lambda: args.func(args))


if __name__ == "__main__":
    sys.exit(main())
