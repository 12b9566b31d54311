"""Feature pretraining gradients of f (DMC encoder, batch 32, one update from the same weights
and views) in fp32 with NCHW and with channels-last inputs, each against the same update in fp64.

    OMP_NUM_THREADS=1 python docs/runs/2026-12-07-speed/layout_vs_fp64.py
"""

import copy

import torch

from bcvlr.config import load_config
from bcvlr.method import bcvlr
from bcvlr.tasks import get_task


def grads(learner, obs, fmt, dtype) -> dict[str, torch.Tensor]:
    learner = copy.deepcopy(learner)
    learner.modules.to(dtype=dtype).to(memory_format=fmt)
    gen = torch.Generator().manual_seed(1)
    views = [learner.aug(obs[:, i], gen).to(dtype).contiguous(memory_format=fmt) for i in (0, 1)]
    anchor = learner.encoder.net(views[0] / 255.0 - 0.5)
    with torch.no_grad():
        target = learner.target_encoder.net(views[1] / 255.0 - 0.5)
    learner.head(anchor, target).backward()
    return {n: p.grad.double() for n, p in learner.encoder.named_parameters()}


def worst(a: dict, b: dict) -> float:
    return max(((a[n] - b[n]).abs().max() / b[n].abs().max()).item() for n in b)


def main() -> None:
    torch.set_num_threads(1)
    task = get_task("finger_spin")
    cfg = load_config(bcvlr.Config, None, base=bcvlr.default_config(task))
    torch.manual_seed(0)
    learner = bcvlr.FeatureLearner(cfg, (9, 64, 64), torch.device("cpu"))
    obs = torch.randint(0, 256, (32, 2, 9, 64, 64), dtype=torch.uint8)
    ref = grads(learner, obs, torch.contiguous_format, torch.float64)
    nchw = grads(learner, obs, torch.contiguous_format, torch.float32)
    last = grads(learner, obs, torch.channels_last, torch.float32)
    print(f"NCHW fp32 vs fp64, worst encoder gradient (relative): {worst(nchw, ref):.2e}")
    print(f"channels-last fp32 vs fp64: {worst(last, ref):.2e}")
    print(f"NCHW vs channels-last (fp32): {worst(last, nchw):.2e}")


if __name__ == "__main__":
    main()
