"""Atomic checkpoints: a checkpoint file is either the previous complete one or the new complete
one, never a torn write, whatever instant the process is killed at."""

from __future__ import annotations

import os
from pathlib import Path
from typing import IO, Any

import torch

from bcvlr.atomic import atomic_write, remove_stale_tmp


class _KeepsWriteError:
    """A file whose first failed write is kept: torch.save reports a full disk as a
    RuntimeError ("unexpected pos"), which names neither the disk nor the file."""

    def __init__(self, file: IO[bytes]):
        self.file, self.error = file, None

    def write(self, data) -> int:
        try:
            return self.file.write(data)
        except OSError as e:
            self.error = self.error or e
            raise

    def flush(self) -> None:
        self.file.flush()


def save_checkpoint(path: str | os.PathLike, state: dict[str, Any]) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)

    def write(f: IO[bytes]) -> None:
        kept = _KeepsWriteError(f)
        try:
            torch.save(state, kept)
        except RuntimeError:
            if kept.error is not None:
                raise OSError(kept.error.errno, f"{kept.error.strerror} (writing the checkpoint)",
                              str(path)) from None  # fmt: skip
            raise

    atomic_write(path, write)


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
