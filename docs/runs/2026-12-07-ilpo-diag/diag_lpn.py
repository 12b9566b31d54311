"""Do ILPO's latent actions carry action information? A diagnostic of a trained LPN
(baselines/ilpo.py) on expert videos, reading the videos' action labels (which ILPO never does).

Each sampled video transition (s, a, s') is labelled with z* by the module's own rule
(``LatentPolicyNetwork.label``: the latent whose predicted change of the newest frame is
closest to the observed one, in the loss's pooled pixel space). Transitions are drawn from the
odd-numbered episodes (0-based index) as the held-out set and from the even-numbered ones as
the fit set; a map latent -> action is fitted on the fit set and scored on the held-out set.

    python docs/runs/2026-12-07-ilpo-diag/diag_lpn.py RUN_DIR VIDEOS [--transitions N] [--seed S]

RUN_DIR is an ILPO run folder with run.json and pretrain/lpn/{lpn.pt,stage.json}. Prints one
quantity per line (``name: value``); information measures are in nats.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from baselines import ilpo
from bcvlr.config import load_config
from bcvlr.data import VideoDataset
from bcvlr.envs import expert_videos
from bcvlr.results.provenance import git_commit, git_dirty
from bcvlr.run.stage import load_artifact
from bcvlr.tasks import get_task


# ---------------------------------------------------------------------------------------------
# Pure estimators (no torch)
# ---------------------------------------------------------------------------------------------
def entropy(x: np.ndarray) -> float:
    """Plug-in entropy (nats) of the discrete values x."""
    _, counts = np.unique(x, return_counts=True)
    p = counts / counts.sum()
    return float(-(p * np.log(p)).sum())


def plug_in_mi(x: np.ndarray, y: np.ndarray) -> float:
    """Plug-in mutual information (nats) of paired discrete values: H(x) + H(y) - H(x, y)."""
    _, joint = np.unique(np.stack([x, y], 1), axis=0, return_inverse=True)
    return max(0.0, entropy(x) + entropy(y) - entropy(joint.ravel()))


def mi_bias(x: np.ndarray, y: np.ndarray) -> float:
    """First-order bias of the plug-in MI of independent x, y: (|x| - 1)(|y| - 1) / (2N), with
    |.| the number of distinct values seen."""
    return (len(np.unique(x)) - 1) * (len(np.unique(y)) - 1) / (2 * len(x))


def majority_map(z: np.ndarray, a: np.ndarray, num_latents: int) -> np.ndarray:
    """latent -> its most frequent action in (z, a); a latent never seen maps to the most
    frequent action overall."""
    overall = np.bincount(a).argmax()
    out = np.full(num_latents, overall)
    for k in np.unique(z):
        out[k] = np.bincount(a[z == k]).argmax()
    return out


def latent_means(z: np.ndarray, a: np.ndarray, num_latents: int) -> np.ndarray:
    """(num_latents, D) mean action per latent; a latent never seen gets the overall mean."""
    out = np.tile(a.mean(0), (num_latents, 1))
    for k in np.unique(z):
        out[k] = a[z == k].mean(0)
    return out


def r_squared(target: np.ndarray, pred: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """Per dimension 1 - SSE(pred) / SSE(reference), reference a constant (D,) prediction."""
    return 1 - ((target - pred) ** 2).sum(0) / ((target - reference) ** 2).sum(0)


# ---------------------------------------------------------------------------------------------
# Data: video transitions with their action labels
# ---------------------------------------------------------------------------------------------
@dataclass
class Transitions:
    obs: np.ndarray  # (N, k*C, H, W) uint8
    next_obs: np.ndarray
    actions: np.ndarray  # (N,) int or (N, D) float
    episodes: int  # distinct episodes they come from


def sample_transitions(videos: VideoDataset, parity: int, n: int,
                       rng: np.random.Generator) -> Transitions:  # fmt: skip
    """n transitions drawn uniformly without replacement from the episodes whose index has the
    given parity (all of them if there are fewer)."""
    labels = videos.open_labels()
    episodes = np.arange(parity, videos.num_episodes, 2)
    counts = np.array([videos.locate_episode(int(e))[2] - 1 for e in episodes])
    ends = np.cumsum(counts)
    pick = np.sort(rng.choice(ends[-1], size=min(n, int(ends[-1])), replace=False))
    which = np.searchsorted(ends, pick, side="right")
    steps = pick - (ends - counts)[which]
    obs, nxt, act = [], [], []
    for j in np.unique(which):  # episodes in order: each chunk is decompressed once
        ep = int(episodes[j])
        t = steps[which == j]
        stacked = videos.episode_obs(ep)
        obs.append(stacked[t])
        nxt.append(stacked[t + 1])
        act.append(labels.episode(ep).actions[t])
    return Transitions(np.concatenate(obs), np.concatenate(nxt), np.concatenate(act),
                       len(np.unique(which)))  # fmt: skip


# ---------------------------------------------------------------------------------------------
# The LPN: loaded and applied through baselines/ilpo.py
# ---------------------------------------------------------------------------------------------
def load_run(run_dir: Path, videos: VideoDataset) -> tuple[str, ilpo.LatentPolicyNetwork,
                                                           list[str]]:  # fmt: skip
    """(task name, the run's LPN, warnings): the config from run.json as the harness resolved
    it, checked against the LPN stage's stage.json and the artifact's own copy."""
    info = json.loads((run_dir / "run.json").read_text())
    task = get_task(info["task"])
    cfg = load_config(ilpo.Config, base=info["config"])
    videos = expert_videos(task, videos, "the ILPO diagnostic")  # the check `bcvlr run` does
    lpn_dir = run_dir / "pretrain" / "lpn"
    warnings = []
    stage = json.loads((lpn_dir / "stage.json").read_text())
    if stage.get("status") != "complete":
        warnings.append(f"LPN stage status is {stage.get('status')!r}, not 'complete'")
    if stage["config"]["lpn"] != info["config"]["lpn"]:
        warnings.append("stage.json's lpn config differs from run.json's")
    artifact = load_artifact(lpn_dir / ilpo.LPN_ARTIFACT)
    if tuple(artifact["obs_shape"]) != tuple(videos.stacked_shape):
        warnings.append(f"lpn.pt obs_shape {artifact['obs_shape']} != videos' "
                        f"{videos.stacked_shape}")  # fmt: skip
    if artifact["config"] != dataclasses.asdict(cfg.lpn):
        warnings.append("lpn.pt's config differs from run.json's lpn config")
    lpn = ilpo.load_lpn(lpn_dir / ilpo.LPN_ARTIFACT, cfg, videos.stacked_shape)
    return task.name, lpn.eval(), warnings


@dataclass
class Labelled:
    z_star: np.ndarray  # (N,) the module's label
    pi_argmax: np.ndarray  # (N,) argmax_z pi(z|s)
    loss: dict[str, float]  # lpn_loss's metrics, averaged over the transitions


@torch.no_grad()
def label(lpn: ilpo.LatentPolicyNetwork, data: Transitions, batch: int = 250) -> Labelled:
    z, pi, sums = [], [], {"loss/min": 0.0, "loss/no_change": 0.0, "loss/expected": 0.0}
    for i in range(0, len(data.obs), batch):
        obs = torch.from_numpy(data.obs[i : i + batch])
        nxt = torch.from_numpy(data.next_obs[i : i + batch])
        z.append(lpn.label(obs, nxt))  # the ARN labelling's call (ilpo.remap)
        pi.append(lpn.latent_logits(lpn.encoder(obs)[0]).argmax(1))
        _, metrics = ilpo.lpn_loss(lpn, obs, nxt)  # batch means of the training loss's terms
        for key in sums:
            sums[key] += metrics[key] * len(obs)
    n = len(data.obs)
    return Labelled(torch.cat(z).numpy(), torch.cat(pi).numpy(),
                    {k: v / n for k, v in sums.items()})  # fmt: skip


# ---------------------------------------------------------------------------------------------
# Report
# ---------------------------------------------------------------------------------------------
def fmt(x: np.ndarray) -> str:
    return "[" + " ".join(f"{v:+.3f}" for v in np.atleast_1d(x)) + "]"


def report(task: str, n_latents: int, fit: Transitions, held: Transitions, lf: Labelled,
           lh: Labelled, discrete: bool) -> list[str]:  # fmt: skip
    lines = [f"task: {task}", f"num_latents: {n_latents}"]
    for name, data, lab in (("held-out", held, lh), ("fit", fit, lf)):
        counts = np.bincount(lab.z_star, minlength=n_latents)
        lines += [f"latents_ever_argmin ({name}): {int((counts > 0).sum())}",
                  f"most_used_latent ({name}): {int(counts.argmax())}",
                  f"most_used_latent_share ({name}): {counts.max() / len(data.obs):.4f}"]  # fmt: skip
    zh, zf, ah, af = lh.z_star, lf.z_star, held.actions, fit.actions
    share_f = np.bincount(zf, minlength=n_latents) / len(zf)
    share_h = np.bincount(zh, minlength=n_latents) / len(zh)
    if discrete:
        mi, bias = plug_in_mi(zh, ah), mi_bias(zh, ah)
        mapping = majority_map(zf, af, n_latents)
        majority = np.bincount(af).argmax()
        lines += [f"actions_seen (held-out): {len(np.unique(ah))}",
                  f"I(z*;a) plug-in, held-out (nats): {mi:.4f}",
                  f"I(z*;a) bias (used_latents-1)(actions_seen-1)/(2N): {bias:.4f}",
                  f"I(z*;a) minus bias: {mi - bias:.4f}",
                  f"H(a) held-out (nats): {entropy(ah):.4f}",
                  f"H(z*) held-out (nats): {entropy(zh):.4f}",
                  f"accuracy latent->fit-majority-action (held-out): "
                  f"{(mapping[zh] == ah).mean():.4f}",
                  f"accuracy always fit-majority action {majority} (held-out): "
                  f"{(ah == majority).mean():.4f}"]  # fmt: skip
        for k in np.flatnonzero((share_f > 0) | (share_h > 0)):
            ak = af[zf == k]
            top = "-"
            if len(ak):
                top = f"{mapping[k]} ({(ak == mapping[k]).mean():.3f} of its fit rows)"
            lines.append(f"latent {k}: share_fit {share_f[k]:.4f} share_held {share_h[k]:.4f} "
                         f"fit_majority_action {top}")  # fmt: skip
    else:
        means = latent_means(zf, af, n_latents)
        glob = af.mean(0)
        r2 = r_squared(ah, means[zh], glob)
        pooled = 1 - ((ah - means[zh]) ** 2).sum() / ((ah - glob) ** 2).sum()
        lines += [f"action_dims: {af.shape[1]}",
                  f"fit action mean: {fmt(glob)}", f"fit action std: {fmt(af.std(0))}",
                  f"R^2 held-out action by fit per-latent mean (pooled over dims): {pooled:.4f}",
                  f"R^2 held-out action by fit per-latent mean (per dim): {fmt(r2)}",
                  "R^2 by fit global mean (reference): 0 by definition"]  # fmt: skip
        for k in np.flatnonzero((share_f > 0) | (share_h > 0)):
            ak = af[zf == k]
            stats = f"mean {fmt(ak.mean(0))} std {fmt(ak.std(0))}" if len(ak) else "mean - std -"
            lines.append(f"latent {k}: share_fit {share_f[k]:.4f} share_held {share_h[k]:.4f} "
                         f"fit {stats}")  # fmt: skip
    top_h = np.bincount(zh, minlength=n_latents).argmax()
    lines += [f"loss min_z ||g(s,z)-Delta||^2 (held-out): {lh.loss['loss/min']:.4f}",
              f"loss no change ||Delta||^2 (held-out): {lh.loss['loss/no_change']:.4f}",
              f"loss min over no change (held-out): "
              f"{lh.loss['loss/min'] / max(lh.loss['loss/no_change'], 1e-12):.4f}",
              f"loss expected ||sum_z pi g - Delta||^2 (held-out): "
              f"{lh.loss['loss/expected']:.4f}",
              f"loss min_z (fit): {lf.loss['loss/min']:.4f}",
              f"loss no change (fit): {lf.loss['loss/no_change']:.4f}",
              f"pi argmax == most used z* ({top_h}) share (held-out): "
              f"{(lh.pi_argmax == top_h).mean():.4f}",
              f"pi argmax == own z* share (held-out): {(lh.pi_argmax == zh).mean():.4f}",
              f"pi argmax distinct latents (held-out): {len(np.unique(lh.pi_argmax))}"]  # fmt: skip
    return lines


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("run_dir", type=Path, help="ILPO run folder (run.json, pretrain/lpn/)")
    p.add_argument("videos", help="the expert-video dataset")
    p.add_argument("--transitions", type=int, default=2000, help="per set (default 2000)")
    p.add_argument("--seed", type=int, default=0, help="draws the transitions (default 0)")
    args = p.parse_args()
    torch.set_num_threads(1)
    videos = VideoDataset(args.videos)
    task, lpn, warnings = load_run(args.run_dir, videos)
    rng = np.random.default_rng(args.seed)
    held = sample_transitions(videos, 1, args.transitions, rng)
    fit = sample_transitions(videos, 0, args.transitions, rng)
    lines = [f"git_commit: {git_commit()}" + (" (dirty)" if git_dirty() else ""), f"run_dir: {args.run_dir}",
             f"videos: {videos.path}", f"sample_seed: {args.seed}",
             *(f"WARNING: {w}" for w in warnings),
             f"held-out set: {len(held.obs)} transitions from {held.episodes} odd-numbered "
             f"episodes (0-based index)",
             f"fit set: {len(fit.obs)} transitions from {fit.episodes} even-numbered episodes",
             "z* rule: baselines/ilpo.py LatentPolicyNetwork.label (argmin_z summed squared "
             "error of g(s,z) to the pooled newest-frame change)"]  # fmt: skip
    discrete = videos.task.action_space.is_discrete
    lines += report(task, lpn.num_latents, fit, held, label(lpn, fit), label(lpn, held), discrete)
    print("\n".join(lines))


if __name__ == "__main__":
    main()
