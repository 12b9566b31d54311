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
}


def load_method(name: str) -> ModuleType:
    if name not in METHODS:
        import difflib

        close = difflib.get_close_matches(name, METHODS, n=2)
        hint = f" (did you mean {', '.join(close)}?)" if close else ""
        raise KeyError(f"unknown method {name!r}{hint}; known: {', '.join(sorted(METHODS))}")
    return importlib.import_module(METHODS[name])
