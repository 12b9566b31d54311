"""Our learning curves beside the authors' published ones (their DMC repository's exp_results/
eval.csv: columns episode_reward, step, where step counts frames), one panel per task.

    python -m bcvlr.report.versus_authors --out docs/runs/X/curves.png \
        --task reacher_hard --ours RUN_DIR [RUN_DIR ...] --theirs EVAL_CSV [EVAL_CSV ...] \
        --other reacher_hard:BCO=RUN_DIR --other reacher_hard:random=RUN_DIR

Every curve is drawn from the raw files: each of our runs' metrics.csv (the score metric its
run.json names), each of their eval.csv; thin lines per seed, a thick line for the mean over
seeds. A run folder is read as it is (a copy under docs/runs/ too, which `load_run` refuses
because it no longer sits at runs/<method>/<task>/seed<S>).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import defaultdict
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402

from bcvlr.atomic import atomic_write  # noqa: E402
from bcvlr.errors import report_user_errors  # noqa: E402


def our_curve(run_dir: Path) -> pd.Series:
    """The score (run.json's score_metric) by frames of one run."""
    metric = json.loads((run_dir / "run.json").read_text())["score_metric"]
    m = pd.read_csv(run_dir / "metrics.csv")
    ev = m[m.metric == metric]
    return pd.Series(ev.value.to_numpy(), index=ev.frames.to_numpy(), name=str(run_dir))


def their_curve(eval_csv: Path) -> pd.Series:
    e = pd.read_csv(eval_csv)
    return pd.Series(e.episode_reward.to_numpy(), index=e.step.to_numpy(), name=str(eval_csv))


def _draw(ax, curves: list[pd.Series], label: str, color, max_frames: int | None) -> None:
    if not curves:
        return
    clipped = [c[c.index <= max_frames] if max_frames else c for c in curves]
    for c in clipped:
        ax.plot(c.index, c.to_numpy(), color=color, alpha=0.3, lw=1)
    mean = pd.concat(clipped, axis=1).mean(axis=1).sort_index()
    ax.plot(mean.index, mean.to_numpy(), color=color, lw=2.2, label=f"{label} (n={len(curves)})")


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--task", action="append", required=True, help="one panel per --task")
    p.add_argument("--ours", nargs="+", action="append", default=[], metavar="RUN_DIR",
                   help="our run directories, once per --task in the same order")  # fmt: skip
    p.add_argument("--theirs", nargs="+", action="append", default=[], metavar="EVAL_CSV",
                   help="the authors' eval.csv files, once per --task")  # fmt: skip
    p.add_argument("--other", action="append", default=[], metavar="TASK:LABEL=RUN_DIR",
                   help="another method's run on a task (BCO, random), repeatable")  # fmt: skip
    p.add_argument("--label", default="ours", help="legend label of --ours")
    p.add_argument("--max-frames", type=int)
    p.add_argument("--out", required=True)
    args = p.parse_args(argv)
    sys.exit(report_user_errors("versus_authors", lambda: plot(args)))


def plot(args: argparse.Namespace) -> None:
    others: dict[str, dict[str, list[pd.Series]]] = defaultdict(lambda: defaultdict(list))
    for item in args.other:
        where, _, run = item.partition("=")
        task, _, label = where.partition(":")
        others[task][label].append(our_curve(Path(run)))
    fig, axes = plt.subplots(1, len(args.task), figsize=(5 * len(args.task), 3.6), squeeze=False)
    palette = plt.get_cmap("tab10")
    for i, (ax, task) in enumerate(zip(axes[0], args.task, strict=True)):
        ours = [our_curve(Path(r)) for r in (args.ours[i] if i < len(args.ours) else [])]
        theirs = [their_curve(Path(f)) for f in (args.theirs[i] if i < len(args.theirs) else [])]
        _draw(ax, theirs, "authors' code", palette(1), args.max_frames)
        _draw(ax, ours, args.label, palette(0), args.max_frames)
        for j, (label, curves) in enumerate(sorted(others[task].items())):
            _draw(ax, curves, label, palette(2 + j), args.max_frames)
        ax.set_title(task)
        ax.set_xlabel("environment frames")
        ax.set_ylabel("evaluation return")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    fig.tight_layout()
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(out, lambda f: fig.savefig(f, format=out.suffix[1:] or "png", dpi=120))
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
