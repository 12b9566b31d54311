"""Atomic checkpoints: a checkpoint file is either the previous complete one or the new complete
one, never a torn write, whatever instant the process is killed at."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import torch

from bcvlr.atomic import atomic_write, remove_stale_tmp


def save_checkpoint(path: str | os.PathLike, state: dict[str, Any]) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(path, lambda f: torch.save(state, f))


def load_checkpoint(path: str | os.PathLike) -> dict[str, Any] | None:
    """The checkpoint's state, or None when there is none yet. Leftover temp files from a kill
    during a save are removed."""
    path = Path(path)
    if path.parent.exists():
        remove_stale_tmp(path.parent, path.name)
    if not path.exists():
        return None
    # Our own files: they hold numpy RNG states and config dicts, not only tensors.
    return torch.load(path, map_location="cpu", weights_only=False)
