"""What the Snakefile needs besides rules: the config check, the job grid, command arguments,
and the `job` wrapper that makes every rule safe to kill and rerun.

Kept out of the Snakefile so that it is tested like the rest of the package, and importable
without torch (a SLURM job re-parses the Snakefile: it must stay fast).

Products (expert folders, video datasets, run directories, pretraining stages) resume after a
kill, so they are never Snakemake outputs: Snakemake deletes the outputs of a job it re-runs.
Each job's output is a small marker under ``paths.done``, written by ``python -m bcvlr.workflow
job`` once the product is complete (see docs/workflow.md).
"""

from __future__ import annotations

import argparse
import difflib
import functools
import json
import os
import shlex
import shutil
import subprocess
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from bcvlr.config import ConfigError as MethodConfigError
from bcvlr.config import parse_yaml, read_config_file
from bcvlr.errors import UserError
from bcvlr.methods import METHODS, unknown_method_hint
from bcvlr.tasks import SUITES, TASKS, UnknownTaskError, get_task

REPO = Path(__file__).resolve().parents[1]
SCHEMA = REPO / "workflow" / "schemas" / "config.schema.yaml"

DEFAULT_RESOURCES = {"cpus": 1, "mem_mb": 4000, "runtime": 60, "gpu": 0}


class ConfigError(UserError, ValueError):
    """A bad workflow config; the message names the offending key."""


# -- the config check ---------------------------------------------------------------------------
def load_schema() -> dict:
    return parse_yaml(SCHEMA.read_text())


def _key(path) -> str:
    parts = [str(p) if not isinstance(p, int) else f"[{p}]" for p in path]
    return ".".join(parts).replace(".[", "[") or "(top level)"


def _format_error(err, schema: dict) -> str:
    """One jsonschema error as `key: what is wrong`, naming the key a user has to fix."""
    where = _key(err.absolute_path)
    v = err.validator
    if v == "additionalProperties":
        allowed = sorted(err.schema.get("properties", {}))
        extra = [k for k in err.instance if k not in err.schema.get("properties", {})]
        msgs = []
        for k in extra:
            key = f"{where}.{k}" if err.absolute_path else k
            close = difflib.get_close_matches(k, allowed, n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            msgs.append(f"{key}: unknown key{hint}; allowed: {', '.join(allowed)}")
        return "\n".join(msgs)
    if v == "enum" and err.validator_value == schema["$defs"]["registered_task"]["enum"]:
        close = difflib.get_close_matches(str(err.instance), TASKS, n=3)
        hint = f" (did you mean {', '.join(close)}?)" if close else ""
        return f"{where}: unknown task {err.instance!r}{hint}; `bcvlr tasks` lists the tasks"
    if v in ("oneOf", "anyOf") and err.context:
        # The per-suite forms: report the most specific failure rather than "not valid under
        # any of the given schemas".
        best = min(err.context, key=lambda e: (-len(e.absolute_path), e.validator == "type"))
        return _format_error(best, schema)
    if v == "type":
        return f"{where}: expected {err.validator_value}, got {err.instance!r}"
    if v == "required":
        return f"{where}: {err.message}"
    return f"{where}: {err.message}"


def check_config(config: Mapping[str, Any], *, source: str = "config") -> None:
    """Schema check plus what a schema cannot say (files exist, names resolve).

    Raises ConfigError listing every problem, each as `key: problem`.
    """
    from jsonschema import Draft202012Validator

    schema = load_schema()
    errors = sorted(Draft202012Validator(schema).iter_errors(dict(config)),
                    key=lambda e: list(map(str, e.absolute_path)))  # fmt: skip
    msgs = [_format_error(e, schema) for e in errors]
    if not msgs:
        msgs = _semantic_errors(config)
    if msgs:
        body = "\n  ".join(m for m in msgs for m in m.split("\n"))
        raise ConfigError(f"{source}: invalid workflow config:\n  {body}")


def _task_name_errors(config: Mapping[str, Any]) -> list[str]:
    """Camera variants pass the schema's pattern; the registry knows their cameras. A task's
    own camera spelled out is refused: its runs would be recorded under the plain name, where
    the workflow's products under the spelled one never appear."""
    named = [("tasks", config["tasks"])]
    for name, entry in config["methods"].items():
        named += [
            (f"methods.{name}.{key}", entry.get(key, [])) for key in ("tasks", "pretrain_tasks")
        ]
    msgs = []
    for where, tasks in named:
        for task in tasks:
            try:
                name = get_task(task).name
            except UnknownTaskError as err:
                msgs.append(f"{where}: {err}")
                continue
            if name != task:
                msgs.append(f"{where}: {task!r} is {name} itself (its default camera): "
                            f"name it {name}")  # fmt: skip
    return msgs


def _unknown_methods(config: Mapping[str, Any]) -> list[str]:
    """Entries that are neither a method of bcvlr/methods.py, nor a new method (`module:`),
    nor a variant (`base:`)."""
    return [f"methods.{name}: unknown method {name!r}{unknown_method_hint(name, METHODS)}; "
            f"known: {', '.join(METHODS)}. A new method needs `module: package.module` "
            "(docs/adding-a-method.md), a BCV-LR variant `base: bcvlr`"
            for name, entry in config["methods"].items()
            if name not in METHODS and "module" not in entry and "base" not in entry] + [
        f"methods.{name}.base: unknown method {entry['base']!r}"
        f"{unknown_method_hint(entry['base'], METHODS)}; known: {', '.join(METHODS)}"
        for name, entry in config["methods"].items()
        if "base" in entry and entry["base"] not in METHODS]  # fmt: skip


def _semantic_errors(config: Mapping[str, Any]) -> list[str]:
    if msgs := _task_name_errors(config) + _unknown_methods(config):
        return msgs  # the plan below looks every task and method up
    msgs = []
    plan = Plan(config)
    runs_of: dict[tuple[str, str], str] = {}  # (runs root, recorded name) -> entry
    for task, src in (config.get("experts", {}).get("prebuilt") or {}).items():
        if task not in plan.video_tasks():
            msgs.append(f"experts.prebuilt.{task}: not a task whose videos this config makes")
        elif not (resolve_path(src) / "expert.json").is_file():
            msgs.append(f"experts.prebuilt.{task}: no expert.json in {resolve_path(src)}")
    msgs += _expert_kind_errors(config, plan)
    for task in plan.imported_video_tasks():
        src = resolve_path(plan.lapo_source(task))
        if not src.is_dir():
            msgs.append(f"videos.lapo_data: no folder {src} for {task} (LAPO's expert_data/ "
                        "holds one folder per game)")  # fmt: skip
    for name, entry in config["methods"].items():
        where = f"methods.{name}"
        m = plan.method(name)
        if "module" in entry and name in METHODS:
            msgs.append(f"{where}.module: {name!r} is a registered method "
                        f"({METHODS[name].module})")  # fmt: skip
        if "base" in entry and name in METHODS:
            msgs.append(f"{where}.base: a variant needs a name of its own, not {name!r}")
        if "module" in entry and "base" in entry:
            msgs.append(f"{where}: `module` and `base` exclude each other")
        if "report_as" in entry and "base" not in entry:
            msgs.append(f"{where}.report_as: only a variant (`base:`) is recorded under "
                        "another name")  # fmt: skip
        elif "report_as" in entry and not m.is_bcvlr and entry["report_as"] != m.registry_name:
            msgs.append(f"{where}.report_as: `bcvlr run` records {m.registry_name}'s runs "
                        f"as {m.registry_name!r}")  # fmt: skip
        for key in ("pretrain_tasks", "videos_steps"):
            if key in entry and not m.is_bcvlr:
                msgs.append(f"{where}.{key}: a BCV-LR setting (bcvlr or `base: bcvlr`)")
        msgs += _pretrain_errors(plan, name)
        runs = (m.runs_root(plan), m.run_name)
        if runs in runs_of:
            msgs.append(f"{where}: its runs would go to {runs[0]}/{runs[1]}/, as methods."
                        f"{runs_of[runs]}'s do: give it `runs:` of its own")  # fmt: skip
        runs_of.setdefault(runs, name)
        for key in ("config",):
            for sel, path in _per_suite_items(entry.get(key)):
                if not resolve_path(path).exists():
                    msgs.append(f"{where}.{key}{sel}: file {path} does not exist")
    for sel, path in _per_suite_items(config.get("experts", {}).get("config")):
        if not resolve_path(path).exists():
            msgs.append(f"experts.config{sel}: file {path} does not exist")
    return msgs


def _expert_kind_errors(config: Mapping[str, Any], plan: Plan) -> list[str]:
    from bcvlr.experts.train import TRAINERS

    kinds = config.get("experts", {}).get("kind")
    msgs = []
    for task in plan.video_tasks():
        suite, kind = get_task(task).suite, plan.expert_kind(task)
        if kind not in TRAINERS[suite]:
            sel = "" if not isinstance(kinds, dict) else f".{task if task in kinds else suite}"
            msgs.append(f"experts.kind{sel}: {kind!r} is not an expert kind for {suite} "
                        f"tasks ({task}); choose from {', '.join(TRAINERS[suite])}")  # fmt: skip
    return list(dict.fromkeys(msgs))


def _pretrain_errors(plan: Plan, name: str) -> list[str]:
    """Multi-task pretraining: one suite (one observation space and set of settings)."""
    pretrain = plan.method(name).pretrain_tasks
    if not pretrain:
        return []
    suites = {get_task(t).suite for t in pretrain}
    if len(suites) > 1:
        return [f"methods.{name}.pretrain_tasks: tasks of one suite, not "
                f"{', '.join(sorted(suites))}"]  # fmt: skip
    (suite,) = suites
    others = [t for t in plan.tasks(name) if get_task(t).suite != suite]
    if others:
        return [f"methods.{name}: online tasks {', '.join(others)} are not {suite} tasks like "
                "its pretrain_tasks"]  # fmt: skip
    return []


def _per_suite_items(value) -> list[tuple[str, Any]]:
    if value is None:
        return []
    if isinstance(value, dict):
        return [(f".{k}", v) for k, v in value.items()]
    return [("", value)]


def resolve_path(path: str) -> Path:
    """Config files named in a workflow config are relative to the repository, so that the
    workflow can run in another working directory (tests use `snakemake -d`)."""
    p = Path(path)
    return p if p.is_absolute() else REPO / p


def load_config_file(path: str | os.PathLike) -> dict:
    try:
        data = parse_yaml(Path(path).read_text())
    except FileNotFoundError:
        raise ConfigError(f"{path}: no such file") from None
    except yaml.YAMLError as e:
        raise ConfigError(f"{path}: not valid YAML: {e}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping at the top level")
    return data


def deep_check(config: Mapping[str, Any]) -> None:
    """Resolve every available method's hyper-parameters for every task it runs on, as the
    jobs will (imports the methods, so torch: called once per workflow, not per job)."""
    from bcvlr.config import load_config
    from bcvlr.methods import load_method

    plan = Plan(config)
    msgs = []
    for name in plan.available:
        m = plan.method(name)
        if "module" in m.entry:
            import importlib

            try:
                module = importlib.import_module(m.entry["module"])
            except ImportError as e:
                msgs.append(f"methods.{name}.module: cannot import {m.entry['module']!r}: {e}")
                continue
        else:
            module = load_method(m.registry_name)
        for task_name in sorted({t for t, _ in plan.grid(name)} | set(m.pretrain_tasks)):
            task = get_task(task_name)
            if task.suite not in module.SUITES:
                msgs.append(f"methods.{name}: {m.registry_name} runs on "
                            f"{', '.join(module.SUITES)} tasks, not on {task_name}")  # fmt: skip
                continue
            if getattr(module, "NEEDS_VIDEOS", False) and not m.videos:
                msgs.append(f"methods.{name}.videos: {m.registry_name} learns from expert "
                            "videos: set `videos: true`")  # fmt: skip
            try:
                cfg_file = m.per_task("config", task_name)
                load_config(module.Config, resolve_path(cfg_file) if cfg_file else None,
                            m.overrides(task_name), base=module.default_config(task))  # fmt: skip
            except MethodConfigError as e:
                msgs.append(f"methods.{name} on {task_name}: {e}")
    if msgs:
        raise ConfigError("invalid workflow config:\n  " + "\n  ".join(dict.fromkeys(msgs)))


# -- the plan: which jobs the config asks for ---------------------------------------------------
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


# -- command-line arguments for the rules -------------------------------------------------------
def _opt(flag: str, value) -> list[str]:
    return [] if value is None else [flag, str(value)]


def method_args(plan: Plan, name: str, task: str) -> str:
    """--config/--set/--budget/--eval-* of a method on a task, shell-quoted."""
    m = plan.method(name)
    cfg = m.per_task("config", task)
    args = _opt("--config", resolve_path(cfg) if cfg else None)
    for item in m.overrides(task):
        args += ["--set", item]
    args += _opt("--budget", m.per_task("budget", task))
    args += _opt("--eval-episodes", m.per_task("eval_episodes", task))
    args += _opt("--eval-every", m.per_task("eval_every", task))
    return shlex.join(args)


def stage_args(plan: Plan, name: str, task: str) -> str:
    """The pretraining stages take --config/--set only."""
    m = plan.method(name)
    cfg = m.per_task("config", task)
    args = _opt("--config", resolve_path(cfg) if cfg else None)
    for item in m.overrides(task):
        args += ["--set", item]
    return shlex.join(args)


# -- BCV-LR's pretraining: per task, or shared by several tasks ---------------------------------
# The pretraining of an entry with `pretrain_tasks` (Table 3), in place of a task's name.
MULTITASK = "multitask"


def pretraining_of(plan: Plan, name: str, task: str) -> str:
    """Which pretraining a BCV-LR entry's run on ``task`` loads: the task's own, or the
    entry's multi-task one (MULTITASK), pretrained once per seed for all its tasks."""
    return MULTITASK if plan.method(name).pretrain_tasks else task


def pretraining_task(plan: Plan, name: str, pretraining: str) -> str:
    """The task whose settings a pretraining runs with: a multi-task one takes its first
    pretrain task's (the pretrain tasks share a suite, checked)."""
    return plan.method(name).pretrain_tasks[0] if pretraining == MULTITASK else pretraining


def pretraining_videos(plan: Plan, name: str, pretraining: str) -> list[tuple[str, int | None]]:
    """(task, transitions or None for the full dataset) of every video dataset a
    pretraining learns from."""
    m = plan.method(name)
    tasks = m.pretrain_tasks if pretraining == MULTITASK else [pretraining]
    return [(t, m.videos_steps(t)) for t in tasks]


def runs_args(plan: Plan) -> str:
    """`--runs` for every runs root (bcvlr aggregate / report)."""
    return shlex.join([a for root in plan.runs_roots() for a in ("--runs", root)])


def bcvlr_variant(plan: Plan, name: str, task: str) -> str:
    """The BCV-LR ablation a method entry selects (`variant`: full, wo_lf, wo_la, wo_ft): it
    decides which pretraining stages the online stage needs."""
    m = plan.method(name)
    variant = "full"
    cfg = m.per_task("config", task)
    if cfg:
        try:  # the method's own reader, which follows `extends`
            variant = read_config_file(resolve_path(cfg)).get("variant", variant)
        except MethodConfigError as e:
            raise ConfigError(str(e)) from None
    for item in m.overrides(task):
        key, _, value = item.partition("=")
        if key.strip() == "variant":
            variant = str(parse_yaml(value))
    return variant


def expert_args(plan: Plan, task: str) -> str:
    ex = plan.config.get("experts", {})
    args = ["--kind", plan.expert_kind(task)]
    if prebuilt := (ex.get("prebuilt") or {}).get(task):
        return shlex.join([*args, "--from", str(resolve_path(prebuilt))])
    cfg = per_task(ex.get("config"), task)
    args += _opt("--config", resolve_path(cfg) if cfg else None)
    for item in per_task(ex.get("set"), task) or []:
        args += ["--set", item]
    return shlex.join(args)


def videos_args(plan: Plan, task: str, steps: int | None = None) -> str:
    """collect-videos' arguments: the config's, or a dataset of ``steps`` transitions."""
    v = plan.config.get("videos", {})
    args = _opt("--steps", steps or per_task(v.get("steps"), task))
    args += _opt("--chunk-frames", v.get("chunk_frames"))
    return shlex.join(args)


def resources(plan: Plan, section: Mapping[str, Any] | None, task: str | None,
              fallback: Mapping[str, int] | None = None) -> dict[str, int]:  # fmt: skip
    """cpus, mem_mb, runtime, gpu: built-in defaults <- resources.default <- ``fallback``
    (the rule's own) <- the section's <- its per-suite/task entry."""
    out = dict(DEFAULT_RESOURCES)
    out.update({k: v for k, v in ((plan.config.get("resources") or {}).get("default") or {}).items()
                if k != "suites"})  # fmt: skip
    out.update(fallback or {})
    section = dict(section or {})
    by = section.pop("suites", {}) or {}
    out.update(section)
    if task is not None:
        suite = get_task(task).suite
        out.update(by.get(suite, {}))
        out.update(by.get(task, {}))
    return out


def extra_methods_env(config: Mapping[str, Any]) -> str:
    """BCVLR_METHODS for the methods the config names by module (see bcvlr/methods.py)."""
    items = [f"{n}={e['module']}" for n, e in config["methods"].items() if "module" in e]
    return ",".join(items)


# -- the job wrapper ----------------------------------------------------------------------------
def product_complete(kind: str, path: Path) -> bool:
    """Whether a product folder holds a finished product."""
    try:
        if kind == "run":
            return json.loads((path / "run.json").read_text()).get("status") == "complete"
        if kind == "stage":
            return json.loads((path / "stage.json").read_text()).get("status") == "complete"
        if kind == "videos":
            return bool(json.loads((path / "manifest.json").read_text()).get("complete"))
        if kind == "expert":
            return (path / "expert.json").exists()
    except (FileNotFoundError, ValueError):
        return False
    raise ValueError(f"unknown product kind {kind!r}")


# What a fresh start removes from a run directory: the run's own files. A BCV-LR run keeps its
# pretrain/ stages, which are products of other rules.
_RUN_FILES = ("run.json", "metrics.csv", "checkpoints")


def _clear(kind: str, path: Path) -> None:
    if kind == "run":
        for name in _RUN_FILES:
            p = path / name
            if p.is_dir():
                shutil.rmtree(p)
            else:
                p.unlink(missing_ok=True)
    elif path.exists():
        shutil.rmtree(path)


def _summary(kind: str, path: Path) -> dict:
    try:
        if kind == "run":
            info = json.loads((path / "run.json").read_text())
            keys = ("method", "task", "seed", "status", "budget", "reduced_budget")
            return {k: info.get(k) for k in keys}
        if kind == "videos":
            m = json.loads((path / "manifest.json").read_text())
            return {"task": m.get("task"), "counts": m.get("counts"),
                    "expert_score": (m.get("expert") or {}).get("score")}  # fmt: skip
        if kind == "expert":
            return json.loads((path / "expert.json").read_text())
        if kind == "stage":
            s = json.loads((path / "stage.json").read_text())
            return {k: s.get(k) for k in ("stage", "seed", "status", "step")}
    except (FileNotFoundError, ValueError):
        pass
    return {}


def run_job(kind: str, product: Path, done: Path, command: list[str]) -> int:
    """Run ``command`` so that a killed job resumes and a changed job starts afresh.

    The command line is the product's fingerprint, kept beside the marker. Same fingerprint:
    the command runs again and resumes from the product's checkpoints. Another fingerprint
    (the config changed): the product is cleared first. A complete product with no fingerprint
    (made by hand) is adopted as is; an incomplete one is refused, since it cannot be told
    apart from somebody else's half-finished work.
    """
    from bcvlr.results.rundir import atomic_write_json

    if not command:
        raise SystemExit("bcvlr.workflow job: no command after --")
    fp_file = done.with_name(done.name + ".cmd")
    done.parent.mkdir(parents=True, exist_ok=True)
    try:
        stored = json.loads(fp_file.read_text())
    except (FileNotFoundError, ValueError):
        stored = None
    exists = product.exists() and (kind != "run" or (product / "run.json").exists())
    if stored is None and exists:
        if product_complete(kind, product):
            print(f"workflow: adopting the complete {kind} in {product} (made outside the "
                  "workflow)", flush=True)  # fmt: skip
            atomic_write_json(fp_file, command)
            atomic_write_json(done, {"product": str(product), "adopted": True,
                                     **_summary(kind, product)})  # fmt: skip
            return 0
        print(f"workflow: {product} holds an unfinished {kind} that this workflow did not "
              "start; move it away or finish it by hand, then rerun", file=sys.stderr)  # fmt: skip
        return 3
    if stored is not None and stored != command:
        print(f"workflow: the command changed since {product} was started: starting afresh",
              flush=True)  # fmt: skip
        _clear(kind, product)
    elif stored is not None and product_complete(kind, product):
        # Rerun by Snakemake (a trigger, --forcerun): the old result is replaced, as Snakemake
        # replaces the outputs of any job it reruns.
        print(f"workflow: {product} is complete but the job reruns: starting afresh", flush=True)
        _clear(kind, product)
    elif stored is not None and exists:
        print(f"workflow: resuming {product}", flush=True)
    atomic_write_json(fp_file, command)
    print("workflow: " + shlex.join(command), flush=True)
    rc = _call(command)
    if rc != 0:
        return rc
    if not product_complete(kind, product):
        print(f"workflow: the command succeeded but {product} is not a complete {kind}",
              file=sys.stderr)  # fmt: skip
        return 4
    atomic_write_json(done, {"product": str(product), **_summary(kind, product)})
    return 0


def _call(command: list[str]) -> int:
    """Run the command, passing SIGTERM/SIGINT on: SLURM and Snakemake signal the job's
    shell, and the command must get the chance to leave its checkpoint consistent."""
    import signal

    proc = subprocess.Popen(command)

    def forward(signum, _frame):
        proc.send_signal(signum)

    old = {s: signal.signal(s, forward) for s in (signal.SIGTERM, signal.SIGINT)}
    try:
        return proc.wait()
    finally:
        for s, handler in old.items():
            signal.signal(s, handler)


# -- command line -------------------------------------------------------------------------------
def validate_config_main(args: argparse.Namespace) -> None:
    """`bcvlr validate-config FILE`: the workflow's check, plus every method's settings."""
    from bcvlr.errors import CliError

    try:
        config = load_config_file(args.file)
        check_config(config, source=args.file)
        if not args.shallow:
            deep_check(config)
    except ConfigError as e:
        raise CliError(str(e)) from None
    plan = Plan(config)
    print(plan.summary())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bcvlr.workflow", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("job", help="run one rule's command (resume-safe) and write its marker")
    p.add_argument("--kind", required=True, choices=["run", "stage", "videos", "expert"])
    p.add_argument("--product", required=True, type=Path)
    p.add_argument("--done", required=True, type=Path, help="the marker (the rule's output)")
    p.add_argument("cmd", nargs=argparse.REMAINDER, help="-- then the command")
    p = sub.add_parser("summary", help="print the jobs a config asks for")
    p.add_argument("file")
    args = parser.parse_args(argv)
    if args.command == "job":
        cmd = args.cmd[1:] if args.cmd[:1] == ["--"] else args.cmd
        return run_job(args.kind, args.product, args.done, cmd)
    config = load_config_file(args.file)
    check_config(config, source=args.file)
    print(Plan(config).summary())
    return 0


if __name__ == "__main__":
    sys.exit(main())
