"""Dataclass configs loaded from YAML and validated: an unknown key, a wrong type or a bad value
fails before any compute, with a message that names the key."""

from __future__ import annotations

import dataclasses
import difflib
import re
import types
import typing
from pathlib import Path
from typing import Any, TypeVar

import yaml

from bcvlr.errors import UserError

T = TypeVar("T")


class ConfigError(UserError, ValueError):
    pass


class UnknownKeyError(ConfigError):
    """A key no field has; ``suggested`` when the message already names a close one."""

    def __init__(self, message: str, key: str, suggested: bool):
        super().__init__(message)
        self.key, self.suggested = key, suggested


def _check(value: Any, tp: Any, where: str) -> Any:
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if tp is Any:
        return value
    if origin in (typing.Union, types.UnionType):
        errors = []
        for option in args:
            try:
                return _check(value, option, where)
            except ConfigError as e:
                errors.append(str(e))
        raise ConfigError(f"{where}: {value!r} matches none of {tp}")
    if tp is type(None):
        if value is not None:
            raise ConfigError(f"{where}: expected null, got {value!r}")
        return None
    if origin is typing.Literal:
        if value not in args:
            raise ConfigError(f"{where}: {value!r} is not one of {list(args)}")
        return value
    if dataclasses.is_dataclass(tp):
        return from_dict(tp, value, where)
    if origin in (tuple, list):
        if not isinstance(value, list | tuple):
            raise ConfigError(f"{where}: expected a list, got {value!r}")
        item = args[0] if args else Any
        items = [_check(v, item, f"{where}[{i}]") for i, v in enumerate(value)]
        return tuple(items) if origin is tuple else items
    if origin is dict:
        if not isinstance(value, dict):
            raise ConfigError(f"{where}: expected a mapping, got {value!r}")
        return dict(value)
    if tp is float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ConfigError(f"{where}: expected a number, got {value!r}")
        return float(value)
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            if isinstance(value, float) and value.is_integer():
                return int(value)  # YAML reads 1e5 as a float
            raise ConfigError(f"{where}: expected an integer, got {value!r}")
        return value
    if tp is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"{where}: expected true or false, got {value!r}")
        return value
    if tp is str:
        if not isinstance(value, str):
            raise ConfigError(f"{where}: expected a string, got {value!r}")
        return value
    raise ConfigError(f"{where}: unsupported config type {tp}")


# A number in a config is a count, size, rate or coefficient: never negative. These are sizes
# that 0 would break (a division, an empty batch), by the end of their names.
_AT_LEAST_ONE = ("batch_size", "num_envs", "cycle_steps", "capacity", "hidden", "_dim",
                 "channels", "budget", "eval_every", "eval_episodes", "window")  # fmt: skip


def _check_range(value: Any, name: str, where: str) -> None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return
    low = 1 if name.endswith(_AT_LEAST_ONE) else 0
    if value < low:
        raise ConfigError(f"{where}: must be >= {low}, got {value!r}")


def from_dict(cls: type[T], data: Any, where: str = "config") -> T:
    if not isinstance(data, dict):
        raise ConfigError(f"{where}: expected a mapping, got {data!r}")
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls) if f.init}
    for key in data:
        if key not in fields:
            close = difflib.get_close_matches(str(key), fields, n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise UnknownKeyError(f"{where}: unknown key {key!r}{hint}", str(key), bool(close))
    kwargs = {k: _check(v, hints[k], f"{where}.{k}") for k, v in data.items()}
    for k, v in kwargs.items():
        if isinstance(v, list | tuple):
            for i, item in enumerate(v):
                _check_range(item, k, f"{where}.{k}[{i}]")
        else:
            _check_range(v, k, f"{where}.{k}")
    try:
        obj = cls(**kwargs)
    except TypeError as e:
        raise ConfigError(f"{where}: {e}") from None
    validate = getattr(obj, "validate", None)
    if callable(validate):
        try:
            validate()
        except ValueError as e:
            raise ConfigError(f"{where}: {e}") from None
    return obj


def to_dict(obj: Any) -> dict:
    return dataclasses.asdict(obj)


class _Loader(yaml.SafeLoader):
    """YAML 1.1 reads 1e-5 (an exponent without a dot) as a string; as in YAML 1.2, it is a
    number here, in files and in --set values alike."""


_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(r"^[-+]?(?:[0-9][0-9_]*(?:\.[0-9_]*)?|\.[0-9_]+)[eE][-+]?[0-9]+$"),
    list("-+0123456789."),
)


def parse_yaml(text: str) -> Any:
    return yaml.load(text, Loader=_Loader)  # noqa: S506 (a SafeLoader)


def _set_path(data: dict, dotted: str, value: Any) -> None:
    *parents, leaf = dotted.split(".")
    node = data
    for p in parents:
        node = node.setdefault(p, {})
        if not isinstance(node, dict):
            raise ConfigError(f"override {dotted!r}: {p!r} is not a section")
    node[leaf] = value


def load_config(cls: type[T], file: str | Path | None = None,
                overrides: list[str] | None = None, base: dict | None = None) -> T:  # fmt: skip
    """``base`` (e.g. per-suite defaults) <- YAML ``file`` <- ``key.sub=value`` overrides. A
    file may start from another with ``extends: other.yaml`` (relative to its own folder)."""
    data: dict = dataclasses.asdict(cls()) if base is None else dict(base)
    if file is not None:
        given = read_config_file(file)
        if "task_overrides" in given:  # only a method's per-suite defaults file has them
            raise ConfigError(f"{file}: a suite's defaults file, which the method already "
                              "starts from: leave out --config for its values, or give a file "
                              "of overrides")  # fmt: skip
        data = _merge(data, given)
    where = str(file) if file else "config"
    overridden: dict[str, str] = {}  # the prefix of an error about an override -> the override
    for item in overrides or []:
        if "=" not in item:
            raise ConfigError(f"override {item!r} must look like key=value")
        key, raw = item.split("=", 1)
        key = key.strip()
        _set_path(data, key, parse_yaml(raw))
        parent, _, leaf = key.rpartition(".")
        section = f"{where}.{parent}" if parent else where
        overridden[f"{where}.{key}:"] = overridden[f"{where}.{key}["] = item
        overridden[f"{section}: unknown key {leaf!r}"] = item
    try:
        return from_dict(cls, data, where=where)
    except ConfigError as e:  # name the override a bad value came from, not the file
        message = _elsewhere_hint(cls, e)
        for prefix, item in overridden.items():
            if message.startswith(prefix):
                detail = message.split(": ", 1)[1] if prefix.endswith(":") else message[len(where) :]
                raise ConfigError(f"--set {item}: {detail.lstrip('.: ')}") from None
        raise ConfigError(message) from None


def _elsewhere_hint(cls: type, error: ConfigError) -> str:
    """An unknown key that is a field of another group (e.g. one that moved there) is named
    with its whole path."""
    if not isinstance(error, UnknownKeyError) or error.suggested:
        return str(error)
    paths = [path for path in _field_paths(cls) if path.rpartition(".")[2] == error.key]
    return f"{error} (it is {' or '.join(paths)})" if paths else str(error)


def _field_paths(cls: type, prefix: str = "") -> list[str]:
    paths = []
    hints = typing.get_type_hints(cls)
    for f in dataclasses.fields(cls):
        if dataclasses.is_dataclass(hints[f.name]):
            paths += _field_paths(hints[f.name], f"{prefix}{f.name}.")
        else:
            paths.append(f"{prefix}{f.name}")
    return paths


def read_config_file(file: str | Path) -> dict:
    """A hyper-parameter file's mapping, on top of the file it ``extends`` (recursively)."""
    return _read_yaml(Path(file), ())


def _read_yaml(path: Path, chain: tuple[Path, ...]) -> dict:
    if not path.exists():
        raise ConfigError(f"config file {path} does not exist"
                          + (f" (extended by {chain[-1]})" if chain else ""))  # fmt: skip
    if path.resolve() in chain:
        raise ConfigError(f"{path}: 'extends' goes round in a circle")
    try:
        loaded = parse_yaml(path.read_text()) or {}
    except yaml.YAMLError as e:
        raise ConfigError(f"{path}: not valid YAML: {e}") from None
    if not isinstance(loaded, dict):
        raise ConfigError(f"{path}: expected a mapping at the top level")
    parent = loaded.pop("extends", None)
    if parent is None:
        return loaded
    if not isinstance(parent, str):
        raise ConfigError(f"{path}: 'extends' must name one YAML file, got {parent!r}")
    return _merge(_read_yaml(path.parent / parent, (*chain, path.resolve())), loaded)


def _merge(base: dict, new: dict) -> dict:
    out = dict(base)
    for k, v in new.items():
        out[k] = _merge(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else v
    return out
