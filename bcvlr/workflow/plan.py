"""The plan: which jobs a workflow config asks for, per method, task and seed."""

from __future__ import annotations

import functools
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bcvlr.config import parse_yaml
from bcvlr.errors import UserError
from bcvlr.methods import METHODS
from bcvlr.tasks import SUITES, TASKS, get_task

REPO = Path(__file__).resolve().parents[2]
SCHEMA = REPO / "workflow" / "schemas" / "config.schema.yaml"
DEFAULT_RESOURCES = {"cpus": 1, "mem_mb": 4000, "runtime": 60, "gpu": 0}


class ConfigError(UserError, ValueError):
    """A bad workflow config; the message names the offending key."""


def load_schema() -> dict:
    return parse_yaml(SCHEMA.read_text())


def resolve_path(path: str) -> Path:
    """Config files named in a workflow config are relative to the repository, so that the
    workflow can run in another working directory (tests use `snakemake -d`)."""
    p = Path(path)
    return p if p.is_absolute() else REPO / p


def per_task(value, task: str):
    """A config value given once, or per suite and/or task (the task's key wins)."""
    if not isinstance(value, dict):
        return value
    if task in value:
        return value[task]
    return value.get(get_task(task).suite)


@dataclass
class Method:
    name: str
    entry: dict
    registry_name: str
    videos: bool
    is_bcvlr: bool

    def per_task(self, key: str, task: str):
        return per_task(self.entry.get(key), task)

    def overrides(self, task: str) -> list[str]:
        return list(self.per_task("set", task) or [])

    @property
    def run_name(self) -> str:
        """The name its runs are recorded under (run.json's method, the run folder's name):
        `bcvlr run --method` records the registry's name, BCV-LR's online stage any name."""
        if "report_as" in self.entry:
            return self.entry["report_as"]
        return self.name if self.is_bcvlr or "base" not in self.entry else self.registry_name

    def runs_root(self, plan: Plan) -> str:
        return self.entry.get("runs", plan.paths["runs"])

    @property
    def pretrain_tasks(self) -> list[str]:
        return list(self.entry.get("pretrain_tasks", []))

    def videos_steps(self, task: str) -> int | None:
        """Transitions of the video dataset it learns from on ``task`` (None: the task's
        full dataset)."""
        return self.per_task("videos_steps", task)


@dataclass
class Plan:
    config: Mapping[str, Any]
    available: list[str] = field(default_factory=list)
    # method -> why it is skipped
    unavailable: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for name, entry in self.config["methods"].items():
            if entry.get("enabled", True):  # names are checked by check_config
                self.available.append(name)
            else:
                self.unavailable[name] = "disabled in the config (enabled: false)"

    @functools.cached_property
    def paths(self) -> dict[str, str]:
        defaults = load_schema()["properties"]["paths"]["properties"]
        given = self.config.get("paths") or {}
        return {k: given.get(k, v["default"]) for k, v in defaults.items()}

    def method(self, name: str) -> Method:
        entry = dict(self.config["methods"][name])
        base = entry.get("base")
        registry_name = base or name
        known = METHODS.get(registry_name)
        videos = entry.get("videos", known.videos if known else False)
        return Method(name, entry, registry_name, videos, registry_name == "bcvlr")

    def tasks(self, name: str) -> list[str]:
        """The config's tasks that the method runs on: its own `tasks`/`suites` if given, else
        the tasks the paper runs it on (every task for a method outside the paper)."""
        entry = self.config["methods"][name]
        known = METHODS.get(entry.get("base", name))
        default = known.paper_tasks if known and known.paper_tasks else tuple(TASKS)
        allowed = entry.get("tasks", default)
        # a camera variant runs where its task does
        tasks = [t for t in self.config["tasks"]
                 if t in allowed or get_task(t).base_name in allowed]  # fmt: skip
        suites = entry.get("suites", SUITES)
        return [t for t in tasks if get_task(t).suite in suites]

    def seeds(self, name: str) -> list[int]:
        return list(self.config["methods"][name].get("seeds", self.config["seeds"]))

    def grid(self, name: str) -> list[tuple[str, int]]:
        return [(t, s) for t in self.tasks(name) for s in self.seeds(name)]

    def video_tasks(self) -> list[str]:
        """Tasks whose expert videos some available method needs (multi-task pretraining
        included: its tasks need not be run on)."""
        need = set()
        for name in self.available:
            if self.method(name).videos:
                need |= set(self.tasks(name)) | set(self.method(name).pretrain_tasks)
        order = list(self.config["tasks"]) + [t for t in TASKS if t not in self.config["tasks"]]
        return [t for t in order if t in need]

    def imported_video_tasks(self) -> list[str]:
        """Procgen tasks whose videos come from LAPO's data (``videos.lapo_data``) instead of
        a trained PPO expert."""
        if not self.config.get("videos", {}).get("lapo_data"):
            return []
        return [t for t in self.video_tasks() if get_task(t).suite == "procgen"]

    def lapo_source(self, task: str) -> str:
        """LAPO's folder for one game (its download unpacks to expert_data/<game>/)."""
        return os.path.join(self.config["videos"]["lapo_data"], task)

    def video_amounts(self) -> list[tuple[str, int]]:
        """(task, transitions) of the smaller video datasets some available method learns
        from (`videos_steps`, Figure 5)."""
        need = set()
        for name in self.available:
            m = self.method(name)
            need |= {(t, m.videos_steps(t)) for t in self.tasks(name) if m.videos_steps(t)}
        return sorted(need)

    def runs_roots(self) -> list[str]:
        """Every runs root the available methods write to, the default first: the report
        reads them all (Figure 9's extended-budget runs live apart)."""
        roots = [self.paths["runs"]]
        roots += [self.method(m).runs_root(self) for m in self.available]
        return list(dict.fromkeys(roots))

    def expert_kind(self, task: str) -> str:
        from bcvlr.experts.train import DEFAULT_KIND

        kind = per_task(self.config.get("experts", {}).get("kind"), task)
        return kind or DEFAULT_KIND[get_task(task).suite]

    def summary(self) -> str:
        lines = [f"bcvlr-bench workflow: {self.config.get('name', 'unnamed')} config, "
                 f"{len(self.config['tasks'])} task(s), seeds {self.config['seeds']}"]  # fmt: skip
        for name in self.available:
            m = self.method(name)
            label = f" [{m.entry['label']}]" if "label" in m.entry else ""
            notes = []
            if m.pretrain_tasks:
                notes.append(f"pretrained once per seed on {'+'.join(m.pretrain_tasks)}")
            if m.run_name != name or "runs" in m.entry:
                notes.append(f"recorded as {m.runs_root(self)}/{m.run_name}")
            note = f" ({'; '.join(notes)})" if notes else ""
            lines.append(f"  {name}: {len(self.grid(name))} run(s){label}{note}")
        for name, why in self.unavailable.items():
            n = len(self.grid(name))
            lines.append(f"  {name}: NOT RUN, {why}; {n} run(s) skipped")
        return "\n".join(lines)
