"""BCV-LR: Behavior Cloning from Videos via Latent Representations (NeurIPS 2025).

Algorithm 1 of the paper, one file per part:

  config.py    the hyper-parameter groups of Tables 11 and 12
  model.py     f, p (+VQ), w, pi, d and the agent acting with d(pi(f(o)))
  pretrain.py  offline 1. pretrain_features        f (+ momentum f') on frames  eq. 1 / eqs. 5-10
                       2. pretrain_latent_actions  p (+VQ) and w on f           eq. 2
  online.py    online  3. online                   latent-BC warm-up of pi, then cycles of
                                                     collect with d(pi(f(o))) (first random)
                                                     finetune p, d (and w) on the replay  eq. 3
                                                     behaviour-clone pi on video latents   eq. 4

The probe that measures the latents lives apart, in bcvlr/diagnostics/probe.py; batches of
video windows in bcvlr/data/video_batches.py. This file is the method's interface
(bcvlr/methods.py): `bcvlr run --method bcvlr` chains the stages.

Each stage checkpoints atomically and resumes after a kill. Hyper-parameters are the paper's
Tables 11 (Procgen) and 12 (DMC; Metaworld shares them) in config/bcvlr/*.yaml; every place
where the authors' code differs is an option (docs/fidelity.md).
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

from bcvlr.data import VideoDataset
from bcvlr.data.video_batches import VideoBatches
from bcvlr.diagnostics.probe import LatentActionProbe
from bcvlr.envs import expert_videos
from bcvlr.method.bcvlr.config import (
    CONFIG_DIR,
    Config,
    DepartureConfig,
    FeatureConfig,
    LatentActionConfig,
    OnlineConfig,
    default_config,
)
from bcvlr.method.bcvlr.model import (
    LATENT_CLIP,
    Agent,
    LatentActionModel,
    LatentPolicy,
    action_decoder,
    action_loss,
    build_encoder,
    build_latent_action_model,
    latent_statistics,
)
from bcvlr.method.bcvlr.online import OnlineLearner, online, random_actions
from bcvlr.method.bcvlr.pretrain import (
    FeatureLearner,
    LatentActionLearner,
    load_encoder,
    pretrain_features,
    pretrain_latent_actions,
)
from bcvlr.nets.features import encode_windows
from bcvlr.tasks import Task

__all__ = [
    "CONFIG_DIR", "LATENT_CLIP", "NEEDS_VIDEOS", "SUITES", "Agent", "Config", "DepartureConfig",
    "FeatureConfig",
    "FeatureLearner", "LatentActionConfig", "LatentActionLearner", "LatentActionModel",
    "LatentActionProbe", "LatentPolicy", "OnlineConfig", "OnlineLearner", "VideoBatches",
    "action_decoder", "action_loss", "build_encoder", "build_latent_action_model",
    "default_config", "describe",
    "encode_windows", "latent_statistics", "load_encoder", "online", "pretrain_features",
    "pretrain_latent_actions", "random_actions", "run",
]  # fmt: skip

SUITES = ("procgen", "dmc", "metaworld")
NEEDS_VIDEOS = True


# ---------------------------------------------------------------------------------------------
# The method interface (bcvlr/methods.py): `bcvlr run --method bcvlr` chains the stages.
# ---------------------------------------------------------------------------------------------
def run(task: Task, seed: int, cfg: Config, harness, videos: VideoDataset | None = None) -> None:
    videos = expert_videos(task, videos, "BCV-LR")
    pretrain = harness.path / "pretrain"
    progress = harness.progress
    features = None
    if cfg.variant != "wo_lf":
        features = (Path(cfg.features.pretrained_encoder) if cfg.features.pretrained_encoder
                    else pretrain_features(cfg, [videos], seed, pretrain / "features",
                                           progress))  # fmt: skip
    latent_actions = None
    if cfg.variant != "wo_la":
        latent_actions = pretrain_latent_actions(
            cfg, [videos], features, seed, pretrain / "latent_actions", progress
        )
    online(task, seed, cfg, harness, videos, latent_actions, features)


def describe(cfg: Config) -> dict[str, Any]:
    return dataclasses.asdict(cfg)
