"""Loading the authors' BCV-LR code from a checkout (liuxin0824/BCV-LR for DMC,
liuxin0824/BCV-LR-discrete for Procgen); nothing of theirs is copied into this repository.

Their update steps need `funcy` and `tensordict` (0.6.0 imports with torch 2.13), and use
`doy` (their optimiser factory and logger) when it imports: ``pip install --no-deps --target
DIR funcy tensordict==0.6.0 pyvers orjson cloudpickle doy rich markdown-it-py mdurl``, then
pass DIR as ``deps``. Without doy, its LRScheduler.make is reproduced (AdamW, one parameter
group) and logging is skipped. Modules off the update path (wandb, omegaconf, their paths and
env_utils) are replaced by empty stand-ins.

Their training steps live inline in run_offline.py / run_online.py, scripts that load data and
start wandb at import, so their loop bodies are taken from those files' syntax trees and
executed verbatim, bound to their networks and optimisers. Both repositories use the same
module names (config, models, utils), so one process loads one of them.
"""

from __future__ import annotations

import ast
import contextlib
import io
import subprocess
import sys
import types
from collections.abc import Callable, Iterator
from pathlib import Path

import torch
import yaml
from torch import nn

Step = Callable[[], object]


class _StandIn(types.ModuleType):
    """A module whose every attribute is an empty class: enough for their import-time names
    (type hints such as ``DictConfig | None``, ``from rich.syntax import Syntax``)."""

    def __getattr__(self, name: str):
        if name.startswith("__"):
            raise AttributeError(name)
        return type(name, (), {"__init__": lambda self, *a, **k: None})


def _import_or_stand_in(name: str, stood_in: list[str]) -> None:
    try:
        __import__(name)
    except ImportError:
        sys.modules[name] = _StandIn(name)
        stood_in.append(name)


class AuthorsCodeMissing(RuntimeError):
    """A dependency of the authors' code is not importable."""


def load_authors(repo: Path, deps: Path | None, device: torch.device) -> types.SimpleNamespace:
    """Their modules (config, data_loader, models, utils, replay_buffer_tensordict), the source
    trees of their two run scripts and their config.yaml."""
    if "models" in sys.modules:
        raise RuntimeError("the authors' modules are already loaded in this process")
    if deps is not None:
        sys.path.insert(0, str(deps))
    for needed in ("funcy", "tensordict"):
        try:
            __import__(needed)
        except ImportError as err:
            raise AuthorsCodeMissing(
                f"the authors' models need {needed!r} ({err}): pip install --no-deps --target DIR "
                "funcy tensordict==0.6.0 pyvers orjson cloudpickle, then pass DIR as --authors-deps"
            ) from err
    sys.path.insert(0, str(repo))
    stood_in: list[str] = []
    for name in ("wandb", "rich", "rich.syntax", "omegaconf", "doy"):
        _import_or_stand_in(name, stood_in)
    # paths asserts ./expert_data exists and env_utils imports procgen: neither is on the path
    for name in ("paths", "env_utils"):
        sys.modules[name] = _StandIn(name)
        stood_in.append(name)
    import config  # their config.py

    config.DEVICE = device  # theirs picks cuda:2 whenever CUDA exists
    # utils before models: models imports utils, which imports names from models
    import data_loader
    import replay_buffer_tensordict
    import utils

    models = sys.modules["models"]

    trees = {f: ast.parse((repo / f).read_text(), filename=str(repo / f))
             for f in ("run_offline.py", "run_online.py")}  # fmt: skip
    return types.SimpleNamespace(config=config, utils=utils, models=models,
                                 data_loader=data_loader, replay=replay_buffer_tensordict,
                                 trees=trees, repo=repo, stood_in=stood_in,
                                 yaml=_numbers(yaml.safe_load((repo / "config.yaml").read_text())))  # fmt: skip


def checkout_commit(repo: Path) -> str:
    """The checkout's short commit; an export without its own .git (inside another repository,
    say) has none, and must not be labelled with the enclosing repository's."""
    if not (repo / ".git").exists():
        return "unknown commit"
    out = subprocess.run(["git", "-C", str(repo), "rev-parse", "--short", "HEAD"],
                         capture_output=True, text=True, check=False)  # fmt: skip
    return out.stdout.strip() or "unknown commit"


def _numbers(tree):
    """config.yaml as OmegaConf reads it: YAML 1.1 leaves "3e-4" a string, OmegaConf a float."""
    if isinstance(tree, dict):
        return {k: _numbers(v) for k, v in tree.items()}
    with contextlib.suppress(TypeError, ValueError):
        return float(tree) if isinstance(tree, str) else tree
    return tree


def _function(tree: ast.Module, name: str) -> ast.FunctionDef:
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef) and node.name == name:
            return node
    raise LookupError(f"no function {name} in the authors' script")


def loop_body(tree: ast.Module, function: str, index: int) -> list[ast.stmt]:
    """The statements of the index-th loop (in source order) of one of their functions."""
    loops = sorted((n for n in ast.walk(_function(tree, function))
                    if isinstance(n, ast.While | ast.For)), key=lambda n: n.lineno)  # fmt: skip
    return loops[index].body


def compile_body(stmts: list[ast.stmt], env: dict, filename: str, prelude: str = "pass") -> Step:
    """Their loop body, run once, as a function whose globals are ``env``, returning its
    locals (their losses); tracebacks point at their file and lines. The body stays inside a
    one-pass loop, where their ``break`` means what it meant."""
    module = ast.parse(f"def _step():\n    {prelude}\n    for _once in range(1):\n        pass\n"
                       "    return locals()\n")  # fmt: skip
    once = module.body[0].body[-2]  # type: ignore[attr-defined]
    once.body = stmts
    exec(compile(ast.fix_missing_locations(module), filename, "exec"), env)
    return env["_step"]


def define(tree: ast.Module, name: str, env: dict, filename: str) -> None:
    """One of their module-level functions, with ``env`` as its globals."""
    exec(compile(ast.Module([_function(tree, name)], type_ignores=[]), filename, "exec"), env)


def adamw_scheduler(authors, lr: float, modules: list[nn.Module]):
    """doy.LRScheduler.make(all=(constant schedule, modules)): what their scripts call."""
    doy = sys.modules["doy"]
    if "doy" not in authors.stood_in:
        return doy.LRScheduler.make(all=(doy.PiecewiseLinearSchedule([0, 10**9], [lr, lr]),
                                         modules))  # fmt: skip
    params = [p for m in modules for p in m.parameters()]
    opt = torch.optim.AdamW([{"params": params, "lr": lr}])
    return opt, types.SimpleNamespace(step=lambda step: None, get_state=dict)


def logger(authors):
    """Their wandb logger is a doy.Logger: it calls .item() on every value."""
    if "doy" in authors.stood_in:
        return lambda *a, **k: None
    return sys.modules["doy"].Logger(use_wandb=False)


def their_batches(authors, obs: torch.Tensor, ta: torch.Tensor | None = None) -> Iterator:
    """What their get_iter yields from a sampled uint8 batch: a TensorDict on the device with
    normalised float frames (the sampling itself is left out on both sides)."""
    from tensordict import TensorDict

    while True:
        fields = {"obs": obs} if ta is None else {"obs": obs, "ta": ta}
        batch = TensorDict(fields, batch_size=len(obs)).to(obs.device)
        batch["obs"] = authors.replay.normalize_obs(batch["obs"])
        yield batch


def their_model_config(authors, action_dim: int, **model):
    """Their ModelConfig from their config.yaml's ``model`` section, with ``model`` overrides
    (e.g. ``idm_impala_scale=1, wm_scale=4`` for small sizes)."""
    c, y = authors.config, authors.yaml["model"] | model
    vq = c.VQConfig(**y["vq"])
    return c.ModelConfig(wm_scale=y["wm_scale"], idm_impala_scale=y["idm_impala_scale"],
                         policy_impala_scale=y["policy_impala_scale"], vq=vq,
                         la_dim=vq.num_codebooks * vq.num_discrete_latents * vq.emb_dim,
                         ta_dim=action_dim)  # fmt: skip


def their_nets(authors, action_dim: int, **model):
    with contextlib.redirect_stdout(io.StringIO()):  # their IDM prints "ok"
        return authors.utils.create_dynamics_models(their_model_config(authors, action_dim,
                                                                       **model))  # fmt: skip
