"""Updates per second of each BCV-LR stage on synthetic uint8 batches (each stage's own update:
FeatureLearner, LatentActionLearner, OnlineLearner).

    python -m benchmarks.bcvlr --task finger_spin [--config config/bcvlr/mini.yaml] [--steps 5]
        [--videos VIDEOS] [--set precision=bf16 ...]

Prints, per stage, seconds per update and updates/s at the config's batch sizes (by default the
paper's: Tables 11-12), on this machine's device (CUDA when available). With ``--videos``, also
each stage on real batches sampled from the videos as the stage samples them (feature
pretraining, from the samplers and from the frames held on the device; eq. 2 and eq. 4 with each window encoded, and with f's per-frame feature table and
the seconds to build it), and each real row's update rate as a share of the synthetic one."""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import time

# This file is named like the package: drop its own folder from the import path first.
sys.path[:] = [p for p in sys.path if os.path.abspath(p or ".") != os.path.dirname(__file__)]

import torch  # noqa: E402

from bcvlr.config import ConfigError, load_config  # noqa: E402
from bcvlr.data import VideoDataset  # noqa: E402
from bcvlr.method import bcvlr  # noqa: E402
from bcvlr.run.device import resolve_device  # noqa: E402
from bcvlr.tasks import get_task  # noqa: E402


def timed(fn, steps: int) -> float:
    fn()  # warm-up (allocations, cuDNN autotune)
    if torch.cuda.is_available():
        torch.cuda.synchronize()
    times = []
    for _ in range(steps):
        t0 = time.perf_counter()
        fn()
        if torch.cuda.is_available():
            torch.cuda.synchronize()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--task", default="finger_spin")
    parser.add_argument("--config")
    parser.add_argument("--steps", type=int, default=5)
    parser.add_argument("--videos", help="an expert-video dataset of --task: real-data rows")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="a config override, e.g. precision=bf16 (repeatable)")  # fmt: skip
    args = parser.parse_args()
    task = get_task(args.task)
    try:
        cfg = load_config(bcvlr.Config, args.config, args.set, base=bcvlr.default_config(task))
    except ConfigError as err:
        sys.exit(str(err))
    device = resolve_device(cfg.device)
    shape = (3 * task.frame_stack, 64, 64)
    agent = bcvlr.Agent(cfg, task, shape).to(device)
    fc, la, oc = cfg.features, cfg.latent_actions, cfg.online

    def uint8(*s):
        return torch.randint(0, 256, s, dtype=torch.uint8, device=device)

    # stages 1 and 2: the very updates pretrain_features and pretrain_latent_actions run
    features = bcvlr.FeatureLearner(cfg, shape, device)
    feat_obs = uint8(fc.batch_size, features.window, *shape)
    updates = [0]

    def features_step():
        features.update(feat_obs, updates[0])
        updates[0] += 1

    latent = bcvlr.LatentActionLearner(cfg, bcvlr.build_encoder(cfg, shape).to(device), device)
    la_obs = uint8(la.batch_size, la.window, *shape)

    def latent_step():
        latent.update(la_obs)

    learner = bcvlr.OnlineLearner(cfg, agent)
    ft_obs = uint8(oc.ft_batch_size, la.window, *shape)
    ft_act = (torch.randint(0, 15, (oc.ft_batch_size,), device=device)
              if task.action_space.is_discrete
              else torch.rand(oc.ft_batch_size, task.action_space.size, device=device))  # fmt: skip
    bc_obs = uint8(oc.bc_batch_size, la.window, *shape)

    rows = [
        ("feature pretraining", fc.batch_size, timed(features_step, args.steps)),
        ("latent-action pretraining", la.batch_size, timed(latent_step, args.steps)),
        ("online finetune (eq. 3)", oc.ft_batch_size,
         timed(lambda: learner.finetune_step(ft_obs, ft_act), args.steps)),
        ("latent BC (eq. 4)", oc.bc_batch_size, timed(lambda: learner.bc_step(bc_obs), args.steps)),
    ]  # fmt: skip
    if args.videos:
        rows += real_data_rows(cfg, VideoDataset(args.videos), features, latent, learner, device,
                               args.steps)  # fmt: skip
    synthetic = {name: sec for name, _, sec in rows[:4]}
    dev = torch.cuda.get_device_name() if device.type == "cuda" else platform.processor() or "cpu"
    print(f"# {task.name}, config {args.config or 'paper'} {' '.join(args.set)}, {dev}, "
          f"{os.cpu_count()} cores, "
          f"torch {torch.__version__}, {torch.get_num_threads()} threads, "
          f"{time.strftime('%Y-%m-%d')}, median of {args.steps}")  # fmt: skip
    print(f"{'stage':<44} {'batch':>6} {'s/update':>10} {'updates/s':>10} {'of synthetic':>12}")
    for name, batch, sec in rows:
        rate = f"{1 / sec:.2f}" if batch else "(once)"
        stage = name.split(", real")[0]
        share = f"{synthetic[stage] / sec:.0%}" if ", real" in name else ""
        print(f"{name:<44} {batch or '':>6} {sec:>10.3f} {rate:>10} {share:>12}")
    print(whole_run(task, args.config, cfg, rows))


def whole_run(task, config: str | None, cfg, rows) -> str:
    """One BCV-LR run of ``task`` at the config's budget (the task's by default) on the default
    amount of videos, stage by stage on this machine: an ESTIMATE from the per-update rates above through the workflow's cost
    model (bcvlr/workflow/cost.py), with the env step costs of config/costs.yaml."""
    from bcvlr import workflow as wf
    from bcvlr.workflow import cost

    sec = {name: s for name, _, s in rows}

    def rate(name: str, batch: int, real: str) -> dict:
        out = {"batch": batch, "synthetic": 1 / sec[name]}
        return out | ({"real": 1 / sec[real]} if real in sec else {})

    fc, la, oc = cfg.features, cfg.latent_actions, cfg.online
    rates = cost.load_rates()
    rates["stage_rates"] = {task.suite: {
        "features": rate("feature pretraining", fc.batch_size, "feature pretraining, real"),
        "actions": rate("latent-action pretraining", la.batch_size,
                        next((n for n in ("latent-action pretraining, real, f's table",
                                          "latent-action pretraining, real, encoded") if n in sec),
                             "")),
        "finetune": rate("online finetune (eq. 3)", oc.ft_batch_size, ""),
        "bc": rate("latent BC (eq. 4)", oc.bc_batch_size, ""),
    }}  # fmt: skip
    entry = {"resources": {"gpu": 0}} | ({"config": config} if config else {})
    plan = {"name": "benchmark", "tasks": [task.name], "seeds": [0], "methods": {"bcvlr": entry}}
    wf.check_config(plan)
    grid = cost.GridCost(wf.Plan(plan), rates, rates_of="bcvlr")  # the rates are this config's
    lines = [f"# one run of {task.name} on this machine, ESTIMATED from the rates above "
             "(bcvlr/workflow/cost.py; env steps: config/costs.yaml)"]  # fmt: skip
    total = 0.0
    for stage in cost.STAGES:
        est = grid.estimate("bcvlr", stage, task.name)
        if not est.measured:
            lines.append(f"{stage:<10} {est.why}")
            continue
        total += est.minutes
        parts = ", ".join(f"{k} {v:.1f}" for k, v in est.parts.items())
        lines.append(f"{stage:<10} {est.minutes:>10.1f} min  ({parts})")
    lines.append(f"{'total':<10} {total:>10.1f} min = {total / 60:.1f} h")
    return "\n".join(lines)


def real_data_rows(cfg, videos: VideoDataset, features, latent, learner, device,
                   steps: int) -> list:  # fmt: skip
    """Each stage on sampled video windows: feature pretraining; eq. 2 and eq. 4 with each
    window encoded, then from f's table."""
    la, oc = cfg.latent_actions, cfg.online
    batches = bcvlr.VideoBatches([videos], features.window, cfg.features.batch_size, seed=0)
    updates = [0]

    def features_step():
        features.update(batches.sample(device), updates[0])
        updates[0] += 1

    rows = [("feature pretraining, real", cfg.features.batch_size, timed(features_step, steps))]
    # the frames held on the device, as the stage does on a GPU (pretrain.hold_frames)
    t0 = time.perf_counter()
    if batches.hold_frames(device, cfg.feature_cache_mb)["frames_on_device/mb"]:
        rows.append((f"  frames held once ({videos.num_frames} frames)", 0,
                     time.perf_counter() - t0))  # fmt: skip
        rows.append(("feature pretraining, real, frames held", cfg.features.batch_size,
                     timed(features_step, steps)))  # fmt: skip
    batches.close()
    for name, learn, window, batch in (
        ("latent-action pretraining", latent, la.window, la.batch_size),
        ("latent BC (eq. 4)", learner, learner.window, oc.bc_batch_size),
    ):
        encoder = learn.encoder if learn is latent else learn.agent.encoder
        on_windows = learn.update if learn is latent else learn.bc_step
        on_features = learn.update_on_features if learn is latent else learn.bc_step_on_features
        batches = bcvlr.VideoBatches([videos], window, batch, seed=0)
        rows.append((f"{name}, real, encoded", batch,
                     timed(lambda: on_windows(batches.sample(device)), steps)))  # noqa: B023
        t0 = time.perf_counter()
        if not batches.cache_features(encoder, device, cfg.feature_cache_mb)["feature_cache/mb"]:
            batches.close()  # over feature_cache_mb: the stages encode every window, as above
            continue
        rows.append((f"  f's table built once ({videos.num_frames} frames)", 0,
                     time.perf_counter() - t0))  # fmt: skip
        rows.append((f"{name}, real, f's table", batch,
                     timed(lambda: on_features(batches.sample_features(encoder, device)),  # noqa: B023
                           steps)))  # fmt: skip
        if learn is learner:  # eq. 4's targets gathered too: p's latents of every transition
            t0 = time.perf_counter()
            learner.agent.lam.eval()
            labels = batches.features[0].of_windows(learner.agent.lam.latent, la.window)
            rows.append(("  p's labels built once", 0, time.perf_counter() - t0))
            table = batches.features[0].table

            def on_labels(batches=batches, table=table, labels=labels):
                r = torch.from_numpy(batches.sample_rows()[0])
                learner.bc_step_on_latents(table[r], labels[r + learner.lead])

            rows.append((f"{name}, real, f's table + p's labels", batch, timed(on_labels, steps)))
        batches.close()
    return rows


if __name__ == "__main__":
    main()
