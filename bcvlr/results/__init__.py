"""The results format: one directory per run, written by ``RunDir``, read by ``load_run``."""

from bcvlr.results.rundir import (
    METRICS_COLUMNS,
    MetricsWriter,
    RunDir,
    RunExistsError,
    SettingsMismatchError,
    atomic_write_json,
    provenance,
    run_path,
    score_metric,
)
from bcvlr.results.schema import Run, RunCollection, RunSchemaError, collect_runs, load_run

__all__ = [
    "METRICS_COLUMNS",
    "MetricsWriter",
    "Run",
    "RunCollection",
    "RunDir",
    "RunExistsError",
    "SettingsMismatchError",
    "RunSchemaError",
    "atomic_write_json",
    "collect_runs",
    "load_run",
    "provenance",
    "run_path",
    "score_metric",
]
