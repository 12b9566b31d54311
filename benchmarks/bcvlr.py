"""Updates per second of each BCV-LR stage on synthetic uint8 batches.

    python -m benchmarks.bcvlr --task finger_spin [--config config/bcvlr/mini.yaml] [--steps 5]

Prints, per stage, seconds per update and updates/s at the config's batch sizes (by default the
paper's: Tables 11-12), on this machine's device (CUDA when available)."""

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

from bcvlr.config import load_config  # noqa: E402
from bcvlr.method import bcvlr  # noqa: E402
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
    args = parser.parse_args()
    task = get_task(args.task)
    cfg = load_config(bcvlr.Config, args.config, base=bcvlr.default_config(task))
    device = bcvlr.device_of(cfg)
    shape = (3 * task.frame_stack, 64, 64)
    agent = bcvlr.Agent(cfg, task, shape).to(device)
    fc, la, oc = cfg.features, cfg.latent_actions, cfg.online

    def uint8(*s):
        return torch.randint(0, 256, s, dtype=torch.uint8, device=device)

    # stage 1: the SSL objective with the momentum encoder, as pretrain_features does it
    from bcvlr.nets.augment import RandomShift
    from bcvlr.nets.ssl import CurlContrastive, PrototypeTemporal

    enc, tgt = agent.encoder, bcvlr.build_encoder(cfg, shape).to(device)
    head = (PrototypeTemporal(enc.feature_dim, fc.proj_dim, fc.predictor_hidden,
                              fc.num_prototypes) if fc.objective == "prototype"
            else CurlContrastive(enc.feature_dim, fc.proj_dim, fc.predictor_hidden)).to(device)  # fmt: skip
    opt = torch.optim.Adam(list(enc.parameters()) + list(head.parameters()), lr=fc.lr)
    aug = RandomShift(fc.shift_pad)
    feat_obs = uint8(fc.batch_size, 2, *shape).float()

    def features_step():
        with torch.no_grad():
            t = tgt(aug(feat_obs[:, 1]))
        loss = head(enc(aug(feat_obs[:, 0])), t)
        opt.zero_grad()
        loss.backward()
        opt.step()

    lam_opt = torch.optim.AdamW(agent.lam.parameters(), lr=la.idm_lr)
    la_obs = uint8(la.batch_size, la.window, *shape)

    def latent_step():
        feats = bcvlr.encode_windows(enc, la_obs, grad=False)
        _, wm, vq = agent.lam.losses(feats)
        lam_opt.zero_grad()
        (wm + vq).backward()
        lam_opt.step()

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
    dev = torch.cuda.get_device_name() if device.type == "cuda" else platform.processor() or "cpu"
    print(f"# {task.name}, config {args.config or 'paper'}, {dev}, {os.cpu_count()} cores, "
          f"torch {torch.__version__}, {torch.get_num_threads()} threads, "
          f"{time.strftime('%Y-%m-%d')}, median of {args.steps}")  # fmt: skip
    print(f"{'stage':<28} {'batch':>6} {'s/update':>10} {'updates/s':>10}")
    for name, batch, sec in rows:
        print(f"{name:<28} {batch:>6} {sec:>10.3f} {1 / sec:>10.2f}")


if __name__ == "__main__":
    main()
