"""A run's metrics.csv: long format ``step, frames, metric, value, wall_time``, rows fsync'ed per
batch, a torn tail after a kill recognised and dropped, the rows after a checkpoint truncated on
resume."""

from __future__ import annotations

import csv
import io
import math
import os
import re
import time
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

from bcvlr.atomic import atomic_write_text

METRICS_COLUMNS = ("step", "frames", "metric", "value", "wall_time")
_METRIC_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_./:\-]*$")


def _format_value(value: float) -> str:
    # repr round-trips a float exactly; the report must read back what the run measured.
    v = float(value)
    if math.isnan(v):
        return "nan"
    if math.isinf(v):
        return "inf" if v > 0 else "-inf"
    return repr(v)


@dataclass(frozen=True)
class MetricRow:
    step: int
    frames: int
    metric: str
    value: float
    wall_time: float


def parse_metrics_lines(lines: Iterable[str]) -> Iterator[tuple[int, MetricRow | None, str]]:
    """Yield ``(line_number, row or None, fault)`` for each data line of a metrics.csv body.

    The header is *not* part of ``lines``. A row that fails to parse comes back as ``None`` with
    the reason, so callers decide whether that is fatal (a complete run) or a torn tail (a run
    that was killed mid-write).
    """
    for lineno, line in enumerate(lines, start=2):
        if not line.endswith("\n"):
            # a line without its newline was cut off by a kill: never trust its value
            yield lineno, None, "incomplete last line (no newline)"
            continue
        fields = next(csv.reader([line]), [])
        if len(fields) != len(METRICS_COLUMNS):
            yield lineno, None, f"expected {len(METRICS_COLUMNS)} fields, got {len(fields)}"
            continue
        try:
            step, frames = int(fields[0]), int(fields[1])
            value, wall = float(fields[3]), float(fields[4])
        except ValueError as e:
            yield lineno, None, f"unparsable number ({e})"
            continue
        if step < 0 or frames < 0:
            yield lineno, None, "negative step or frames"
            continue
        yield lineno, MetricRow(step, frames, fields[2], value, wall), ""


class MetricsWriter:
    """Appends rows to ``metrics.csv``; every ``log``/``log_rows`` call is one durable batch."""

    def __init__(self, path: Path, clock: _Clock, *, last_step: int = -1, last_frames: int = -1):
        self.path = Path(path)
        self._clock = clock
        self._last_step = last_step
        self._last_frames = last_frames
        self._dirty = False
        new = not self.path.exists() or self.path.stat().st_size == 0
        self._f = open(self.path, "a", encoding="utf-8", newline="")  # noqa: SIM115
        if new:
            self._f.write(",".join(METRICS_COLUMNS) + "\n")
            self._sync()

    @property
    def closed(self) -> bool:
        return self._f.closed

    def _sync(self) -> None:
        self._f.flush()
        os.fsync(self._f.fileno())
        self._dirty = False

    def flush(self) -> None:
        """Every batch is already synced; kept so callers can be explicit before a checkpoint."""
        if not self._f.closed and self._dirty:
            self._sync()

    def log(
        self,
        step: int,
        frames: int,
        metrics: Mapping[str, float],
        *,
        wall_time: float | None = None,
    ) -> None:
        """Append one row per metric at (step, frames), then flush and fsync."""
        wall = self._clock.elapsed() if wall_time is None else float(wall_time)
        self.log_rows((step, frames, name, value, wall) for name, value in metrics.items())

    def log_rows(self, rows: Iterable[tuple[int, int, str, float, float]]) -> None:
        """Append ``(step, frames, metric, value, wall_time)`` rows as one durable batch."""
        buf = io.StringIO()
        last_step, last_frames = self._last_step, self._last_frames
        for step, frames, metric, value, wall in rows:
            step, frames = int(step), int(frames)
            if not _METRIC_NAME.match(metric):
                raise ValueError(f"metric name {metric!r} must match {_METRIC_NAME.pattern}")
            if step < last_step or frames < last_frames:
                # A step going backwards is what a resume without truncate_after looks like.
                raise ValueError(
                    f"{self.path}: step/frames must not decrease: got ({step}, {frames}) after "
                    f"({last_step}, {last_frames}); did a resumed run skip truncate_after()?"
                )
            last_step, last_frames = step, frames
            buf.write(f"{step},{frames},{metric},{_format_value(value)},{float(wall):.3f}\n")
        if self._f.closed:
            raise ValueError(f"{self.path}: writer is closed")
        self._f.write(buf.getvalue())
        self._dirty = True
        self._sync()
        self._last_step, self._last_frames = last_step, last_frames

    def close(self) -> None:
        if not self._f.closed:
            self.flush()
            self._f.close()

    def __enter__(self) -> MetricsWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class _Clock:
    """Active run time: carried across resumes, so wall_time stays monotonic in metrics.csv."""

    def __init__(self, offset: float = 0.0):
        self.offset = offset
        self._t0 = time.monotonic()

    def elapsed(self) -> float:
        return self.offset + (time.monotonic() - self._t0)


def truncate_metrics(path: Path, step: int) -> tuple[int, int]:
    """Keep only the rows with ``step <= step`` (and drop any torn line); atomic.

    Returns (rows kept, rows dropped).
    """
    path = Path(path)
    if not path.exists():
        return 0, 0
    with open(path, encoding="utf-8", newline="") as f:
        header = f.readline()
        body = f.readlines()
    if header.rstrip("\r\n") != ",".join(METRICS_COLUMNS):
        raise ValueError(f"{path}: unexpected header {header.strip()!r}")
    kept: list[str] = []
    dropped = 0
    for (_, row, _fault), line in zip(parse_metrics_lines(body), body, strict=True):
        if row is not None and row.step <= step:
            kept.append(line)
        else:
            dropped += 1
    atomic_write_text(path, header + "".join(kept))
    return len(kept), dropped
