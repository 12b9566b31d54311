"""Whether the latent-action model's VQ and world model carry anything (label-free).

A collapsed VQ snaps every window to one code per position: its latents tell the world model
nothing, which then at best copies the last frame's features. On held-out video windows:

- ``codes_per_position``: distinct codes in use, averaged over the VQ's positions (1 =
  collapsed), and ``code_combinations``: distinct code tuples (of the windows);
- ``wm_over_copy``: the world model's error on f(o_t+1) over the error of copying f(o_t)
  (below 1: it predicts better than "nothing moves");
- ``shuffled_over_wm``: its error with the windows' codes shuffled among them over its error
  with their own (above 1: the codes carry what changes between frames);
- ``latent_std``: the latents' spread per unit, against ``codebook_spacing``, the median
  distance from a codebook entry to its nearest neighbour (a spread far below the spacing
  snaps every latent to one entry).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


@torch.no_grad()
def latent_action_health(encoder, model, windows: torch.Tensor, seed: int = 0) -> dict[str, float]:
    """The measurements above on uint8 windows (B, window, C, H, W), with the model in eval
    mode (its VQ and BatchNorm statistics untouched); ``seed`` draws the shuffle."""
    was = model.training
    model.eval()
    b, w = windows.shape[:2]
    feats = encoder(windows.flatten(0, 1)).unflatten(0, (b, w))
    z = model.latent(feats)
    z_q, _, codes = model.vq(z)
    context, target = feats[:, :-1].flatten(1, 2), feats[:, -1]
    wm = F.mse_loss(model.world_model(context, z_q), target).item()
    order = torch.randperm(b, generator=torch.Generator().manual_seed(seed)).to(z_q.device)
    shuffled = F.mse_loss(model.world_model(context, z_q[order]), target).item()
    copy = F.mse_loss(feats[:, -2], target).item()
    emb = model.vq.embedding  # (codebooks, entries, dim)
    spacing = torch.cdist(emb, emb) + torch.eye(emb.shape[1], device=emb.device) * 1e30
    model.train(was)
    return {
        "health/codes_per_position": float(sum(len(c.unique()) for c in codes.T) / codes.shape[1]),
        "health/code_combinations": float(len(codes.unique(dim=0))),
        "health/wm_mse": wm,
        "health/copy_mse": copy,
        "health/wm_over_copy": wm / max(copy, 1e-30),
        "health/shuffled_over_wm": shuffled / max(wm, 1e-30),
        "health/latent_std": z.std(0).mean().item(),
        "health/codebook_spacing": spacing.min(-1).values.median().item(),
    }


HEALTH_COLUMNS = ("codes_per_position", "code_combinations", "wm_over_copy", "shuffled_over_wm",
                  "latent_std", "codebook_spacing")  # fmt: skip


def health_table(stage_dirs: list[str], every: int = 1000) -> str:
    """A markdown table of the health metrics that latent-action stages logged in their
    metrics.csv, one row per stage and probe point (multiples of ``every``), with the stage's
    wall-clock seconds at that point."""
    import pandas as pd

    lines = ["| stage | update | " + " | ".join(HEALTH_COLUMNS) + " | wall s |",
             "| --- " * (len(HEALTH_COLUMNS) + 3) + "|"]  # fmt: skip
    for stage in stage_dirs:
        m = pd.read_csv(f"{stage}/metrics.csv")
        m = m[m.metric.str.startswith("health/") & (m.step % every == 0)]
        for step, rows in m.groupby("step"):
            value = dict(zip(rows.metric.str.removeprefix("health/"), rows.value, strict=True))
            cells = [f"{value[c]:.3g}" for c in HEALTH_COLUMNS]
            lines.append(f"| {stage.rstrip('/').rsplit('/', 1)[-1]} | {step} | "
                         + " | ".join(cells) + f" | {rows.wall_time.iloc[0]:.0f} |")  # fmt: skip
    return "\n".join(lines)


if __name__ == "__main__":
    import argparse

    parser = argparse.ArgumentParser(description="the latent-action stages' VQ / world-model "
                                     "health, as a markdown table")  # fmt: skip
    parser.add_argument("stages", nargs="+", help="latent-action stage folders (metrics.csv)")
    parser.add_argument("--every", type=int, default=1000, help="probe points to show")
    args = parser.parse_args()
    import sys

    from bcvlr.errors import report_user_errors

    sys.exit(report_user_errors("latent_actions",
                                lambda: print(health_table(args.stages, args.every))))  # fmt: skip
