"""Where the expert's action is lost, measured on held-out expert video windows (their labels;
diagnostics only, nothing here trains the method):

    python -m bcvlr.method.action_readout supervised --task T --videos V \
        --features FEATURES.pt|pixels|fresh [--config C] [--set k=v] [--updates N]
    python -m bcvlr.method.action_readout agent --run RUN_DIR --videos V

``supervised``: p's architecture and a linear head trained on the videos' labels (a_t from
o_t, o_t+1) on f's features (or on the frames, or on a fresh f), fitted on even episodes and
scored on odd ones (R^2; for discrete actions the accuracy, beside the most common action's
share): an upper bound for what eq. 2 could put into z. On the frames, for Procgen, it says
how readable an expert's actions are from its videos (docs/experts.md).
``agent``: an online run's latest checkpoint on expert windows: how well pi(f(o)) clones p's
latents, and how well d(z) and d(pi(f(o))) give the expert's action.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import torch
from torch import nn
from torch.nn import functional as F

from bcvlr.config import from_dict, load_config
from bcvlr.data import VideoDataset, WindowSampler
from bcvlr.errors import report_user_errors
from bcvlr.method import bcvlr
from bcvlr.run.checkpoint import load_checkpoint
from bcvlr.tasks import get_task


def accuracy(logits: torch.Tensor, y: torch.Tensor) -> float:
    return (logits.argmax(-1) == y).double().mean().item()


def r2(pred: torch.Tensor, y: torch.Tensor) -> float:
    """R^2 per action dimension, averaged."""
    pred, y = pred.double(), y.double()
    return (1 - ((pred - y) ** 2).sum(0) / ((y - y.mean(0)) ** 2).sum(0)).mean().item()


class Pixels(nn.Module):
    """The frames themselves as "features"."""

    def __init__(self, shape: tuple[int, int, int]):
        super().__init__()
        self.feature_shape = shape

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.float() / 255 - 0.5


def supervised(args: argparse.Namespace) -> dict[str, float]:
    """Prints the held-out score every ``args.every`` updates; returns the last (``score``)
    and, for discrete actions, the most common held-out action's share (``majority``)."""
    task, videos = get_task(args.task), VideoDataset(args.videos)
    cfg = load_config(bcvlr.Config, args.config, args.set, base=bcvlr.default_config(task))
    torch.manual_seed(args.seed)
    if args.features == "pixels":
        encoder: nn.Module = Pixels(videos.stacked_shape)
    else:
        path = None if args.features == "fresh" else args.features
        encoder = bcvlr.load_encoder(cfg, path, videos.stacked_shape, torch.device("cpu"))
    encoder.requires_grad_(False)
    model = bcvlr.build_latent_action_model(cfg, encoder.feature_shape)
    head = nn.Linear(cfg.latent_actions.latent_dim, task.action_space.size)
    params = [*model.idm.parameters(), *model.to_latent.parameters(), *head.parameters()]
    optim = torch.optim.Adam(params, lr=args.lr)
    labels = videos.open_labels()
    with WindowSampler(videos, window=cfg.latent_actions.window, batch_size=2048,
                       seed=args.seed + 1, prefetch=False) as held:  # fmt: skip
        test = held.sample_with_labels(labels)
    odd = test.index.episode % 2 == 1
    with torch.no_grad():
        test_feats = bcvlr.encode_windows(encoder, torch.from_numpy(test.obs[odd]), grad=False)
    discrete = task.action_space.is_discrete
    labels_of = (lambda a: torch.from_numpy(a).long().reshape(-1)) if discrete else (
        lambda a: torch.from_numpy(a).float())  # fmt: skip
    loss_of = F.cross_entropy if discrete else F.mse_loss
    score_of, score_name = (accuracy, "accuracy") if discrete else (r2, "R2")
    test_actions = labels_of(test.actions[odd, -1])
    share = float("nan")
    if discrete:
        share = torch.bincount(test_actions).max().item() / len(test_actions)
        print(f"held-out windows: {len(test_actions)}, the most common action's share "
              f"{share:.3f}", flush=True)  # fmt: skip
    window = cfg.latent_actions.window
    with WindowSampler(videos, window=window, batch_size=args.batch_size, seed=args.seed,
                       prefetch=False) as sampler:  # fmt: skip
        if cfg.departures.idm_input_norm == "standardize":
            print("p's input standardisation:", model.fit_input_norm(
                bcvlr.encode_windows(encoder, torch.from_numpy(sampler.sample()), grad=False)
                for _ in range(cfg.departures.idm_input_norm_batches)), flush=True)  # fmt: skip
        for update in range(1, args.updates + 1):
            batch = sampler.sample_with_labels(labels)
            even = batch.index.episode % 2 == 0
            feats = bcvlr.encode_windows(encoder, torch.from_numpy(batch.obs[even]), grad=False)
            loss = loss_of(head(model.latent(feats)), labels_of(batch.actions[even, -1]))
            optim.zero_grad(set_to_none=True)
            loss.backward()
            optim.step()
            if update % args.every == 0 or update == args.updates:
                model.eval()
                with torch.no_grad():
                    score = score_of(head(model.latent(test_feats)), test_actions)
                model.train()
                print(f"update {update}: train loss {loss.item():.4f}, held-out {score_name} "
                      f"{score:.3f}", flush=True)  # fmt: skip
    return {"score": score, "majority": share}


def agent(args: argparse.Namespace) -> None:
    run = Path(args.run)
    info = json.loads((run / "run.json").read_text())
    task, videos = get_task(info["task"]), VideoDataset(args.videos)
    cfg = from_dict(bcvlr.Config, info["config"])
    state = load_checkpoint(run / "checkpoints" / "state.pt")
    the_agent = bcvlr.Agent(cfg, task, videos.stacked_shape)
    the_agent.load_state_dict(state["agent"])
    the_agent.eval()
    with WindowSampler(videos, window=2, batch_size=2048, seed=99, prefetch=False) as sampler:
        batch = sampler.sample_with_labels(videos.open_labels())
    actions = torch.from_numpy(batch.actions[:, -1]).float()
    with torch.no_grad():
        feats = bcvlr.encode_windows(the_agent.encoder, torch.from_numpy(batch.obs), grad=False)
        z = the_agent.normalize(the_agent.lam.latent(feats))
        pi = the_agent.policy(feats[:, 0])
        d_z, d_pi = (the_agent.decoder(x).clamp(-1, 1) for x in (z, pi))
    print(f"{run} at step {state['step']}: latent std {z.std(0).mean():.4f}")
    print(f"  R2 pi(f(o)) vs p's latent:        {r2(pi, z):.3f}")
    print(f"  R2 d(z) vs the expert's action:   {r2(d_z, actions):.3f}")
    print(f"  R2 d(pi(f(o))) vs the action:     {r2(d_pi, actions):.3f}")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bcvlr.method.action_readout",
                                     description=__doc__.split("\n\n")[0])  # fmt: skip
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("supervised", help="p's architecture trained on the labels")
    p.add_argument("--task", required=True)
    p.add_argument("--videos", required=True)
    p.add_argument("--features", required=True, help="features.pt, pixels or fresh")
    p.add_argument("--config", default="config/bcvlr/mini.yaml")
    p.add_argument("--set", action="append", metavar="KEY=VALUE")
    p.add_argument("--updates", type=int, default=2000)
    p.add_argument("--every", type=int, default=500)
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--lr", type=float, default=3e-4)
    p.add_argument("--seed", type=int, default=0)
    p.set_defaults(func=supervised)
    p = sub.add_parser("agent", help="an online run's pi, p and d on expert windows")
    p.add_argument("--run", required=True)
    p.add_argument("--videos", required=True)
    p.set_defaults(func=agent)
    args = parser.parse_args(argv)
    sys.exit(report_user_errors(f"action_readout {args.command}", lambda: args.func(args)))


if __name__ == "__main__":
    main()
