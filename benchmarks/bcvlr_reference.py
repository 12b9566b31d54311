"""BCV-LR update speed side by side with the authors' code: liuxin0824/BCV-LR (DMC) or
liuxin0824/BCV-LR-discrete (Procgen), whichever checkout is given.

    python -m benchmarks.bcvlr_reference --authors-repo PATH [--authors-deps DIR]
        [--steps 5] [--threads 1] [--sizes paper|small] [--equations features ...]
        [--precision fp32|bf16] [--flops]

PATH is your own checkout of one of the authors' repositories and DIR the folder of their
dependencies (bcvlr/reference/authors.py says how to make it); nothing is downloaded and none
of it is copied here. Both sides are built by the equivalence harness (bcvlr/reference): the
same weights and batches, their loop bodies run verbatim on their networks and optimisers,
ours are our learners' update methods; at ``--sizes paper`` the networks and batch sizes are
Tables 11-12's (their config.yaml's). Feature pretraining shifts its views with each side's own
augmentation (theirs interpolates, ours moves whole pixels), as each runs. Ours and theirs alternate update by update (A B A B ...),
so machine load falls on both alike; each row reports medians and the ratio theirs / ours.

The rows marked "f's table" time ours as a run executes it where f is frozen: f's features of
every video frame computed once (eq. 2, the warm-up and eq. 4), and p's latent of every video
transition once per phase (the warm-up and eq. 4; docs/performance.md). Their row is the same
update of theirs, timed again beside it.

``--flops`` adds the matrix-multiply and convolution FLOPs of one more update of each side
(torch's FlopCounterMode; elementwise work is not counted): their ratio bounds what a faster
kernel alone could not change."""

from __future__ import annotations

import argparse
import contextlib
import os
import platform
import statistics
import sys
import time
import warnings
from pathlib import Path

import torch
from torch.utils.flop_counter import FlopCounterMode

from bcvlr.method.bcvlr.pretrain import feature_augmentation
from bcvlr.nets.features import encode_windows
from bcvlr.reference import equivalence as E
from bcvlr.reference.authors import AuthorsCodeMissing, Step, checkout_commit, load_authors
from bcvlr.reference.cli import code_of
from bcvlr.reference.theirs import theirs as their_side
from bcvlr.run.device import resolve_device

TIMED = {  # equation -> row name; eq. 3 with the VQ's EMA live, as training runs it
    "features": "feature pretraining",
    "latent_actions": "latent-action pretraining",
    "finetune_live_ema": "online finetune (eq. 3)",
    "bc": "latent BC (eq. 4)",
    "warmup": "latent BC warm-up",
}
TABLED = ("latent_actions", "bc", "warmup")  # the stages that read f's table in a run


def tabled_step(prep: E.Prepared) -> Step:
    """Our update of ``prep``'s equation on the per-frame tables a run builds while f is
    frozen: gathered in a new row order each call."""
    batch = prep.batches[0]["obs"]
    if prep.equation == "latent_actions":
        learner = prep.objects["learner"]
        with torch.no_grad():
            feats = encode_windows(learner.encoder, batch, grad=False)
        return lambda: learner.update_on_features(feats[torch.randperm(len(feats))])
    agent, learner = prep.objects["agent"], prep.objects["learner"]
    warmup = prep.equation == "warmup"
    with torch.no_grad():
        feats = encode_windows(agent.encoder, batch, grad=False)
        agent.lam.eval()
        labels = agent.lam.latent(feats[:, learner.lead :])
    obs_feats = feats[:, -2 - learner.lead]

    def step() -> dict[str, float]:
        rows = torch.randperm(len(labels))
        return learner.bc_step_on_latents(obs_feats[rows], labels[rows], warmup)

    return step


def own_augmentation(side: E.Side, prep: E.Prepared) -> E.Side:
    """Feature pretraining with our random shift, not the harness's replayed views."""
    if prep.equation == "features":
        prep.objects["learner"].aug = feature_augmentation(prep.cfg.features)
    return side


def interleaved(ours: Step, theirs: Step, steps: int) -> tuple[float, float]:
    """Median seconds per update of each, timed alternately after one warm-up each."""
    sync = torch.cuda.synchronize if torch.cuda.is_available() else (lambda: None)
    times: tuple[list[float], list[float]] = ([], [])
    for i in range(steps + 1):
        for fn, out in ((ours, times[0]), (theirs, times[1])):
            t0 = time.perf_counter()
            fn()
            sync()
            if i:  # the first round is the warm-up
                out.append(time.perf_counter() - t0)
    return statistics.median(times[0]), statistics.median(times[1])


def flops(step: Step) -> float:
    """GFLOPs of one call of ``step`` in matrix multiplies and convolutions."""
    with FlopCounterMode(display=False) as count:
        step()
    return count.get_total_flops() / 1e9


def counter(step) -> Step:
    """A harness side's ``step(k)`` as a no-argument step over k = 0, 1, ..."""
    k = iter(range(10**9))
    return lambda: step(next(k))


def _cpu_name() -> str:
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or "cpu"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--authors-repo", type=Path, required=True)
    parser.add_argument("--authors-deps", type=Path)
    parser.add_argument("--steps", type=int, default=5)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--sizes", choices=("paper", "small"), default="paper")
    parser.add_argument("--equations", nargs="+", choices=list(TIMED), default=list(TIMED))
    parser.add_argument("--device", default="auto", help="auto: the GPU when there is one")
    parser.add_argument("--flops", action="store_true",
                        help="also count each side's matmul and conv FLOPs per update")  # fmt: skip
    parser.add_argument("--precision", choices=("fp32", "bf16"), default="fp32",
                        help="ours (theirs is fp32): bf16 autocast is a speed option")  # fmt: skip
    args = parser.parse_args()
    if args.steps < 1:
        sys.exit(f"--steps {args.steps}: must be at least 1")
    torch.set_num_threads(args.threads)
    device = resolve_device(args.device)
    try:
        authors = load_authors(args.authors_repo.resolve(), args.authors_deps, device)
    except AuthorsCodeMissing as err:
        sys.exit(str(err))
    warnings.filterwarnings("ignore", message=".*duplicate parameters.*")  # their shared conv
    code = code_of(authors)
    sizes = E.PAPER if args.sizes == "paper" else E.SMALL
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else _cpu_name()
    print(f"# {code.name} code ({code.task}), {args.sizes} sizes, ours {args.precision}, "
          f"theirs fp32, {name}, "
          f"{os.cpu_count()} cores, torch {torch.__version__}, {torch.get_num_threads()} threads, "
          f"{time.strftime('%Y-%m-%d %H:%M')}, authors' code {checkout_commit(args.authors_repo)}, "
          f"median of {args.steps} interleaved updates each, load average "
          f"{os.getloadavg()[0]:.2f}")  # fmt: skip
    print(f"# stand-ins for their non-update imports: {', '.join(authors.stood_in)}")
    flop_head = f" {'GFLOP ours':>10} {'GFLOP theirs':>12} {'theirs/ours':>11}" if args.flops else ""
    print(f"{'stage':<36} {'batch':>5} {'ms ours':>9} {'ms theirs':>9} {'theirs/ours':>11}"
          + flop_head)  # fmt: skip
    for eq, name in TIMED.items():
        if eq not in args.equations:
            continue
        rows = [(name, None)] + ([(f"{name}, f's table", tabled_step)] if eq in TABLED else [])
        for row, tabled in rows:
            prep = E.prepare(eq, code, updates=args.steps + 1 + args.flops, sizes=sizes,
                             device=device)  # fmt: skip
            E.set_precision(prep, args.precision)
            theirs = counter(their_side(prep, authors, code, own_augmentation=True).step)
            ours = tabled(prep) if tabled else counter(own_augmentation(E.ours(prep), prep).step)
            t_ours, t_theirs = interleaved(ours, theirs, args.steps)
            batch = E.batch_size(prep.cfg, eq)
            counted = ""
            if args.flops:
                f_ours, f_theirs = flops(ours), flops(theirs)
                counted = f" {f_ours:>10.1f} {f_theirs:>12.1f} {f_theirs / f_ours:>11.2f}"
            print(f"{row:<36} {batch:>5} {1e3 * t_ours:>9.0f} {1e3 * t_theirs:>9.0f} "
                  f"{t_theirs / t_ours:>11.2f}{counted}", flush=True)  # fmt: skip
            del prep, theirs, ours
    print(f"# load average at the end {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
