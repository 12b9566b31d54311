"""A training stage that produces an artifact rather than a scored run (e.g. BCV-LR's feature
and latent-action pretraining): the same guarantees as a run — a metrics CSV without duplicate
rows after a kill, atomic checkpoints, provenance — in a folder of its own:

    out/stage.json  out/metrics.csv  out/checkpoints/state.pt  out/<artifact>.pt

Use it as a context manager: leaving the block, however it is left, closes the progress bar and
releases the folder's lock; a stage that raised is marked failed in stage.json (its checkpoint
stays, so running it again resumes).

A stage is resumed, or its finished artifact reused, only with the ``settings`` it was made with
(the config sections and inputs that define its product); other settings are refused in one line.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import torch
from tqdm import tqdm

from bcvlr.atomic import atomic_write_json
from bcvlr.results.metrics import MetricsWriter, _Clock, truncate_metrics
from bcvlr.results.provenance import provenance
from bcvlr.results.rundir import SettingsMismatchError, _some, config_changes
from bcvlr.run.checkpoint import save_checkpoint
from bcvlr.run.lifecycle import Resumable


class Stage(Resumable):
    def __init__(self, out: str | Path, name: str, *, cfg: dict, seed: int,
                 settings: dict | None = None, progress: bool = True,
                 checkpoint_every: int = 1000, log_every: int = 50) -> None:  # fmt: skip
        super().__init__(Path(out), seed, f"the {name} stage")
        self.out, self.name, self.cfg = Path(out), name, cfg
        self.settings = settings or {"seed": seed}
        self.progress, self.checkpoint_every, self.log_every = progress, checkpoint_every, log_every
        self.step = 0
        self.resumes = 0
        self._unlogged: tuple[int, dict[str, float]] | None = None  # the last update's metrics
        self._writer: MetricsWriter | None = None
        self._info: dict[str, Any] = {}

    def start(self) -> dict | None:
        """Seed, then resume from the checkpoint if one exists; returns its state or None."""
        state = self._open()
        metrics = self.out / "metrics.csv"
        if state is not None:
            check_settings(self.out, self.settings)
            self.step = int(state["_step"])
            self.resumes = int(state.get("_resumes", 0)) + 1
            truncate_metrics(metrics, self.step)
        else:
            metrics.unlink(missing_ok=True)
        self._info = {"stage": self.name, "seed": self.seed, "status": "running",
                      "settings": self.settings, "config": self.cfg, "provenance": provenance(), "step": self.step,
                      "resumes": self.resumes, "started_at": time.time()}  # fmt: skip
        atomic_write_json(self.out / "stage.json", self._info)
        self._writer = MetricsWriter(metrics, _Clock(), last_step=self.step - 1)
        return None if state is None else state["payload"]

    def bar(self, total: int, desc: str) -> tqdm:
        self._bar = tqdm(total=total, initial=self.step, desc=desc, unit="upd",
                         disable=not self.progress, dynamic_ncols=True)  # fmt: skip
        return self._bar

    def advance(self, step: int, metrics: dict[str, float], bar: tqdm | None = None) -> None:
        self.step = step
        self._unlogged = (step, metrics)
        if bar is not None:
            bar.update(1)
        if step % self.log_every == 0:
            assert self._writer is not None
            self._writer.log(step, 0, metrics)
            self._unlogged = None
            if bar is not None:
                bar.set_postfix({k.split("/")[-1]: f"{v:.4g}" for k, v in metrics.items()})

    def log(self, step: int, metrics: dict[str, float]) -> None:
        assert self._writer is not None
        self._writer.log(step, 0, metrics)

    def checkpoint_due(self, step: int) -> bool:
        return step % self.checkpoint_every == 0

    def checkpoint(self, step: int, payload: dict) -> None:
        assert self._writer is not None
        self._writer.flush()
        self._save(step, {"payload": payload, "_resumes": self.resumes})

    def finish(self, artifact: dict, filename: str) -> Path:
        """Write the stage's product atomically and mark the stage complete."""
        path = self.out / filename
        save_checkpoint(path, artifact)
        if self._writer is not None:
            if self._unlogged is not None:  # the final update always has its row
                step, metrics = self._unlogged
                self._writer.log(step, 0, metrics)
            self._writer.close()
        self._info.update(status="complete", step=self.step, finished_at=time.time())
        atomic_write_json(self.out / "stage.json", self._info)
        self._close()
        return path

    def __enter__(self) -> Stage:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if self._writer is not None:
            self._writer.close()
        if exc is not None and self._info.get("status") == "running":
            self._info.update(status="failed", error=f"{exc_type.__name__}: {exc}",
                              step=self.step, failed_at=time.time())  # fmt: skip
            atomic_write_json(self.out / "stage.json", self._info)
        self._close()


def _stage_info(out: Path) -> dict:
    try:
        return json.loads((out / "stage.json").read_text())
    except (FileNotFoundError, ValueError):
        return {}


def check_settings(out: str | Path, settings: dict, info: dict | None = None) -> None:
    """Refuse to continue or reuse the stage in ``out`` (whose stage.json is ``info``, read if
    not given) with settings other than its own. A setting the stored stage lacks (added to the
    code after it ran) is not a difference."""
    out = Path(out)
    info = _stage_info(out) if info is None else info
    changed, _ = config_changes(info.get("settings") or {}, settings)
    if changed:
        raise SettingsMismatchError(
            f"{out}: the {info.get('stage', '')} stage there was made with other settings "
            f"({_some(changed)}); use them, or delete {out} (or pick another --out) to start "
            "it fresh"
        )


def completed_artifact(out: str | Path, filename: str,
                       settings: dict | None = None) -> Path | None:  # fmt: skip
    """The artifact of a stage that already finished with these ``settings`` (so a rerun skips
    it), else None; a finished stage with other settings is refused."""
    out = Path(out)
    info = _stage_info(out)
    done = info.get("status") == "complete" and (out / filename).exists()
    if done and settings is not None:
        check_settings(out, settings, info)
    return out / filename if done else None


def load_artifact(path: str | Path) -> dict:
    return torch.load(path, map_location="cpu", weights_only=False)
