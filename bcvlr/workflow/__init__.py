"""What the Snakefile needs besides rules: the config check, the job grid, command arguments,
and the `job` wrapper that makes every rule safe to kill and rerun.

Kept out of the Snakefile so that it is tested like the rest of the package, and importable
without torch (a SLURM job re-parses the Snakefile: it must stay fast).

Products (expert folders, video datasets, run directories, pretraining stages) resume after a
kill, so they are never Snakemake outputs: Snakemake deletes the outputs of a job it re-runs.
Each job's output is a small marker under ``paths.done``, written by ``python -m bcvlr.workflow
job`` once the product is complete (see docs/workflow.md).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from bcvlr.tasks import TASKS  # noqa: F401 (the Snakefile's API)
from bcvlr.workflow.args import (  # noqa: F401 (the Snakefile's API)
    MULTITASK,
    bcvlr_variant,
    expert_args,
    extra_methods_env,
    method_args,
    method_config,
    pretraining_of,
    pretraining_task,
    pretraining_videos,
    resources,
    runs_args,
    stage_args,
    videos_args,
)
from bcvlr.workflow.check import check_config, deep_check, load_config_file  # noqa: F401
from bcvlr.workflow.cost import GridCost  # noqa: F401
from bcvlr.workflow.job import product_complete, run_job  # noqa: F401
from bcvlr.workflow.plan import (  # noqa: F401
    DEFAULT_RESOURCES,
    REPO,
    SCHEMA,
    ConfigError,
    Method,
    Plan,
    load_schema,
    per_task,
    resolve_path,
)


def validate_config_main(args: argparse.Namespace) -> None:
    """`bcvlr validate-config FILE`: the workflow's check, plus every method's settings."""
    from bcvlr.errors import CliError

    try:
        config = load_config_file(args.file)
        check_config(config, source=args.file)
        if not args.shallow:
            deep_check(config)
    except ConfigError as e:
        raise CliError(str(e)) from None
    plan = Plan(config)
    print(plan.summary())
    if not args.shallow:  # what its GPU jobs cost (docs/workflow.md), as `snakemake -n` prints
        try:
            print(GridCost(plan).table())
        except ConfigError as e:
            raise CliError(str(e)) from None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bcvlr.workflow", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("job", help="run one rule's command (resume-safe) and write its marker")
    p.add_argument("--kind", required=True, choices=["run", "stage", "videos", "expert"])
    p.add_argument("--product", required=True, type=Path)
    p.add_argument("--done", required=True, type=Path, help="the marker (the rule's output)")
    p.add_argument("cmd", nargs=argparse.REMAINDER, help="-- then the command")
    args = parser.parse_args(argv)
    cmd = args.cmd[1:] if args.cmd[:1] == ["--"] else args.cmd
    return run_job(args.kind, args.product, args.done, cmd)


if __name__ == "__main__":
    sys.exit(main())
