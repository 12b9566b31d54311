"""Reading run directories back, with a schema check that names the file and the fault."""

from __future__ import annotations

import json
import math
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from bcvlr.results.rundir import (
    METRICS_COLUMNS,
    METRICS_CSV,
    RUN_JSON,
    SCHEMA_VERSION,
    STATUSES,
    parse_metrics_lines,
    score_metric,
)
from bcvlr.tasks import UnknownTaskError, get_task


class RunSchemaError(ValueError):
    """A run directory that does not follow the results format; the message names file + fault."""

    def __init__(self, file: Path, fault: str):
        self.file = Path(file)
        self.fault = fault
        super().__init__(f"{file}: {fault}")


# key -> allowed types; checked for every run.json
_REQUIRED: dict[str, tuple[type, ...]] = {
    "schema_version": (int,),
    "method": (str,),
    "task": (str,),
    "suite": (str,),
    "seed": (int,),
    "status": (str,),
    "budget": (int,),
    "budget_unit": (str,),
    "reduced_budget": (bool,),
    "config": (dict,),
    "provenance": (dict,),
    "timings": (dict,),
}
_PROVENANCE_KEYS = ("git_commit", "python", "hostname", "packages")


@dataclass
class Run:
    path: Path
    info: dict[str, Any]
    metrics: pd.DataFrame
    # faults tolerated because the run is not complete (e.g. a torn last line after a kill)
    warnings: list[str] = field(default_factory=list)
    _scores: pd.DataFrame | None = field(default=None, init=False, repr=False)

    @property
    def method(self) -> str:
        return self.info["method"]

    @property
    def task(self) -> str:
        return self.info["task"]

    @property
    def suite(self) -> str:
        return self.info["suite"]

    @property
    def seed(self) -> int:
        return self.info["seed"]

    @property
    def status(self) -> str:
        return self.info["status"]

    @property
    def budget(self) -> int:
        return self.info["budget"]

    @property
    def reduced_budget(self) -> bool:
        return self.info["reduced_budget"]

    @property
    def complete(self) -> bool:
        return self.status == "complete"

    @property
    def score_metric(self) -> str:
        return score_metric(self.task)

    def scores(self) -> pd.DataFrame:
        """Evaluation rows (step, frames, value), sorted by frames (computed once: the report
        reads them many times and a run's metrics can hold 10^5 training rows)."""
        if self._scores is None:
            m = self.metrics
            self._scores = (
                m.loc[m["metric"] == self.score_metric, ["step", "frames", "value"]]
                .sort_values("frames", kind="stable")
                .reset_index(drop=True)
            )
        return self._scores


def _check_info(f: Path, info: Any, run_dir: Path) -> None:
    if not isinstance(info, dict):
        raise RunSchemaError(f, "run.json must hold a JSON object")
    for key, types in _REQUIRED.items():
        if key not in info:
            raise RunSchemaError(f, f"missing required key {key!r}")
        v = info[key]
        # bool is an int subclass; a seed of `true` is a fault, not seed 1
        if not isinstance(v, types) or (bool not in types and isinstance(v, bool)):
            names = "/".join(t.__name__ for t in types)
            raise RunSchemaError(f, f"key {key!r} must be {names}, got {type(v).__name__}")
    if info["schema_version"] != SCHEMA_VERSION:
        raise RunSchemaError(
            f, f"schema_version {info['schema_version']} unsupported (expected {SCHEMA_VERSION})"
        )
    if info["status"] not in STATUSES:
        raise RunSchemaError(f, f"status {info['status']!r} not one of {', '.join(STATUSES)}")
    try:
        task = get_task(info["task"])
    except UnknownTaskError as err:
        raise RunSchemaError(f, f"task {info['task']!r}: {err}") from None
    if info["suite"] != task.suite:
        raise RunSchemaError(f, f"suite {info['suite']!r} but task {task.name} is {task.suite}")
    if info["budget_unit"] != task.budget_unit:
        raise RunSchemaError(
            f, f"budget_unit {info['budget_unit']!r} but {task.name} counts {task.budget_unit}"
        )
    if info["budget"] <= 0:
        raise RunSchemaError(f, f"budget must be positive, got {info['budget']}")
    for key in _PROVENANCE_KEYS:
        if key not in info["provenance"]:
            raise RunSchemaError(f, f"provenance lacks {key!r}")
    # The directory is the index the report trusts; a run.json copied elsewhere would lie.
    expected = (info["method"], info["task"], f"seed{info['seed']}")
    actual = (run_dir.parent.parent.name, run_dir.parent.name, run_dir.name)
    if expected != actual:
        raise RunSchemaError(
            f, f"run.json says {'/'.join(expected)} but lives in {'/'.join(actual)}"
        )


def load_run(path: str | os.PathLike) -> Run:
    """Load and check one run directory; raises ``RunSchemaError`` naming the file and fault.

    A complete run must be spotless. A running/failed run may end in a torn line (it was killed
    mid-write); that and other metrics faults are kept in ``Run.warnings`` instead, since such a
    run is only ever reported, never averaged in.
    """
    run_dir = Path(path)
    f = run_dir / RUN_JSON
    try:
        info = json.loads(f.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise RunSchemaError(f, "missing (not a run directory)") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise RunSchemaError(f, f"not valid JSON ({e})") from None
    _check_info(f, info, run_dir)
    strict = info["status"] == "complete"
    warnings: list[str] = []
    mf = run_dir / METRICS_CSV

    def fault(msg: str) -> None:
        if strict:
            raise RunSchemaError(mf, msg)
        warnings.append(f"{mf}: {msg}")

    rows: list[tuple[int, int, str, float, float]] = []
    if not mf.exists():
        fault("missing")
    else:
        with open(mf, encoding="utf-8", newline="") as fh:
            header = fh.readline()
            body = fh.readlines()
        if header.rstrip("\r\n") != ",".join(METRICS_COLUMNS):
            # the header is written before anything else: a bad one is never a torn write
            raise RunSchemaError(
                mf, f"header {header.strip()!r}, expected {','.join(METRICS_COLUMNS)!r}"
            )
        last_step = last_frames = -1
        seen_eval: set[tuple[int, str]] = set()
        for lineno, row, why in parse_metrics_lines(body):
            if row is None:
                fault(f"line {lineno}: {why}")
                continue
            if row.step < last_step or row.frames < last_frames:
                fault(
                    f"line {lineno}: step/frames go back from ({last_step}, {last_frames}) to "
                    f"({row.step}, {row.frames}) (a resume without truncate_after?)"
                )
                continue
            last_step, last_frames = row.step, row.frames
            if row.metric.startswith("eval/"):
                if not math.isfinite(row.value):
                    fault(f"line {lineno}: {row.metric} is {row.value}")
                    continue
                if (row.step, row.metric) in seen_eval:
                    fault(f"line {lineno}: duplicate {row.metric} at step {row.step}")
                    continue
                seen_eval.add((row.step, row.metric))
            rows.append((row.step, row.frames, row.metric, row.value, row.wall_time))
    metrics = pd.DataFrame(rows, columns=list(METRICS_COLUMNS))
    metrics = metrics.astype(
        {"step": np.int64, "frames": np.int64, "value": float, "wall_time": float}
    )
    run = Run(run_dir, info, metrics, warnings)
    if strict and run.scores().empty:
        raise RunSchemaError(mf, f"complete run has no {run.score_metric} rows")
    return run


def find_run_dirs(root: str | os.PathLike) -> list[Path]:
    """Every ``{method}/{task}/seed*/`` directory under ``root`` that holds a run.json."""
    root = Path(root)
    if not root.is_dir():
        return []
    return sorted(p.parent for p in root.glob(f"*/*/seed*/{RUN_JSON}"))


@dataclass
class RunCollection:
    """All runs under one or more roots, split by what the report may use."""

    complete: list[Run] = field(default_factory=list)
    incomplete: list[Run] = field(default_factory=list)  # running or failed
    invalid: list[RunSchemaError] = field(default_factory=list)

    def __iter__(self) -> Iterator[Run]:
        return iter(self.complete)

    def excluded_lines(self) -> list[str]:
        lines = []
        for r in self.incomplete:
            why = r.status if not r.info.get("error") else f"failed: {_first_line(r.info['error'])}"
            last = int(r.metrics["frames"].max()) if len(r.metrics) else 0
            lines.append(
                f"{r.method}/{r.task}/seed{r.seed}: {why} (last logged frames {last} of "
                f"{r.budget}) [{r.path}]"
            )
        for e in self.invalid:
            lines.append(f"invalid: {e}")
        return lines


def _first_line(text: str) -> str:
    lines = [ln for ln in str(text).strip().splitlines() if ln.strip()]
    return lines[-1][:200] if lines else ""


def collect_runs(roots: str | os.PathLike | list[str | os.PathLike]) -> RunCollection:
    """Load every run under ``roots``; schema faults are collected, not raised."""
    roots = roots if isinstance(roots, list) else [roots]
    out = RunCollection()
    for root in roots:
        for d in find_run_dirs(root):
            try:
                run = load_run(d)
            except RunSchemaError as e:
                out.invalid.append(e)
                continue
            (out.complete if run.complete else out.incomplete).append(run)
    return out
