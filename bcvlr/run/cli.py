"""`bcvlr run --method M --task T --seed S [--config FILE] [--set k=v]`: one run of one method,
through the common harness. Everything is validated before any compute."""

from __future__ import annotations

import argparse
import dataclasses
from pathlib import Path


def main(args: argparse.Namespace) -> None:
    from bcvlr.config import load_config
    from bcvlr.envs import expert_videos
    from bcvlr.errors import CliError
    from bcvlr.methods import check_run, load_method
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
    if args.videos or getattr(method, "NEEDS_VIDEOS", False):  # checked before any compute
        from bcvlr.data import VideoDataset

        videos = expert_videos(task, VideoDataset(args.videos) if args.videos else None,
                               f"method {args.method!r}")  # fmt: skip
    # the command line's value, else the method config's, else (None) the task's
    budget, eval_episodes, eval_every = (
        getattr(cfg, name, None) if getattr(args, name) is None else getattr(args, name)
        for name in ("budget", "eval_episodes", "eval_every")
    )
    check_run(method, cfg, task, budget)
    if getattr(args, "slurm", False):
        submit_to_slurm(args)  # everything above is checked before submitting
        return
    with Harness(args.method, task, args.seed, config=dataclasses.asdict(cfg),
                 runs_root=Path(args.runs_root), budget=budget,
                 eval_episodes=eval_episodes, eval_every=eval_every,
                 progress=not args.no_progress,
                 reduced_size=getattr(cfg, "reduced_size", False)) as harness:  # fmt: skip
        method.run(task, args.seed, cfg, harness, videos=videos)


# -- `bcvlr run --slurm`: one run submitted to SLURM with submitit, outside the workflow --------
def add_slurm_arguments(p: argparse.ArgumentParser) -> None:
    from bcvlr.arguments import NATURAL, POSITIVE

    g = p.add_argument_group("SLURM (submitit)")
    g.add_argument("--slurm", action="store_true", help="submit this run as a SLURM job")
    g.add_argument("--slurm-partition", help="default: the cluster's default partition")
    g.add_argument("--slurm-account")
    g.add_argument("--slurm-gpus", type=NATURAL, default=1, help="GPUs (default 1)")
    g.add_argument("--slurm-cpus", type=POSITIVE, default=8, help="CPUs (default 8)")
    g.add_argument("--slurm-mem-mb", type=POSITIVE, default=32000)
    g.add_argument("--slurm-time", type=POSITIVE, default=1440, help="minutes (default 1440)")
    g.add_argument("--slurm-logs", default="logs/submitit", help="submitit's folder")
    g.add_argument("--slurm-wait", action="store_true", help="wait for the job and its result")


def _run_argv(args: argparse.Namespace) -> list[str]:
    """The same `bcvlr run` command line, without the SLURM options."""
    argv = ["run", "--method", args.method, "--task", args.task, "--seed", str(args.seed),
            "--runs-root", str(Path(args.runs_root).resolve()), "--no-progress"]  # fmt: skip
    for flag, value in (("--config", args.config), ("--videos", args.videos)):
        if value:
            argv += [flag, str(Path(value).resolve())]
    for flag, value in (("--budget", args.budget), ("--eval-episodes", args.eval_episodes),
                        ("--eval-every", args.eval_every)):  # fmt: skip
        if value is not None:
            argv += [flag, str(value)]
    for item in args.set or []:
        argv += ["--set", item]
    return argv


def _run_in_job(argv: list[str]) -> int:
    import subprocess
    import sys

    rc = subprocess.run([sys.executable, "-m", "bcvlr.cli", *argv]).returncode
    if rc:
        raise SystemExit(rc)
    return rc


def submit_to_slurm(args: argparse.Namespace) -> None:
    import submitit

    from bcvlr.results.layout import run_path

    argv = _run_argv(args)
    executor = submitit.AutoExecutor(folder=args.slurm_logs, cluster="slurm")
    extra = {"account": args.slurm_account} if args.slurm_account else {}
    executor.update_parameters(
        name=f"bcvlr-{args.method}-{args.task}-seed{args.seed}",
        timeout_min=args.slurm_time, cpus_per_task=args.slurm_cpus, mem_gb=args.slurm_mem_mb / 1024,
        tasks_per_node=1, nodes=1, slurm_partition=args.slurm_partition,
        slurm_gres=f"gpu:{args.slurm_gpus}" if args.slurm_gpus else None,
        slurm_additional_parameters=extra,
    )  # fmt: skip
    job = executor.submit(_run_in_job, argv)
    print(f"submitted SLURM job {job.job_id}: bcvlr {' '.join(argv)}")
    print(f"logs: {job.paths.stdout} / {job.paths.stderr}")
    print(f"run: {run_path(args.runs_root, args.method, args.task, args.seed)}")
    if args.slurm_wait:
        job.result()
        print(f"SLURM job {job.job_id} finished")
