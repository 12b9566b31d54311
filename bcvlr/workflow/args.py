"""The command-line arguments each rule passes to its command, and the resources it asks for."""

from __future__ import annotations

import shlex
from collections.abc import Mapping
from typing import Any

from bcvlr.config import ConfigError as MethodConfigError
from bcvlr.config import parse_yaml, read_config_file
from bcvlr.tasks import get_task
from bcvlr.workflow.plan import DEFAULT_RESOURCES, ConfigError, Plan, per_task, resolve_path


def _opt(flag: str, value) -> list[str]:
    return [] if value is None else [flag, str(value)]


def _config_args(plan: Plan, name: str, task: str) -> list[str]:
    m = plan.method(name)
    cfg = m.per_task("config", task)
    args = _opt("--config", resolve_path(cfg) if cfg else None)
    for item in m.overrides(task):
        args += ["--set", item]
    return args


def method_config(plan: Plan, name: str, task: str, module=None):
    """The method's settings on ``task`` as its jobs resolve them: the suite's defaults
    (``module.default_config``) <- the entry's `config` file <- its `set` items, the very
    --config/--set that ``_config_args`` passes. ``module``: the method's module (default: the
    registry's; importing it imports torch). Raises bcvlr.config.ConfigError."""
    from bcvlr.config import load_config

    m = plan.method(name)
    if module is None:
        from bcvlr.methods import load_method

        module = load_method(m.registry_name)
    cfg = m.per_task("config", task)
    return load_config(module.Config, resolve_path(cfg) if cfg else None, m.overrides(task),
                       base=module.default_config(get_task(task)))  # fmt: skip


def method_args(plan: Plan, name: str, task: str) -> str:
    """--config/--set/--budget/--eval-* of a method on a task, shell-quoted."""
    m = plan.method(name)
    args = _config_args(plan, name, task)
    args += _opt("--budget", m.per_task("budget", task))
    args += _opt("--eval-episodes", m.per_task("eval_episodes", task))
    args += _opt("--eval-every", m.per_task("eval_every", task))
    return shlex.join(args)


def stage_args(plan: Plan, name: str, task: str) -> str:
    """The pretraining stages take --config/--set only."""
    return shlex.join(_config_args(plan, name, task))


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
              fallback: Mapping[str, int] | None = None,
              estimate: Mapping[str, int] | None = None) -> dict[str, int]:  # fmt: skip
    """cpus, mem_mb, runtime, gpu: built-in defaults <- resources.default <- ``fallback``
    (the rule's own) <- ``estimate`` (what the job is sized at from measured rates:
    bcvlr.workflow.cost) <- the section's <- its per-suite/task entry. A value the config
    gives for the job itself thus always wins over the estimate."""
    out = dict(DEFAULT_RESOURCES)
    out.update({k: v for k, v in ((plan.config.get("resources") or {}).get("default") or {}).items()
                if k != "suites"})  # fmt: skip
    out.update(fallback or {})
    out.update(estimate or {})
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
