"""What a scored run (``Harness``) and a pretraining stage (``Stage``) share: seeded from the
start, one process per folder (a lock), resumed from ``checkpoints/state.pt`` with the RNG
states it saved, and the folder released however the block is left."""

from __future__ import annotations

from pathlib import Path
from typing import Any, TextIO

from tqdm import tqdm

from bcvlr.run.checkpoint import load_checkpoint, save_checkpoint
from bcvlr.run.lock import hold_folder, release
from bcvlr.run.seeding import rng_state, seed_everything, set_rng_state

CHECKPOINT = "checkpoints/state.pt"


class Resumable:
    def __init__(self, folder: Path, seed: int, what: str):
        self.folder, self.seed, self.what = folder, int(seed), what
        self._lock: TextIO | None = None
        self._bar: tqdm | None = None

    def _open(self) -> dict[str, Any] | None:
        """Seed everything and take the folder; the checkpoint's state (its RNG states
        restored) if there is one."""
        seed_everything(self.seed)
        self._lock = hold_folder(self.folder, self.what, held=self._lock)
        state = load_checkpoint(self.folder / CHECKPOINT)
        if state is not None:
            set_rng_state(state["_rng"])
        return state

    def _save(self, step: int, state: dict[str, Any]) -> None:
        save_checkpoint(self.folder / CHECKPOINT, dict(state, _step=int(step), _rng=rng_state()))

    def _close(self) -> None:
        if self._bar is not None:
            self._bar.close()
        release(self._lock)
