"""The latent-action probe: how much of the action p's latents carry, on video or replay windows
(diagnostics only: training never reads it; `diagnostics.enabled: true` turns it on)."""

from __future__ import annotations

import hashlib
import math
from collections.abc import Sequence

import numpy as np
import torch
import torch.nn.functional as F

from bcvlr.data import VideoDataset, WindowSampler
from bcvlr.data.window_replay import WindowReplay
from bcvlr.diagnostics.config import DiagnosticsConfig
from bcvlr.nets.features import encode_windows
from bcvlr.nets.mlp import mlp
from bcvlr.run.seeding import seeded
from bcvlr.tasks import Task

SCENE_POOL = 4  # the probe's scene: f(o_t) average-pooled to 4x4 per channel
PROBE_DECODER_HIDDEN = 128  # the authors' decoder: 2 hidden layers of 128 (utils.create_decoder)
PROBE_DECODER_BATCH = 128


class LatentActionProbe:
    """How much of the true action the latent actions carry (the authors' diagnostic), fitted
    on the windows of even-numbered video episodes and scored on odd ones (R^2, or accuracy):
    a ridge regression from z to the action (one-hot for discrete actions) and, unless
    ``decoder_updates`` is 0, the authors' decoder, an MLP (keys ``mlp_...``). It reads the
    dataset's labels, which training never does."""

    def __init__(self, fit: tuple[np.ndarray, np.ndarray], held_out: tuple[np.ndarray, np.ndarray],
                 discrete: bool, num_actions: int, prefix: str = "probe",
                 decoder_updates: int = 0):  # fmt: skip
        self.fit_set, self.eval_set = fit, held_out
        self.discrete, self.num_actions, self.prefix = discrete, num_actions, prefix
        self.decoder_updates = decoder_updates
        # the scene-only scores of the latest scene (its digest), per (MLP, decoder updates)
        self._scene_digest = ""
        self._scene_scores: dict[tuple[bool, int], float] = {}

    @classmethod
    def from_replay(cls, replay: WindowReplay, window: int, windows: int, task: Task,
                    prefix: str, newest: int | None = None, decoder_updates: int = 0,
                    action_lead: int = 0) -> LatentActionProbe:  # fmt: skip
        """On the agent's own transitions (the ``newest`` entries of each env, or all), each
        window once, fitted on even episodes and scored on odd ones (within a single episode:
        its first half, then its second); z of the last transition against the action eq. 3
        pairs it with (``action_lead`` steps before it)."""
        obs, acts, episode = replay.windows(window + action_lead, newest, windows, action_lead)
        obs = obs[:, action_lead:]
        odd = episode % 2 == 1
        if odd.all() or not odd.any():
            odd = np.arange(len(odd)) >= len(odd) // 2
        return cls((obs[~odd], acts[~odd]), (obs[odd], acts[odd]),
                   task.action_space.is_discrete, task.action_space.size, prefix,
                   decoder_updates)  # fmt: skip

    @classmethod
    def from_videos(cls, videos: VideoDataset, window: int, diag: DiagnosticsConfig,
                    seed: int) -> LatentActionProbe | None:  # fmt: skip
        """On labelled video windows of ``window`` frames, each the last of ``window`` plus
        ``diag.probe_action_lag``; None for a dataset without labels."""
        if not videos.has_actions:
            return None
        labels = videos.open_labels()
        lag = diag.probe_action_lag  # windows of window + lag frames; p reads the last `window`
        sampler = WindowSampler(videos, window=window + lag, batch_size=diag.probe_windows,
                                seed=seed + 4242, prefetch=False)  # fmt: skip
        batch = sampler.sample_with_labels(labels)
        sampler.close()
        obs, acts = batch.obs[:, lag:], batch.actions[:, -1 - lag]
        odd = batch.index.episode % 2 == 1
        if odd.all() or not odd.any():
            return None
        task = videos.task
        return cls((obs[~odd], acts[~odd]), (obs[odd], acts[odd]),
                   task.action_space.is_discrete, task.action_space.size,
                   decoder_updates=diag.probe_decoder_updates)  # fmt: skip

    def _encode(self, obs, encoder, model, device) -> tuple[torch.Tensor, torch.Tensor]:
        """Each window's z and its scene: f of the frame the action is taken in, average-pooled
        to SCENE_POOL x SCENE_POOL (float64, on the CPU)."""
        was = model.training
        model.eval()
        zs, scenes = [], []
        with torch.no_grad():
            for o in np.array_split(obs, max(1, len(obs) // 256)):
                feats = encode_windows(encoder, torch.from_numpy(o).to(device), grad=False)
                zs.append(model.latent(feats).cpu().double())
                scene = F.adaptive_avg_pool2d(feats[:, -2].double(), SCENE_POOL)
                scenes.append(scene.flatten(1).cpu())
        model.train(was)
        return torch.cat(zs), torch.cat(scenes)

    def _targets(self, actions: np.ndarray) -> torch.Tensor:
        if self.discrete:
            return F.one_hot(torch.from_numpy(actions).long(), self.num_actions).double()
        return torch.from_numpy(actions).double()

    def _fit_and_score(self, xf: torch.Tensor, xe: torch.Tensor, yf: torch.Tensor,
                       ye: torch.Tensor, use_mlp: bool = False) -> dict[str, float]:  # fmt: skip
        # standardised with the fit set's statistics, so that the ridge penalty means the same
        # whatever the inputs' scale (latents of std ~1e-3 would otherwise score ~0), and the
        # MLP's default learning rate too; held-out inputs clipped to the fit set's range: a
        # near-dead feature channel (std 2e-6 in the fit set) put one held-out window 5,600
        # stds out, and its extrapolation scored the scene at R^2 -3
        mean, std = xf.mean(0), xf.std(0).clamp_min(1e-12)
        xf, xe = (xf - mean) / std, (xe - mean) / std
        xe = xe.clamp(xf.min(0).values, xf.max(0).values)
        if use_mlp:
            pred = _mlp_decode(xf, yf, xe, self.discrete, self.decoder_updates)
        else:
            ones = torch.ones(1, dtype=xf.dtype)
            xf = torch.cat([xf, ones.expand(len(xf), 1)], 1)
            xe = torch.cat([xe, ones.expand(len(xe), 1)], 1)
            pred = xe @ _ridge(xf, yf, _select_penalty(xf, yf))
        if self.discrete:
            return {"action_accuracy": (pred.argmax(1) == ye.argmax(1)).double().mean().item()}
        # variance-weighted R^2: action dimensions an expert never varies (a fixed gripper
        # command) would make a per-dimension mean undefined
        r2 = 1 - ((pred - ye) ** 2).sum() / ((ye - ye.mean(0)) ** 2).sum().clamp_min(1e-12)
        return {"action_r2": r2.item(), "action_mse": ((pred - ye) ** 2).mean().item()}

    def score(self, encoder, model, device) -> dict[str, float]:
        """The probe from z (``action_r2``/``action_accuracy``), and, because a scripted
        expert's action is largely a function of what it sees, the same probe from the scene
        alone and from the scene and z together: ``beyond_scene`` is what z adds to the scene,
        the part of the action only the motion between the frames shows."""
        zf, scene_f = self._encode(self.fit_set[0], encoder, model, device)
        ze, scene_e = self._encode(self.eval_set[0], encoder, model, device)
        y = self._targets(self.fit_set[1]), self._targets(self.eval_set[1])
        key = "action_accuracy" if self.discrete else "action_r2"
        both_f, both_e = torch.cat([scene_f, zf], 1), torch.cat([scene_e, ze], 1)
        # f is frozen through latent-action pretraining, so every probe point but the first
        # would refit the same scene-only decoders on the same inputs (both fits are
        # deterministic): they are refitted only when the scene has changed
        digest = hashlib.sha1(scene_f.numpy().tobytes() + scene_e.numpy().tobytes()).hexdigest()
        if digest != self._scene_digest:
            self._scene_digest, self._scene_scores = digest, {}
        scores = {}
        for use_mlp in (False, True) if self.decoder_updates else (False,):
            name = "mlp_" if use_mlp else ""
            scores |= {name + k: v for k, v in self._fit_and_score(zf, ze, *y, use_mlp).items()}
            cached = (use_mlp, self.decoder_updates)
            if cached not in self._scene_scores:
                self._scene_scores[cached] = self._fit_and_score(scene_f, scene_e, *y, use_mlp)[key]
            scene = self._scene_scores[cached]
            both = self._fit_and_score(both_f, both_e, *y, use_mlp)[key]
            scores |= {f"{name}scene_{key}": scene, f"{name}scene_latent_{key}": both,
                       f"{name}beyond_scene_{key}": both - scene}  # fmt: skip
        return {f"{self.prefix}/{k}": v for k, v in scores.items()}


def _ridge(x: torch.Tensor, y: torch.Tensor, penalty: float) -> torch.Tensor:
    """Ridge weights; x's last column is the intercept's (ones), which is not penalised."""
    eye = torch.eye(x.shape[1], dtype=x.dtype)
    eye[-1, -1] = 0.0
    return torch.linalg.solve(x.T @ x + penalty * len(x) * eye, x.T @ y)


def _mlp_decode(xf: torch.Tensor, yf: torch.Tensor, xe: torch.Tensor, discrete: bool,
                max_updates: int) -> torch.Tensor:  # fmt: skip
    """The authors' probe decoder (2 x 128 ReLU MLP, AdamW at its defaults, batch 128, MSE or
    cross-entropy) fitted to (xf, yf), predicting xe. Ours: it starts at predicting the fit
    set's mean (last layer zero, bias the mean), and its number of updates (0, 16, 32, 64 ..
    ``max_updates``) is the one that predicts best on half of the fit set from the other half,
    as the ridge penalty is chosen: the authors train 3 epochs on up to 65,536 windows, and as
    many updates on a few hundred memorise them. Seeded: a score depends on its inputs alone."""
    xf, yf, xe = xf.float(), yf.float(), xe.float()
    loss_fn = (lambda p, t: F.cross_entropy(p, t.argmax(1))) if discrete else F.mse_loss
    checks = {0, max_updates} | {2**k for k in range(4, max_updates.bit_length())}

    def train(x, y, updates, check=None):  # -> (net, the best update count under ``check``)
        with seeded(0):
            net = mlp(x.shape[1], PROBE_DECODER_HIDDEN, y.shape[1])
            order = torch.randint(len(x), (updates, min(PROBE_DECODER_BATCH, len(x))))
        with torch.no_grad():
            net[-1].weight.zero_()
            net[-1].bias.copy_(y.mean(0).clamp_min(1e-6).log() if discrete else y.mean(0))
        optim, best = torch.optim.AdamW(net.parameters()), (math.inf, updates)
        for update in range(updates + 1):
            if check is not None and update in checks:
                with torch.no_grad():
                    best = min(best, (loss_fn(net(check[0]), check[1]).item(), update))
            if update < updates:
                loss = loss_fn(net(x[order[update]]), y[order[update]])
                optim.zero_grad(set_to_none=True)
                loss.backward()
                optim.step()
        return net, best[1]

    a, b = slice(0, None, 2), slice(1, None, 2)
    _, updates = train(xf[a], yf[a], max_updates, check=(xf[b], yf[b]))
    net = train(xf, yf, updates)[0]
    with torch.no_grad():
        return net(xe).double()


def _select_penalty(x: torch.Tensor, y: torch.Tensor,
                    penalties: Sequence[float] = (1e-3, 1e-2, 1e-1, 1.0, 10.0, 100.0)) -> float:  # fmt: skip
    """The ridge penalty (per fit window) with the least error on the other half of the fit
    set: a fixed small one lets 128 latents fitted on a few hundred windows score well below
    zero when they carry nothing."""
    a, b = slice(0, None, 2), slice(1, None, 2)
    errors = [((x[b] @ _ridge(x[a], y[a], p) - y[b]) ** 2).sum().item() for p in penalties]
    return penalties[int(np.argmin(errors))]
