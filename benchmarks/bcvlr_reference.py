"""BCV-LR update speed side by side with the authors' code (github.com/liuxin0824/BCV-LR).

    python -m benchmarks.bcvlr_reference --authors-repo PATH [--authors-deps DIR]
        [--task finger_spin] [--steps 5] [--threads 1]

PATH is your own checkout of the authors' repository and DIR the folder of their dependencies
(bcvlr/reference/authors.py says how to make it); nothing is downloaded and none of it is copied
here. Their loop bodies run verbatim, bound to their networks (built by their
utils.create_dynamics_models, create_policy, create_decoder) and their optimisers, on the same
synthetic uint8 batches as ours. Ours are the
bodies of bcvlr's pretrain_features / pretrain_latent_actions loops and OnlineLearner's
finetune_step / bc_step. Ours and theirs alternate update by update (A B A B ...), so machine
load falls on both alike; each row reports medians and the ratio theirs/ours."""

from __future__ import annotations

import argparse
import contextlib
import os
import platform
import statistics
import sys
import time
import types
import warnings
from collections.abc import Callable
from pathlib import Path

import torch
from torch import nn

from bcvlr.config import load_config
from bcvlr.method import bcvlr
from bcvlr.reference.authors import (
    AuthorsCodeMissing,
    Step,
    adamw_scheduler,
    checkout_commit,
    compile_body,
    define,
    load_authors,
    loop_body,
    their_batches,
    their_model_config,
    their_nets,
)
from bcvlr.reference.authors import logger as authors_logger
from bcvlr.run.device import resolve_device
from bcvlr.tasks import get_task


# ---------------------------------------------------------------------------------------------
# The stages, ours and theirs, on shared synthetic batches
# ---------------------------------------------------------------------------------------------
def uint8(*shape: int, device: torch.device) -> torch.Tensor:
    return torch.randint(0, 256, shape, dtype=torch.uint8, device=device)


def stages(cfg: bcvlr.Config, task, authors, device: torch.device):
    """(name, batch size, build) per stage; build() makes the stage's networks and returns
    (our step, their step, (our parameters, their parameters))."""
    fc, la, oc = cfg.features, cfg.latent_actions, cfg.online
    shape = (3 * task.frame_stack, 64, 64)
    a_dim = task.action_space.size
    y = authors.yaml
    off, on = authors.trees["run_offline.py"], authors.trees["run_online.py"]
    off_file, on_file = str(authors.repo / "run_offline.py"), str(authors.repo / "run_online.py")

    logger = authors_logger(authors)

    def params(*modules: nn.Module) -> int:
        return sum(p.numel() for m in modules for p in m.parameters())

    def features():
        # ours: bcvlr's FeatureLearner.update, what pretrain_features runs (prototype objective)
        learner = bcvlr.FeatureLearner(cfg, shape, device)
        obs, count = uint8(fc.batch_size, 2, *shape, device=device), [0]

        def ours():
            learner.update(obs, count[0])
            count[0] += 1

        # theirs: run_offline.py's feature loop body: next batch, idm.update_repre, .item()
        idm, _ = their_nets(authors, a_dim)
        idm.train()
        env = {"train_encoder_iter": their_batches(authors, obs), "idm": idm,
               "contrast_record": []}  # fmt: skip
        theirs = compile_body(loop_body(off, "offline_pretraining", 0), env, off_file)
        sizes = (
            params(
                learner.encoder,
                learner.head.projector,
                learner.head.predictor,
                learner.head.prototypes,
            ),
            params(idm.conv, idm.projector, idm.proto),
        )
        return ours, theirs, sizes

    def from_table(encoder: nn.Module, obs: torch.Tensor) -> Callable[[], torch.Tensor]:
        """f's features of obs's windows gathered from a per-frame table, as the stages read
        them when f is frozen (bcvlr/data/frame_features.py): rows in a new order each call."""
        with torch.no_grad():
            table = encoder(obs.flatten(0, 1))
        return lambda: table[torch.randperm(len(table), device=device).view(obs.shape[:2])]

    def latent_actions(table: bool = False):
        # ours: bcvlr's LatentActionLearner.update, what pretrain_latent_actions runs (frozen f)
        learner = bcvlr.LatentActionLearner(cfg, bcvlr.build_encoder(cfg, shape).to(device),
                                            device)  # fmt: skip
        learner.model.train()
        obs = uint8(la.batch_size, la.window, *shape, device=device)
        feats = from_table(learner.encoder, obs)

        def ours():
            if table:
                learner.update_on_features(feats())
            else:
                learner.update(obs)

        # theirs: run_offline.py's train_step (IDM label, WM label, AdamW via doy, clip 2)
        idm, wm = their_nets(authors, a_dim)
        wm.conv = idm.conv  # as run_offline.py shares the encoder
        opt_t, sched = adamw_scheduler(authors, y["offline_pt"]["lr"], [wm, idm])
        env = {"idm": idm, "wm": wm, "opt": opt_t, "lr_sched": sched, "step": 0, "torch": torch,
               "train_iter": their_batches(authors, obs), "logger": logger,
               "step_repre_max": 0}  # fmt: skip
        define(off, "train_step", env, off_file)
        sizes = (
            params(learner.model),
            params(idm.conv_stack, idm.fc, idm.policy_head, wm) - params(wm.conv),
        )
        return ours, env["train_step"], sizes

    def finetune():
        # ours: OnlineLearner.finetune_step
        agent = bcvlr.Agent(cfg, task, shape).to(device)
        learner = bcvlr.OnlineLearner(cfg, agent)
        obs = uint8(oc.ft_batch_size, la.window, *shape, device=device)
        acts = torch.rand(oc.ft_batch_size, la.window, a_dim, device=device) * 2 - 1

        def ours():
            learner.finetune_step(obs, acts[:, 0])

        # theirs: run_online.py's first while-loop body (IDM+decoder update with beta*(wm+vq))
        idm, wm = their_nets(authors, a_dim)
        decoder = authors.utils.create_decoder(in_dim=their_model_config(authors, a_dim).la_dim,
                                               out_dim=a_dim, device=device,
                                               hidden_sizes=(192, 128, 64))  # fmt: skip
        env = {"idm": idm, "wm": wm, "idm_decoder": decoder, "F": torch.nn.functional,
               "cfg": types.SimpleNamespace(wm_loss_alpha=y["wm_loss_alpha"]),
               "decoder_opt": torch.optim.Adam(authors.utils.chain(
                   idm.parameters(), decoder.parameters()), lr=y["decoder_lr"]),
               "wm_opt_wm": torch.optim.Adam(wm.parameters(), lr=y["wm_opt_lr"]),
               "collect_iter": their_batches(authors, obs, acts)}  # fmt: skip
        define(on, "wm_collect_loss", env, on_file)
        idm.train()
        theirs = compile_body(loop_body(on, "finetuning_policylearning_each_iteration", 0), env,
                          on_file, prelude="count = 0")  # fmt: skip
        sizes = (
            params(agent.lam, agent.decoder),
            params(idm.conv_stack, idm.fc, idm.policy_head, wm, decoder) - params(wm.conv),
        )
        return ours, theirs, sizes

    def bc(warmup: bool, table: bool = False):
        # ours: OnlineLearner.bc_step (the warm-up runs the same step)
        agent = bcvlr.Agent(cfg, task, shape).to(device)
        learner = bcvlr.OnlineLearner(cfg, agent)
        obs = uint8(oc.bc_batch_size, la.window, *shape, device=device)
        feats = from_table(agent.encoder, obs)

        def ours():
            if table:
                learner.bc_step_on_features(feats())
            else:
                learner.bc_step(obs)

        idm, _ = their_nets(authors, a_dim)
        policy = authors.utils.create_policy(their_model_config(authors, a_dim),
                                             action_dim=their_model_config(authors, a_dim).la_dim)  # fmt: skip
        policy.conv.load_state_dict(idm.conv.state_dict())
        env = {"idm": idm, "policy": policy, "torch": torch, "F": torch.nn.functional,
               "logger": logger, "expert_iter": their_batches(authors, obs),
               "train_iter": their_batches(authors, obs)}  # fmt: skip
        if warmup:
            # run_offline.py's optional_pre_imitation loop body: AdamW via doy, IDM labels
            # outside no_grad (so backward runs through its head too)
            env["opt"], env["lr_sched"] = adamw_scheduler(
                authors, y["latent_policy_imitaiton"]["lr"], [policy]
            )
            env["step"] = 1
            idm.eval()  # their pre-imitation puts the IDM in eval mode
            theirs = compile_body(loop_body(off, "optional_pre_imitation", 0), env, off_file)
        else:
            # run_online.py's second while-loop body: Adam lr 1e-3, labels under no_grad
            env["policy_opt"] = torch.optim.Adam(policy.parameters(), lr=y["policy_lr"])
            idm.train()
            theirs = compile_body(loop_body(on, "finetuning_policylearning_each_iteration", 1),
                              env, on_file, prelude="count = 0")  # fmt: skip
        sizes = (params(agent.policy), params(policy) - params(policy.conv))
        return ours, theirs, sizes

    return [
        ("feature pretraining", fc.batch_size, features),
        ("latent-action pretraining", la.batch_size, latent_actions),
        ("online finetune (eq. 3)", oc.ft_batch_size, finetune),
        ("latent BC (eq. 4)", oc.bc_batch_size, lambda: bc(False)),
        ("latent BC warm-up", oc.bc_batch_size, lambda: bc(True)),
        # the same, ours reading f's per-frame feature table (f is frozen in these stages)
        ("latent-action pt, f's table", la.batch_size, lambda: latent_actions(table=True)),
        ("latent BC (eq. 4), f's table", oc.bc_batch_size, lambda: bc(False, table=True)),
        ("latent BC warm-up, f's table", oc.bc_batch_size, lambda: bc(True, table=True)),
    ]


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
    parser.add_argument("--task", default="finger_spin")
    parser.add_argument("--steps", type=int, default=5)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    task = get_task(args.task)
    if task.suite != "dmc":
        sys.exit("the authors' continuous code is for DMC tasks")
    cfg = load_config(bcvlr.Config, None, base=bcvlr.default_config(task))
    device = resolve_device(cfg.device)
    try:
        authors = load_authors(args.authors_repo.resolve(), args.authors_deps, device)
    except AuthorsCodeMissing as err:
        sys.exit(str(err))
    dev = torch.cuda.get_device_name() if device.type == "cuda" else _cpu_name()
    load0 = os.getloadavg()
    print(f"# {task.name}, {dev}, {os.cpu_count()} cores, torch {torch.__version__}, "
          f"{torch.get_num_threads()} threads, {time.strftime('%Y-%m-%d %H:%M')}, "
          f"authors' code {checkout_commit(args.authors_repo)}, median of {args.steps} interleaved "
          f"updates each, load average {load0[0]:.2f}")  # fmt: skip
    print(f"# stand-ins for their non-update imports: {', '.join(authors.stood_in)}")
    print(f"{'stage':<27} {'batch':>5} {'ms ours':>9} {'ms theirs':>9} {'theirs/ours':>11} "
          f"{'params ours':>11} {'params theirs':>13}")  # fmt: skip
    warnings.filterwarnings("ignore", message=".*duplicate parameters.*")  # their shared conv
    for name, batch, build in stages(cfg, task, authors, device):
        ours, theirs, (p_ours, p_theirs) = build()
        t_ours, t_theirs = interleaved(ours, theirs, args.steps)
        print(f"{name:<27} {batch:>5} {1e3 * t_ours:>9.0f} {1e3 * t_theirs:>9.0f} "
              f"{t_theirs / t_ours:>11.2f} {p_ours:>11,} {p_theirs:>13,}", flush=True)  # fmt: skip
    print(f"# load average at the end {os.getloadavg()[0]:.2f}; their own batch sizes: features "
          f"512 (run_offline.py), latent {authors.yaml['offline_pt']['bs']}, finetune 512 "
          f"(run_online.py), BC {authors.yaml['offline_pt']['bs']}, warm-up "
          f"{authors.yaml['latent_policy_imitaiton']['bs']}")  # fmt: skip


if __name__ == "__main__":
    main()
