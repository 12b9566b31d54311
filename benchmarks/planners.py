"""Procgen's planning experts, game by game: score, speed, and how readable their actions are.

    python -m benchmarks.planners --out DIR [--task heist ...] [--episodes 16]
        [--readout-steps 5000 --readout-updates 1000]

For each game: the planner's mean return over ``--episodes`` episodes with the task's
evaluation protocol (one episode per env, up to 64 envs; ``--envs 1``: one env playing them in
turn, the same level distribution), beside the paper's expert-video score
(Table 1); env steps per second of the whole evaluation (planning included) and the minutes 100k
transitions of videos would take at that rate. With ``--readout-steps``: that many transitions
of the planner's videos, then a supervised pixel inverse-dynamics readout on them
(``python -m bcvlr.method.action_readout supervised --features pixels``: p's architecture
at the mini size, trained on even episodes, accuracy on odd ones, beside the share of the most
common action): how far an expert's actions can be read from its frames.

DIR/planners.csv is rewritten as each game finishes (a rerun skips the games already there);
DIR/run.json records the arguments, commit and package versions.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import os
import sys
import time
from pathlib import Path

# benchmarks/bcvlr.py is named like the package: keep this folder off the import path.
sys.path[:] = [p for p in sys.path if os.path.abspath(p or ".") != os.path.dirname(__file__)]

from bcvlr.tasks import tasks_of  # noqa: E402

FIELDS = ["game", "planner", "episodes", "score", "score_std", "paper_expert", "of_paper",
          "mean_length", "env_steps_per_s", "min_per_100k", "readout_accuracy",
          "readout_majority"]  # fmt: skip


def measure(game: str, args: argparse.Namespace, out: Path) -> dict:
    from bcvlr.config import load_config
    from bcvlr.experts.planning import PlannerConfig, PlanningExpert
    from bcvlr.run.evaluate import evaluate
    from bcvlr.tasks import get_task

    task = get_task(game)
    expert = PlanningExpert(task, load_config(PlannerConfig, None, args.set), seed=args.seed)
    t0 = time.perf_counter()
    result = evaluate(task, expert.act, episodes=args.episodes, seed=args.seed + 1,
                      inputs="simulator", num_envs=args.envs)  # fmt: skip
    seconds = time.perf_counter() - t0
    rate = result.lengths.sum() / seconds
    row = {"game": game, "planner": expert.planner_name, "episodes": len(result.returns),
           "score": result.mean_return, "score_std": float(result.returns.std()),
           "paper_expert": task.expert_score, "of_paper": result.mean_return / task.expert_score,
           "mean_length": float(result.lengths.mean()), "env_steps_per_s": rate,
           "min_per_100k": 100_000 / rate / 60, "readout_accuracy": "",
           "readout_majority": ""}  # fmt: skip
    if args.readout_steps:
        row |= readout(task, args, out)
    return row


def readout(task, args: argparse.Namespace, out: Path) -> dict:
    from bcvlr.experts.collect import collect
    from bcvlr.experts.planning import train_expert
    from bcvlr.method.action_readout import supervised

    expert_dir, videos = out / "experts" / task.name, out / "videos" / task.name
    if not (expert_dir / "expert.json").exists():
        train_expert(task, kind="planner", seed=args.seed, out=expert_dir,
                     overrides=[*args.set, "score_episodes=0"])  # fmt: skip
    collect(task, expert_dir, args.readout_steps, videos, seed=args.seed + 2, progress=False)
    found = supervised(argparse.Namespace(
        task=task.name, videos=str(videos), features="pixels", config="config/bcvlr/mini.yaml",
        set=[], updates=args.readout_updates, every=args.readout_updates, batch_size=64,
        lr=3e-4, seed=args.seed))  # fmt: skip
    return {"readout_accuracy": found["score"], "readout_majority": found["majority"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", required=True, help="folder for planners.csv and run.json")
    parser.add_argument("--task", action="append", help="only these games (default: all 16)")
    parser.add_argument("--episodes", type=int, default=64)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--envs", type=int,
                        help="parallel envs (default: the protocol's, one episode each); 1 plays "
                        "the episodes one after another, so no finished env is still planned for")  # fmt: skip
    parser.add_argument("--readout-steps", type=int, default=0,
                        help="video transitions for the action readout (0: no readout)")  # fmt: skip
    parser.add_argument("--readout-updates", type=int, default=1000)
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="a planner setting (bcvlr.experts.planning.PlannerConfig)")  # fmt: skip
    args = parser.parse_args()
    games = args.task or [t.name for t in tasks_of("procgen")]
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    from bcvlr.atomic import atomic_write_json, atomic_write_text
    from bcvlr.results.provenance import provenance

    atomic_write_json(out / "run.json", {"command": " ".join(sys.argv), "args": vars(args),
                                         **provenance()})  # fmt: skip
    table = out / "planners.csv"
    done = {r["game"]: r for r in csv.DictReader(table.open())} if table.exists() else {}
    for game in games:
        if game in done:
            continue
        done[game] = row = measure(game, args, out)
        text = io.StringIO()
        writer = csv.DictWriter(text, FIELDS)
        writer.writeheader()
        writer.writerows(done.values())
        atomic_write_text(table, text.getvalue())
        print(json.dumps(row), flush=True)
    print_table([done[g] for g in games if g in done])


def print_table(rows: list[dict]) -> None:
    def cell(v, fmt):
        return "-" if v in ("", None) else format(float(v), fmt)

    print("| game | planner | score (episodes) | paper's expert | of it | env steps/s | "
          "min / 100k | readout acc. (majority) |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- |")
    for r in rows:
        print(f"| {r['game']} | {r['planner']} | {cell(r['score'], '.2f')} ± "
              f"{cell(r['score_std'], '.2f')} ({r['episodes']}) | {cell(r['paper_expert'], 'g')} | "
              f"{cell(r['of_paper'], '.0%')} | {cell(r['env_steps_per_s'], '.0f')} | "
              f"{cell(r['min_per_100k'], '.0f')} | {cell(r['readout_accuracy'], '.2f')} "
              f"({cell(r['readout_majority'], '.2f')}) |")  # fmt: skip


if __name__ == "__main__":
    main()
