"""LAPO-BC (the BCV-LR paper's Appendix B.3, Table 7): LAPO with its online RL loss replaced by
behaviour cloning on the decoded latent actions of the expert videos, so that it uses no reward.

It is baselines.lapo with ``variant: bc`` (see that module's docstring); this module only gives
it its own method name, ``bcvlr run --method lapo_bc``."""

from __future__ import annotations

from baselines import lapo
from baselines.lapo import NEEDS_VIDEOS, SUITES, Config, check_run

__all__ = ["NEEDS_VIDEOS", "SUITES", "Config", "check_run", "default_config", "run"]


def default_config(task) -> dict:
    return lapo.default_config(task) | {"variant": "bc"}


def run(task, seed: int, cfg: Config, harness, videos=None) -> None:
    if cfg.variant != "bc":
        raise ValueError("lapo_bc is LAPO's variant 'bc'; for variant 'rl' run --method lapo")
    lapo.run(task, seed, cfg, harness, videos=videos)
