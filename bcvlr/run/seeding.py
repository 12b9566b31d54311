"""Seed every RNG a run touches, and capture/restore them so a resumed run continues the same
random streams it would have without the kill."""

from __future__ import annotations

import random
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np
import torch


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def rng_state() -> dict[str, Any]:
    return {"python": random.getstate(), "numpy": np.random.get_state(),
            "torch": torch.get_rng_state()}  # fmt: skip


def set_rng_state(state: dict[str, Any]) -> None:
    random.setstate(state["python"])
    np.random.set_state(state["numpy"])
    torch.set_rng_state(state["torch"])


def env_seed(seed: int, *position: int) -> int:
    """The seed of envs (re)created at ``position`` of a run (a step, an update, a phase): a
    resumed run gets a fresh env stream instead of replaying its first episodes again."""
    return int(np.random.SeedSequence([seed, *position]).generate_state(1)[0] % (2**31 - 1))


def eval_seed(seed: int, index: int) -> int:
    """The seed of a run's ``index``-th evaluation (0 first): apart from every training stream."""
    return seed + 1_000_003 + index


@contextmanager
def seeded(seed: int) -> Iterator[None]:
    """Initialise nets from the run seed without touching the RNG streams that a harness or a
    stage seeds, or restores on a resume. Torch seeds itself at random in every process, so a
    net built before those streams are seeded would start differently in every run."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        yield
