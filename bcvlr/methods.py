"""The methods the suite knows, by name. A method is one module exposing

    Config                     a dataclass of hyper-parameters (paper values as defaults)
    SUITES                     the suites it runs on
    default_config(task)       -> dict, per-suite/per-task defaults (the paper's tables)
    run(task, seed, cfg, harness, videos=None)

and is added here with one line (see docs/adding-a-method.md)."""

from __future__ import annotations

import importlib
from types import ModuleType

METHODS: dict[str, str] = {
    "bcvlr": "bcvlr.method.bcvlr",
    "random": "baselines.random_policy",
    "ppo": "baselines.ppo",
    "drqv2": "baselines.drqv2",
    "taco": "baselines.taco",
    "lapo": "baselines.lapo",
    "lapo_bc": "baselines.lapo_bc",
    "laifo": "baselines.laifo",
    "ilpo": "baselines.ilpo",
    "bco": "baselines.bco",
    "upesv": "baselines.upesv",
}


# Methods outside this table, as "name=package.module,..." (the workflow sets it from config
# entries with `module:`), so that a new method runs before it is registered here.
EXTRA_METHODS_ENV = "BCVLR_METHODS"


def registry() -> dict[str, str]:
    import os

    extra = {}
    for item in filter(None, os.environ.get(EXTRA_METHODS_ENV, "").split(",")):
        name, _, module = item.partition("=")
        if not module:
            raise KeyError(f"{EXTRA_METHODS_ENV}: {item!r} must look like name=package.module")
        extra[name.strip()] = module.strip()
    return {**METHODS, **extra}


def load_method(name: str) -> ModuleType:
    methods = registry()
    if name not in methods:
        import difflib

        close = difflib.get_close_matches(name, methods, n=2)
        hint = f" (did you mean {', '.join(close)}?)" if close else ""
        raise KeyError(f"unknown method {name!r}{hint}; known: {', '.join(sorted(methods))}")
    return importlib.import_module(methods[name])
