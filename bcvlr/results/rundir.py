"""Writing one run's results: ``results/runs/{method}/{task}/seed{seed}/``.

A run directory holds ``run.json`` (what ran, where, with which code, and how it ended) and
``metrics.csv`` (long format: ``step, frames, metric, value, wall_time``). Both are written so
that a run killed at any instant leaves a readable directory: run.json is replaced atomically,
metrics rows are fsync'ed per batch, and a resumed run first drops the rows written after its
last checkpoint, so the final file has neither duplicated nor missing rows.

Conventions the report relies on (see docs/results.md):

- ``step`` counts policy steps (env.step calls summed over parallel envs); ``frames`` counts
  environment frames (step x action repeat). ``frames`` is the paper's budget unit for every
  suite (Procgen has action repeat 1, so frames = env steps there).
- The evaluation score is logged as metric ``eval/return`` or ``eval/success``
  (``score_metric(task)``), once per evaluation.
- A harness flushes its metrics *before* it saves a checkpoint, then calls
  ``mark_checkpoint(step)``; everything logged for step S is logged before the checkpoint at S.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import socket
import traceback
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

from bcvlr.atomic import atomic_write_json
from bcvlr.errors import UserError
from bcvlr.results.layout import run_path
from bcvlr.results.metrics import (  # noqa: F401 (re-exported: the run's metrics file)
    METRICS_COLUMNS,
    MetricRow,
    MetricsWriter,
    _Clock,
    parse_metrics_lines,
    truncate_metrics,
)
from bcvlr.results.provenance import (  # noqa: F401 (re-exported)
    REPO_ROOT,
    TRACKED_PACKAGES,
    git_commit,
    git_dirty,
    package_versions,
    provenance,
)
from bcvlr.tasks import get_task

SCHEMA_VERSION = 1
RUN_JSON = "run.json"
METRICS_CSV = "metrics.csv"
STATUSES = ("running", "complete", "failed")
Status = Literal["running", "complete", "failed"]

_METHOD_NAME = re.compile(r"^[a-z0-9][a-z0-9_.\-]*$")


def score_metric(task: str) -> str:
    """The metric name under which a run logs the task's evaluation score."""
    return f"eval/{get_task(task).eval.metric}"


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def _flatten(config: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in config.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            out |= _flatten(value, f"{name}.")
        else:
            out[name] = value
    return out


def _some(keys: list[str], shown: int = 5) -> str:
    """The first ``shown`` keys, and how many more."""
    more = f" and {len(keys) - shown} more" if len(keys) > shown else ""
    return ", ".join(keys[:shown]) + more


def config_changes(
    stored: Mapping[str, Any], new: Mapping[str, Any]
) -> tuple[list[str], list[str]]:
    """(keys whose values differ or that the new config lacks, keys only the new config has).

    A key only the new config has is a setting added to the code after the run started: the
    stored run ran without it, so resuming is allowed (and recorded). Any other difference
    makes it another run."""
    old_flat = _flatten(stored)
    new_flat = _flatten(json.loads(json.dumps(dict(new), default=str)))
    changed = sorted(k for k in old_flat if k not in new_flat or new_flat[k] != old_flat[k])
    added = sorted(set(new_flat) - set(old_flat))
    return changed, added


class RunExistsError(UserError, FileExistsError):
    """The run asked for is already complete."""


def refuse_complete(path: str | os.PathLike) -> None:
    """Raise RunExistsError if ``path`` holds a complete run: its results are kept, not redone."""
    path = Path(path)
    try:
        complete = json.loads((path / RUN_JSON).read_text()).get("status") == "complete"
    except (FileNotFoundError, ValueError):
        return
    if complete:
        raise RunExistsError(f"{path / RUN_JSON}: run is already complete; delete {path} (or "
                             "pick another --runs-root) to run it again")  # fmt: skip


class SettingsMismatchError(UserError, ValueError):
    """A run or stage was asked to continue (or be reused) with settings other than its own."""


class RunDir:
    """One run's directory. Create with ``RunDir.create``; reopen a killed run with ``resume``.

    Typical harness use::

        run = RunDir.create("results/runs", "bcvlr", "bigfish", 0, config=cfg)
        try:
            for ...:
                run.log(step, frames, {"eval/return": score})  # durable on return
                save_checkpoint(...)
                run.mark_checkpoint(step)
            run.mark_complete()
        except BaseException as e:
            run.mark_failed(e)
            raise

    and after a kill::

        run = RunDir.resume(path, checkpoint_step=ckpt_step)  # drops rows after ckpt_step
    """

    def __init__(self, path: str | os.PathLike, info: dict[str, Any], clock: _Clock):
        self.path = Path(path)
        self._info = info
        self._clock = clock
        self._writer: MetricsWriter | None = None

    # -- construction -------------------------------------------------------------------------
    @classmethod
    def create(
        cls,
        root: str | os.PathLike,
        method: str,
        task: str,
        seed: int,
        *,
        config: Mapping[str, Any] | None = None,
        budget: int | None = None,
        reduced_budget: bool = False,
        labels: Mapping[str, Any] | None = None,
        overwrite: bool = False,
    ) -> RunDir:
        """Make ``root/method/task/seed{seed}`` with a fresh run.json (status ``running``).

        ``budget`` is in the task's budget unit (frames for DMC/Metaworld, env steps for Procgen)
        and defaults to the registry's; pass ``reduced_budget=True`` for mini/smoke configs so
        that the report never compares them with the paper unmarked.
        """
        if not _METHOD_NAME.match(method):
            raise ValueError(f"method name {method!r} must match {_METHOD_NAME.pattern}")
        t = get_task(task)
        budget = t.budget if budget is None else int(budget)
        if budget <= 0:
            raise ValueError(f"budget must be positive, got {budget}")
        path = run_path(root, method, task, seed)
        if (path / RUN_JSON).exists() and not overwrite:
            raise RunExistsError(
                f"{path / RUN_JSON} exists; use RunDir.resume() to continue it or "
                "overwrite=True to start it again"
            )
        path.mkdir(parents=True, exist_ok=True)
        if overwrite:
            for name in (METRICS_CSV, RUN_JSON):
                with contextlib.suppress(FileNotFoundError):
                    (path / name).unlink()
        now = _now()
        info: dict[str, Any] = {
            "schema_version": SCHEMA_VERSION,
            "method": method,
            "task": task,
            "suite": t.suite,
            "seed": int(seed),
            "status": "running",
            "budget": budget,
            "budget_unit": t.budget_unit,
            "reduced_budget": bool(reduced_budget or budget < t.budget),
            "labels": dict(labels or {}),
            "score_metric": score_metric(task),
            "config": dict(config or {}),
            "provenance": provenance(),
            "timings": {
                "created_at": now,
                "updated_at": now,
                "finished_at": None,
                "elapsed_s": 0.0,
                "phases": {},
            },
            "last_checkpoint": None,
            "resumes": [],
            "error": None,
        }
        run = cls(path, info, _Clock())
        run._save()
        run._open_writer(last_step=-1, last_frames=-1)
        return run

    @classmethod
    def resume(
        cls,
        path: str | os.PathLike,
        checkpoint_step: int | None,
        *,
        config: Mapping[str, Any] | None = None,
        budget: int | None = None,
    ) -> RunDir:
        """Reopen a killed or failed run that restarts from ``checkpoint_step``.

        Rows logged after that step are dropped (``None``: no checkpoint, so every row goes),
        so that re-running from the checkpoint produces each row exactly once. If ``config`` is
        given it must equal the stored one, and so must ``budget``: a resumed run with other
        settings is a new run.
        """
        path = Path(path)
        refuse_complete(path)
        info = _read_info(path)
        added: list[str] = []
        if config is not None:
            changed, added = config_changes(info.get("config") or {}, config)
            if changed:
                raise SettingsMismatchError(
                    f"{path / RUN_JSON}: config differs from the run being resumed in "
                    f"{_some(changed)}; use the run's settings, or delete {path} (or pick "
                    "another --runs-root) to start it fresh"
                )
        if budget is not None and int(budget) != info.get("budget"):
            raise SettingsMismatchError(
                f"{path / RUN_JSON}: the run being resumed has budget {info.get('budget')}, not "
                f"{budget}; use its budget, or delete {path} (or pick another --runs-root) to "
                "start it fresh"
            )
        step = -1 if checkpoint_step is None else int(checkpoint_step)
        kept, dropped = truncate_metrics(path / METRICS_CSV, step)
        last_step, last_frames, last_wall = _tail(path / METRICS_CSV)
        ckpt = info.get("last_checkpoint") or {}
        # active time up to the checkpoint; the lost stretch after it is redone, so not counted
        offset = float(ckpt.get("elapsed_s", 0.0)) if checkpoint_step is not None else 0.0
        offset = max(offset, last_wall)
        info["status"] = "running"
        info["error"] = None
        info["timings"]["finished_at"] = None
        info["resumes"].append(
            {
                "at": _now(),
                "checkpoint_step": checkpoint_step,
                "rows_kept": kept,
                "rows_dropped": dropped,
                "git_commit": git_commit(),
                "hostname": socket.gethostname(),
            }
            # settings a newer version added, which the stored run predates
            | ({"added_config_keys": added} if added else {})
        )
        if added:
            info["config"] = json.loads(json.dumps(dict(config), default=str))
        run = cls(path, info, _Clock(offset))
        run._save()
        run._open_writer(last_step=last_step, last_frames=last_frames)
        return run

    # -- state --------------------------------------------------------------------------------
    @property
    def info(self) -> dict[str, Any]:
        """A copy of run.json as last written."""
        return json.loads(json.dumps(self._info, default=str))

    @property
    def status(self) -> Status:
        return self._info["status"]

    @property
    def metrics(self) -> MetricsWriter:
        if self._writer is None or self._writer.closed:
            last_step, last_frames, _ = _tail(self.path / METRICS_CSV)
            self._open_writer(last_step=last_step, last_frames=last_frames)
        assert self._writer is not None
        return self._writer

    def elapsed(self) -> float:
        return self._clock.elapsed()

    def log(self, step: int, frames: int, metrics: Mapping[str, float]) -> None:
        self.metrics.log(step, frames, metrics)

    def _open_writer(self, *, last_step: int, last_frames: int) -> None:
        self._writer = MetricsWriter(
            self.path / METRICS_CSV, self._clock, last_step=last_step, last_frames=last_frames
        )

    def _save(self) -> None:
        self._info["timings"]["updated_at"] = _now()
        self._info["timings"]["elapsed_s"] = round(self._clock.elapsed(), 3)
        atomic_write_json(self.path / RUN_JSON, self._info)

    def update(self, **fields: Any) -> None:
        """Set top-level run.json fields (e.g. ``labels``) and rewrite it atomically."""
        protected = {"schema_version", "method", "task", "suite", "seed", "status"}
        if bad := protected & fields.keys():
            raise ValueError(f"{sorted(bad)} are managed by RunDir")
        self._info.update(fields)
        self._save()

    def add_timing(self, phase: str, seconds: float) -> None:
        """Accumulate wall time per phase (e.g. ``pretrain``, ``online``, ``eval``)."""
        phases = self._info["timings"]["phases"]
        phases[phase] = round(phases.get(phase, 0.0) + float(seconds), 3)
        self._save()

    def truncate_after(self, step: int) -> tuple[int, int]:
        """Drop metrics rows with a step after ``step``; returns (kept, dropped)."""
        if self._writer is not None:
            self._writer.close()
        kept, dropped = truncate_metrics(self.path / METRICS_CSV, int(step))
        last_step, last_frames, _ = _tail(self.path / METRICS_CSV)
        self._open_writer(last_step=last_step, last_frames=last_frames)
        return kept, dropped

    def mark_checkpoint(self, step: int, *, path: str | None = None) -> None:
        """Record that a checkpoint at ``step`` is on disk (metrics up to it are synced)."""
        if self._writer is not None and not self._writer.closed:
            self._writer.flush()
        self._info["last_checkpoint"] = {
            "step": int(step),
            "path": path,
            "at": _now(),
            "elapsed_s": round(self._clock.elapsed(), 3),
        }
        self._save()

    def mark_complete(self) -> None:
        self._finish("complete", None)

    def mark_failed(self, error: BaseException | str | None = None) -> None:
        if isinstance(error, BaseException):
            text = "".join(traceback.format_exception(error)).strip()[-4000:]
        else:
            text = error
        self._finish("failed", text or "unknown error")

    def _finish(self, status: Status, error: str | None) -> None:
        if self._writer is not None:
            self._writer.close()
        self._info["status"] = status
        self._info["error"] = error
        self._info["timings"]["finished_at"] = _now()
        self._save()

    def close(self) -> None:
        if self._writer is not None:
            self._writer.close()

    def __enter__(self) -> RunDir:
        return self

    def __exit__(self, exc_type: type | None, exc: BaseException | None, tb: object) -> None:
        # An exception marks the run failed; a clean exit without mark_complete() leaves it
        # "running", which the aggregation reports as incomplete rather than trusting it.
        if exc is not None and self.status == "running":
            self.mark_failed(exc)
        self.close()


def _read_info(path: Path) -> dict[str, Any]:
    f = path / RUN_JSON
    try:
        return json.loads(f.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise FileNotFoundError(f"{f}: no run.json (not a run directory)") from None
    except json.JSONDecodeError as e:
        raise ValueError(f"{f}: not valid JSON ({e})") from None


def _tail(path: Path) -> tuple[int, int, float]:
    """(last step, last frames, last wall_time) of a metrics file; -1s when it has no rows."""
    if not path.exists():
        return -1, -1, 0.0
    with open(path, encoding="utf-8", newline="") as f:
        f.readline()
        rows = [r for _, r, _ in parse_metrics_lines(f.readlines()) if r is not None]
    if not rows:
        return -1, -1, 0.0
    return rows[-1].step, rows[-1].frames, max(r.wall_time for r in rows)
