"""The methods the suite knows: one record per method, read by the CLI, the workflow (its job
grid, config check and rules) and the report (labels, order, reward marks). A method is one
module exposing

    Config                     a dataclass of hyper-parameters (paper values as defaults)
    SUITES                     the suites it runs on
    NEEDS_VIDEOS               whether it learns from the expert videos
    default_config(task)       -> dict, per-suite/per-task defaults (the paper's tables)
    run(task, seed, cfg, harness, videos=None)

and its record here (see docs/adding-a-method.md). Kept free of torch: a SLURM job re-parses
the workflow, which reads this table."""

from __future__ import annotations

import difflib
import importlib
import os
from dataclasses import dataclass
from types import ModuleType

from bcvlr.tasks import TASKS


@dataclass(frozen=True)
class MethodInfo:
    module: str  # the module, importable ("package.module")
    label: str  # its name in the report's tables and figures
    videos: bool  # learns from the expert videos: the workflow passes them (--videos)
    rewards: bool = False  # given the environment's reward (underlined in the paper's tables)
    # the tasks the paper runs it on (Tables 1-10); None: not one of the paper's methods
    paper_tasks: tuple[str, ...] | None = None


def _suite(name: str) -> tuple[str, ...]:
    return tuple(t.name for t in TASKS.values() if t.suite == name)


_PROCGEN, _METAWORLD = _suite("procgen"), _suite("metaworld")
_DMC8 = tuple(t for t in _suite("dmc") if t != "walker_walk")

# In the report's order (columns, legends, colours).
METHODS: dict[str, MethodInfo] = {
    "bcvlr": MethodInfo("bcvlr.method.bcvlr", "BCV-LR", True, paper_tasks=tuple(TASKS)),
    "upesv": MethodInfo("baselines.upesv", "UPESV", True, paper_tasks=_PROCGEN + _DMC8),
    "bco": MethodInfo("baselines.bco", "BCO", True, paper_tasks=_PROCGEN + _DMC8 + _METAWORLD),
    "ilpo": MethodInfo("baselines.ilpo", "ILPO", True, paper_tasks=_PROCGEN),
    "laifo": MethodInfo("baselines.laifo", "LAIFO", True,
                        paper_tasks=_PROCGEN + _DMC8 + ("walker_walk",)),  # fmt: skip
    "lapo": MethodInfo("baselines.lapo", "LAPO", True, rewards=True, paper_tasks=_PROCGEN),
    "lapo_bc": MethodInfo("baselines.lapo_bc", "LAPO-BC", True,
                          paper_tasks=("fruitbot", "heist", "bossfight", "chaser")),  # fmt: skip
    "ppo": MethodInfo("baselines.ppo", "PPO", False, rewards=True, paper_tasks=_PROCGEN),
    "drqv2": MethodInfo("baselines.drqv2", "DrQv2", False, rewards=True,
                        paper_tasks=_DMC8 + _METAWORLD),  # fmt: skip
    "taco": MethodInfo("baselines.taco", "TACO", False, rewards=True, paper_tasks=_DMC8),
    "random": MethodInfo("baselines.random_policy", "Random", False),
    "zero": MethodInfo("baselines.zero_policy", "Zero action", False),
}
PAPER_METHODS = tuple(name for name, m in METHODS.items() if m.paper_tasks is not None)

# Methods outside this table, as "name=package.module,..." (the workflow sets it from config
# entries with `module:`), so that a new method runs before it has a record here.
EXTRA_METHODS_ENV = "BCVLR_METHODS"


def registry() -> dict[str, str]:
    """Method name -> module: the records' and those named through ``EXTRA_METHODS_ENV``."""
    extra = {}
    for item in filter(None, os.environ.get(EXTRA_METHODS_ENV, "").split(",")):
        name, _, module = item.partition("=")
        if not module:
            raise KeyError(f"{EXTRA_METHODS_ENV}: {item!r} must look like name=package.module")
        extra[name.strip()] = module.strip()
    return {**{name: m.module for name, m in METHODS.items()}, **extra}


def unknown_method_hint(name: str, known) -> str:
    """`` (did you mean ...?)`` for a mistyped method name, or nothing."""
    close = difflib.get_close_matches(name, known, n=2)
    return f" (did you mean {', '.join(close)}?)" if close else ""


def load_method(name: str) -> ModuleType:
    methods = registry()
    if name not in methods:
        hint = unknown_method_hint(name, methods)
        raise KeyError(f"unknown method {name!r}{hint}; known: {', '.join(sorted(methods))}")
    return importlib.import_module(methods[name])


def check_run(module: ModuleType, cfg, task, budget: int | None) -> None:
    """A method's optional ``check_run``: settings that fail only with this task and budget
    (None: the task's), raised as ``bcvlr.config.ConfigError`` before any run starts."""
    if hasattr(module, "check_run"):
        module.check_run(cfg, task, budget or task.budget)
