"""argparse pieces the `bcvlr` command's parsers share: integer types that refuse 0 or
negatives where they mean nothing, and handlers imported only when their subcommand runs."""

from __future__ import annotations

import argparse
from collections.abc import Callable


def at_least(low: int):
    """An argparse type: an integer >= ``low`` (0 is never a stand-in for "the default")."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None
        if value < low:
            raise argparse.ArgumentTypeError(f"must be >= {low}, got {value}")
        return value

    parse.__name__ = f"integer >= {low}"  # argparse names the type in its message
    return parse


NATURAL, POSITIVE = at_least(0), at_least(1)


def lazy(target: str) -> Callable[[argparse.Namespace], None]:
    """`module:function`, imported only when the subcommand runs."""

    def call(args: argparse.Namespace) -> None:
        import importlib

        module, func = target.split(":")
        getattr(importlib.import_module(module), func)(args)

    return call
