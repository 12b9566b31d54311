"""The equivalence harness's command: ``compare`` runs both sides and prints the table;
``record`` keeps the authors' side, computed in float64, as the CI fixture."""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
import time
import types
import warnings
from pathlib import Path

import torch
from torch import nn

from bcvlr.atomic import atomic_write, atomic_write_text
from bcvlr.reference import equivalence as E
from bcvlr.reference.authors import checkout_commit

FIXTURES = Path(__file__).resolve().parents[2] / "tests" / "fixtures" / "equivalence"


def _load(args: argparse.Namespace) -> types.SimpleNamespace:
    from bcvlr.reference import authors

    try:
        loaded = authors.load_authors(args.authors_repo.resolve(), args.authors_deps,
                                      torch.device("cpu"))  # fmt: skip
    except authors.AuthorsCodeMissing as err:
        sys.exit(str(err))
    warnings.filterwarnings("ignore", message=".*duplicate parameters.*")  # their shared conv
    return loaded


def code_of(loaded: types.SimpleNamespace) -> E.Code:
    """Which of their repositories this is (the Procgen one pretrains with reconstruction)."""
    procgen = hasattr(loaded.models.IDM, "update_repre_addreconstruct")
    return E.DISCRETE if procgen else E.CONTINUOUS


def _code(loaded: types.SimpleNamespace, args: argparse.Namespace) -> E.Code:
    """``code_of``, after checking that it has the equations asked for."""
    code = code_of(loaded)
    if missing := sorted(set(args.equations or ()) - set(code.equations)):
        sys.exit(f"--equations {' '.join(missing)}: not in the authors' {code.name} code "
                 f"(it has {', '.join(code.equations)})")  # fmt: skip
    return code


def _print(code: E.Code, eq: str, update: str, table, show_all: bool, float64: bool,
           worst: dict[str, float]) -> bool:  # fmt: skip
    """Print the rows over their tolerance (all with ``show_all``) and raise ``worst`` (kind ->
    largest unlisted difference) by them; whether all are within or listed."""
    within = True
    for kind, name, diff in table:
        bound = E.tolerance(kind, eq, float64)
        why = E.listed(code, eq, kind, name)
        status = "equal" if diff <= bound else f"listed: {why}" if why else "DIFFERS"
        if diff > bound or show_all:
            print(f"{eq:<18} {update:<6} {kind:<6} {name:<44} {diff:>10.2e}  {status}")
        within &= diff <= bound or why is not None
        if why is None:
            worst[kind] = max(worst[kind], diff)
    return within


def compare(args: argparse.Namespace) -> None:
    from bcvlr.reference import theirs

    loaded = _load(args)
    code = _code(loaded, args)
    exact = E.float64 if args.float64 else contextlib.nullcontext
    print(f"# ours vs the authors' {code.name} code ({args.authors_repo}, {checkout_commit(args.authors_repo)}), "
          f"{'float64' if args.float64 else 'float32'}, "
          f"{E.UPDATES} updates in lockstep, batch {E.SMALL.batch}, torch {torch.__version__}, "
          f"{time.strftime('%Y-%m-%d %H:%M')}; largest relative difference "
          "max|ours - theirs| / max|theirs| per loss, gradient and tensor")  # fmt: skip
    print(f"{'equation':<18} {'update':<6} {'kind':<6} {'tensor':<44} {'rel. diff':>10}  status")
    for eq in args.equations or code.equations:
        mine, prep = E.prepare(eq, code), E.prepare(eq, code)
        if args.float64:
            mine, prep = E.in_float64(mine), E.in_float64(prep)
        with exact():
            side = theirs.theirs(prep, loaded, code)
            if eq == "acting":
                tables = [("-", E.rows(E.act_ours(mine.objects["agent"], mine), side))]
            else:
                pairs = E.lockstep(E.ours(mine), side, E.UPDATES, E.ours_modules(mine))
                tables = [(str(k + 1), E.rows(a, b)) for k, (a, b) in enumerate(pairs)]
        within, count, worst = True, 0, {"loss": 0.0, "grad": 0.0, "tensor": 0.0}
        for update, table in tables:
            within &= _print(code, eq, update, table, args.all, args.float64, worst)
            count += len(table)
        largest = " ".join(f"{k} {v:.1e}" for k, v in worst.items())
        print(f"{eq:<18} {'all':<6} {'all':<6} {f'{count} rows, largest unlisted: {largest}':<55} "
              f"{'equal' if within else 'DIFFERS'}", flush=True)  # fmt: skip
    pad = E.config(code).features.shift_pad
    diff = theirs.augmentation_difference(loaded, pad=pad, depth=code.obs_shape[0])
    print(f"random shift, pad {pad}, same offsets, frames in [-0.5, 0.5]: theirs - ours mean "
          f"|diff| {diff['mean_abs']:.3f}, max {diff['max_abs']:.3f} (listed: their grid "
          "interpolates)")  # fmt: skip


def record(args: argparse.Namespace) -> None:
    from bcvlr.reference import theirs

    loaded = _load(args)
    code = _code(loaded, args)
    fixture = {"code": code.name, "commit": checkout_commit(args.authors_repo), "updates": 1,
               "batch": E.SMALL.batch, "seed": E.SEED, "dtype": "float64",
               "equations": {}}  # fmt: skip
    for eq in args.equations or code.equations:
        prep = E.in_float64(E.prepare(eq, code, updates=1))  # filled in fp32, as ours is
        with E.float64():
            side = theirs.theirs(prep, loaded, code)
            out = side if eq == "acting" else E.run(side, 1)
        fixture["equations"][eq] = {
            "losses": out.losses,
            "tensors": {n: E.compact(t, n) for n, t in out.tensors.items()},
            "grads": {n: E.compact(t, n) for n, t in out.grads.items()},
        }
        print(f"recorded {eq}: {len(out.tensors)} tensors, {len(out.grads)} gradients")
    path = args.out or FIXTURES / f"{code.name}.pt"
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(path, lambda f: torch.save(fixture, f))
    print(f"wrote {path} ({path.stat().st_size / 1e6:.1f} MB)")


def spread(args: argparse.Namespace) -> None:
    """The fresh-encoder feature spread of the authors' encoder, for tests/reference."""
    loaded = _load(args)
    shape = {"conv": (9, 64, 64), "impala": (3, 64, 64)}[args.kind]

    def theirs() -> nn.Module:
        encoder = loaded.models.ConvSequence_forencoder(shape)
        return lambda x: encoder(x.float() / 255 - 0.5)

    value = E.feature_spread(theirs, shape)
    out = FIXTURES / "spread.json"
    data = json.loads(out.read_text()) if out.exists() else {}
    data[args.kind] = {"spread": value, "repository": str(args.authors_repo.name),
                       "commit": checkout_commit(args.authors_repo)}  # fmt: skip
    atomic_write_text(out, json.dumps(data, indent=1) + "\n")
    print(f"{args.kind}: the authors' fresh encoder spreads its features by {value:.4f}; {out}")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bcvlr.reference",
                                     description="BCV-LR's updates against the authors' code")  # fmt: skip
    sub = parser.add_subparsers(dest="command", required=True)
    for name, fn in (("compare", compare), ("record", record), ("spread", spread)):
        p = sub.add_parser(name)
        p.add_argument("--authors-repo", type=Path, required=True,
                       help="a checkout of liuxin0824/BCV-LR (spread: or of BCV-LR-discrete)")  # fmt: skip
        p.add_argument("--authors-deps", type=Path, help="folder of their dependencies")
        p.add_argument("--equations", nargs="+", choices=sorted(set(E.CONTINUOUS.equations)
                                                                 | set(E.DISCRETE.equations)),
                       help="default: all of the repository's")  # fmt: skip
        p.add_argument("--threads", type=int, default=1)
        p.set_defaults(fn=fn)
        if name == "spread":
            p.add_argument("--kind", choices=("conv", "impala"), required=True,
                           help="conv: the DMC repository's encoder; impala: Procgen's")  # fmt: skip
        elif name == "compare":
            p.add_argument("--all", action="store_true", help="print every tensor, not only "
                           "those that differ")  # fmt: skip
            p.add_argument("--float64", action="store_true", help="both sides in float64, "
                           "every row within EXACT_TOLERANCE (default: fp32, losses and "
                           "tensors within FP32_TOLERANCE, gradients shown)")  # fmt: skip
        else:
            p.add_argument("--out", type=Path, help="default: tests/fixtures/equivalence/CODE.pt")
    args = parser.parse_args(argv)
    if not (args.authors_repo / "run_online.py").is_file():
        parser.error(f"--authors-repo {args.authors_repo}: no run_online.py there (a checkout of "
                     "the authors' repository is expected)")  # fmt: skip
    torch.set_num_threads(args.threads)
    args.fn(args)
