"""The workflow config check: the schema, then what a schema cannot say (files exist, names
resolve), each problem as `key: problem`."""

from __future__ import annotations

import difflib
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from bcvlr.config import ConfigError as MethodConfigError
from bcvlr.config import parse_yaml
from bcvlr.methods import METHODS, unknown_method_hint
from bcvlr.tasks import TASKS, UnknownTaskError, get_task
from bcvlr.workflow.plan import ConfigError, Plan, load_schema, resolve_path


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
    from bcvlr.methods import check_run, load_method
    from bcvlr.workflow.args import method_config

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
                cfg = method_config(plan, name, task_name, module)
                budget = m.per_task("budget", task_name) or getattr(cfg, "budget", None)
                check_run(module, cfg, task, budget)  # as `bcvlr run` will
            except MethodConfigError as e:
                msgs.append(f"methods.{name} on {task_name}: {e}")
    if msgs:
        raise ConfigError("invalid workflow config:\n  " + "\n  ".join(dict.fromkeys(msgs)))
