"""BCV-LR's updates against the authors' code (liuxin0824/BCV-LR for DMC, liuxin0824/
BCV-LR-discrete for Procgen), update by update.

Each equation is prepared on our side: our networks at small sizes, every weight filled from a
seeded NumPy stream (the same on any machine), batches of uint8 frames and random-shift views
from the same stream. ``ours`` wraps our update; with a checkout of the authors' code,
``theirs.theirs`` builds their networks, loads the same weights, feeds the same batches and
views, runs their update's own lines and names every tensor as ours. ``rows`` gives the
largest relative difference per loss, gradient and tensor: max |ours - theirs| / max |theirs|.

    python -m bcvlr.reference compare --authors-repo PATH --authors-deps DIR   # both, live
    python -m bcvlr.reference record --authors-repo PATH --authors-deps DIR    # the CI fixture

``record`` keeps the authors' side, computed in float64, in tests/fixtures/equivalence/ (large
tensors as a fixed sample of entries with their norm), so tests/reference/test_equivalence.py
checks ours without their code or a network: in float64 to EXACT_TOLERANCE on any CPU, and in
fp32, what runs, to FP32_TOLERANCE.
"""

from __future__ import annotations

import contextlib
import fnmatch
import math
import types
import zlib
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from bcvlr.config import load_config
from bcvlr.method import bcvlr
from bcvlr.tasks import get_task


@dataclass(frozen=True)
class Code:
    """One of the authors' code bases and the task our side stands in with."""

    name: str
    task: str
    obs_shape: tuple[int, int, int]  # their encoders are fixed to 64x64 frames of this depth
    window: int  # frames per latent-action window
    equations: tuple[str, ...]


CONTINUOUS = Code("continuous", "reacher_hard", (9, 64, 64), 2,
                  ("features", "latent_actions", "finetune", "finetune_live_ema", "bc",
                   "bc_idm_train", "warmup", "acting"))  # fmt: skip
# their Procgen BCV-LR labels BC batches with p in eval mode: no bc_idm_train to compare
DISCRETE = Code("discrete", "starpilot", (3, 64, 64), 3,
                ("features", "latent_actions", "finetune", "finetune_live_ema", "bc", "warmup",
                 "acting"))  # fmt: skip
CODES = {c.name: c for c in (CONTINUOUS, DISCRETE)}

SEED = 0
UPDATES = 2  # two updates: the second shows the optimiser's and the momentum copy's state


@dataclass(frozen=True)
class Sizes:
    """The widths and batch size both sides are built with."""

    idm_scale: int  # their IMPALA width multiplier: p's channels (16, 32, 32) times it
    wm_base: int  # the U-Net's base width (their wm_scale)
    batch: int | None  # every equation's batch; None: each stage's own (Table 12)


SMALL = Sizes(idm_scale=1, wm_base=4, batch=8)  # the comparison's: fast, on any CPU
PAPER = Sizes(idm_scale=4, wm_base=24, batch=None)  # Tables 11-12 and their config.yaml
TOLERANCE = 1e-5  # largest relative difference (fp32, CPU) that counts as equal
# the same, both sides in float64 (``float64()``; measured: <= 3.6e-14): the recorded check.
# fp32 alone is machine-bound: on another CPU's kernels a max-pooling near-tie routes a
# gradient elsewhere (measured up to 3.6e-3 on Procgen's nets, docs/fidelity.md)
EXACT_TOLERANCE = 1e-10
# fp32, what runs, against the float64 recording: losses and the parameters after one update
# (measured on an AMD EPYC: <= 1.4e-6 and <= 2.3e-5, a BatchNorm running mean of w in
# channels-last layout; docs/fidelity.md); gradients are not bounded (max-pooling near-ties)
FP32_TOLERANCE = {"loss": 1e-5, "tensor": 1e-4}
# precision: bf16 (a speed option) against the recordings: losses and the parameters after
# one update (measured: <= 1.6e-2 and <= 9e-2); gradients are not bounded, since some tensors
# hold near-cancelling sums whose bf16 rounding is of their own size (docs/performance.md)
BF16_TOLERANCE = {"loss": 5e-2, "tensor": 0.2}
SAMPLED = 512  # entries kept of a tensor larger than FULL in the fixture
FULL = 1024
WARMUP_LR = 2e-4  # latent_policy_imitaiton.lr in both of their config.yaml files


def exact_tolerance(equation: str) -> float:
    """EXACT_TOLERANCE, or fp32's for acting: our agent hands its actions over as float32."""
    return TOLERANCE if equation == "acting" else EXACT_TOLERANCE


def tolerance(kind: str, equation: str, float64: bool) -> float:
    """The largest relative difference a row of ``kind`` may show: in float64
    ``exact_tolerance``; in fp32 FP32_TOLERANCE's, gradients unbounded."""
    return exact_tolerance(equation) if float64 else FP32_TOLERANCE.get(kind, math.inf)


def config(code: Code, sizes: Sizes = SMALL) -> bcvlr.Config:
    """The paper's config for the code's suite (with its task's caption overrides) at the
    sizes both sides are built with."""
    task = get_task(code.task)
    cfg = load_config(bcvlr.Config, None, base=bcvlr.default_config(task))
    if code is CONTINUOUS:
        cfg.features.ema_every = 1  # their DMC code: every update (the paper: 2; listed)
    la, oc = cfg.latent_actions, cfg.online
    la.wm_base_channels = sizes.wm_base
    la.idm_channels = (16 * sizes.idm_scale, 32 * sizes.idm_scale, 32 * sizes.idm_scale)
    oc.policy_channels = la.idm_channels  # their policy's IMPALA has the IDM's scale
    if sizes.batch is not None:
        cfg.features.batch_size = la.batch_size = sizes.batch
        oc.ft_batch_size = oc.bc_batch_size = sizes.batch
    cfg.diagnostics.enabled = False
    cfg.device = "cpu"
    cfg.validate()
    return cfg


# ---------------------------------------------------------------------------------------------
# Deterministic inputs
# ---------------------------------------------------------------------------------------------
def fill_(module: nn.Module, rng: np.random.Generator) -> None:
    """Every parameter of ``module`` and its BatchNorm statistics from ``rng``: weights of
    variance 1 / fan-in, small biases, norm layers near identity, statistics near (0, 1).
    Other buffers (the VQ's, the latent standardisation's) keep their values."""
    with torch.no_grad():
        for m in module.modules():
            buffers = m.named_buffers(recurse=False) if isinstance(m, nn.BatchNorm2d) else []
            for name, t in list(m.named_parameters(recurse=False)) + list(buffers):
                if not t.is_floating_point():
                    continue
                if isinstance(m, nn.BatchNorm2d | nn.LayerNorm) and name in ("weight", "running_var"):
                    values = 1 + 0.1 * rng.standard_normal(t.shape)
                elif t.dim() == 1 or name in ("bias", "running_mean"):
                    values = 0.05 * rng.standard_normal(t.shape)
                else:
                    fan_in = t[0].numel()
                    values = rng.standard_normal(t.shape) / math.sqrt(fan_in)
                t.copy_(torch.from_numpy(values.astype(np.float32)))


def fill_codebook_(vq: nn.Module, z: torch.Tensor, rng: np.random.Generator) -> None:
    """A codebook at the scale of the latents ``z`` with EMA counts of a trained one (a zero
    count divides by ~1e-5 on the first update, which no comparison survives)."""
    n, m, d = vq.embedding.shape
    scale = float(f"{z.std().item():.3g}")  # z's fp32 rounding (layout, CPU) must not show
    emb = torch.from_numpy((scale * rng.standard_normal((n, m, d))).astype(np.float32))
    count = torch.from_numpy(rng.uniform(0.5, 1.5, (n, m)).astype(np.float32))
    with torch.no_grad():
        vq.embedding.copy_(emb)
        vq.ema_count.copy_(count)
        vq.ema_weight.copy_(emb * count[..., None])
    vq._awaiting_data_init = False


def frames(rng: np.random.Generator, *shape: int) -> torch.Tensor:
    return torch.from_numpy(rng.integers(0, 256, shape, dtype=np.uint8))


def shift_offsets(rng: np.random.Generator, n: int, pad: int) -> np.ndarray:
    """(n, 2) integer offsets (dy, dx) into the padded image, 0 .. 2 * pad."""
    return rng.integers(0, 2 * pad + 1, (n, 2))


def integer_shift(x: torch.Tensor, offsets: np.ndarray, pad: int) -> torch.Tensor:
    """DrQ's random shift at given offsets: replicate-pad, then crop (N, C, H, W) floats."""
    padded = F.pad(x.float(), (pad,) * 4, mode="replicate")
    h, w = x.shape[-2:]
    return torch.stack([padded[i, :, dy : dy + h, dx : dx + w]
                        for i, (dy, dx) in enumerate(offsets)])  # fmt: skip


class Replay(nn.Module):
    """Stands in for an augmentation module: returns the given views in call order."""

    def __init__(self, views: Iterable[torch.Tensor]):
        super().__init__()
        self.views: Iterator[torch.Tensor] = iter(views)

    def forward(self, x: torch.Tensor, *args, **kwargs) -> torch.Tensor:
        view = next(self.views)
        if view.shape != x.shape:
            raise AssertionError(f"view {tuple(view.shape)} for an input {tuple(x.shape)}")
        return view.clone()


def freeze_ema(vq: nn.Module) -> None:
    """Keep a VQ in eval mode whatever ``train()`` its parent is put in (its EMA frozen)."""
    vq.eval()
    vq.train = types.MethodType(lambda self, mode=True: self, vq)  # type: ignore[method-assign]


# ---------------------------------------------------------------------------------------------
# Our side
# ---------------------------------------------------------------------------------------------
@dataclass
class Prepared:
    """One equation's inputs: our objects with their filled start state, and the data."""

    equation: str
    cfg: bcvlr.Config
    objects: dict[str, object]
    start: dict[str, dict[str, torch.Tensor]]  # our modules' state dicts before any update
    batches: list[dict[str, torch.Tensor]]
    views: list[list[torch.Tensor]] = field(default_factory=list)  # per update, raw floats
    sizes: Sizes = SMALL


@dataclass
class Outcome:
    losses: dict[str, list[float]]
    tensors: dict[str, torch.Tensor]  # our names: parameters and buffers after the updates
    grads: dict[str, torch.Tensor]  # the last update's gradients


@dataclass
class Side:
    """One side, ready: ``step(k)`` runs update k and returns its losses; ``outcome`` maps
    every tensor and the current gradients to our names; ``optimizers`` step every update."""

    step: Callable[[int], dict[str, float]]
    outcome: Callable[[], Outcome]
    optimizers: list[torch.optim.Optimizer]


def _snapshot(modules: dict[str, nn.Module]) -> dict[str, dict[str, torch.Tensor]]:
    return {k: {n: t.detach().clone() for n, t in m.state_dict().items()}
            for k, m in modules.items()}  # fmt: skip


def _agent(code: Code, cfg: bcvlr.Config, rng: np.random.Generator,
           obs: torch.Tensor) -> bcvlr.Agent:  # fmt: skip
    agent = bcvlr.Agent(cfg, get_task(code.task), code.obs_shape)
    fill_(agent, rng)
    with torch.no_grad():
        z = agent.lam.latent(bcvlr.encode_windows(agent.encoder, obs, grad=False))
    fill_codebook_(agent.lam.vq, z, rng)
    return agent


def _actions(code: Code, rng: np.random.Generator, n: int) -> torch.Tensor:
    """(n, window) actions: the last but one is a_t, the window's last transition's."""
    space = get_task(code.task).action_space
    if space.is_discrete:
        return torch.from_numpy(rng.integers(0, space.size, (n, code.window)))
    values = rng.uniform(-1, 1, (n, code.window, space.size))
    return torch.from_numpy(values.astype(np.float32))


def batch_size(cfg: bcvlr.Config, equation: str) -> int:
    """The batch an equation's update takes (the BC batch for acting's observations)."""
    if equation == "features":
        return cfg.features.batch_size
    if equation == "latent_actions":
        return cfg.latent_actions.batch_size
    return cfg.online.ft_batch_size if equation.startswith("finetune") else cfg.online.bc_batch_size


def prepare(equation: str, code: Code = CONTINUOUS, seed: int = SEED, updates: int = UPDATES,
            sizes: Sizes = SMALL, device: torch.device | None = None) -> Prepared:  # fmt: skip
    """One equation's inputs, built and filled on the CPU (the same values on any machine),
    then moved to ``device`` when one is given (for timing: the comparison is the CPU's)."""
    prep = _prepare(equation, code, seed, updates, sizes)
    return prep if device is None or device.type == "cpu" else _moved(prep, device)


def _moved(prep: Prepared, device: torch.device) -> Prepared:
    prep.cfg.device = str(device)
    prep.batches = [{k: t.to(device) for k, t in b.items()} for b in prep.batches]
    prep.views = [[v.to(device) for v in pair] for pair in prep.views]
    for m in ours_modules(prep).values():
        m.to(device)  # the same parameters, so the optimisers still hold them
    return prep


def _prepare(equation: str, code: Code, seed: int, updates: int, sizes: Sizes) -> Prepared:
    cfg = config(code, sizes)
    rng = np.random.default_rng([seed, code.equations.index(equation)])
    n = batch_size(cfg, equation)
    batches = [{"obs": frames(rng, n, code.window, *code.obs_shape),
                "actions": _actions(code, rng, n)} for _ in range(updates)]  # fmt: skip
    if equation == "features":
        learner = bcvlr.FeatureLearner(cfg, code.obs_shape, torch.device("cpu"))
        fill_(learner.encoder, rng)
        fill_(learner.head, rng)
        if learner.decoder is not None:
            fill_(learner.decoder, rng)
            learner.decoder.requires_grad_(False)  # their v is in no optimiser (listed)
        learner.target_encoder.load_state_dict(learner.encoder.state_dict())
        learner.head.target_projector.load_state_dict(learner.head.projector.state_dict())
        pad = cfg.features.shift_pad
        # the temporal objective's views are o_t and o_t+1, the contrastive one's o_t twice
        frames_viewed = (0, 1) if learner.window == 2 else (0, 0)
        views = [[integer_shift(b["obs"][:, i], shift_offsets(rng, n, pad), pad)
                  for i in frames_viewed] for b in batches]  # fmt: skip
        return Prepared(equation, cfg, {"learner": learner},
                        _snapshot({"features": learner.modules}), batches, views, sizes)  # fmt: skip
    if equation == "latent_actions":
        encoder = bcvlr.build_encoder(cfg, code.obs_shape)
        fill_(encoder, rng)
        learner = bcvlr.LatentActionLearner(cfg, encoder, torch.device("cpu"))
        fill_(learner.model, rng)
        with torch.no_grad():
            feats = bcvlr.encode_windows(encoder, batches[0]["obs"], grad=False)
            fill_codebook_(learner.model.vq, learner.model.latent(feats), rng)
        return Prepared(equation, cfg, {"learner": learner},
                        _snapshot({"encoder": encoder, "lam": learner.model}), batches,
                        sizes=sizes)  # fmt: skip
    agent = _agent(code, cfg, rng, batches[0]["obs"])
    learner = bcvlr.OnlineLearner(cfg, agent)
    if equation == "finetune":
        freeze_ema(agent.lam.vq)  # their second IDM pass would move it again (listed)
    if equation == "bc_idm_train":  # the option that reproduces their labelling mode
        cfg.online.idm_mode_in_bc = "train"
    if equation == "warmup":  # their optimiser (AdamW 2e-4); ours is the paper's (listed)
        learner.warmup_optim = torch.optim.AdamW(agent.policy.parameters(), lr=WARMUP_LR)
    return Prepared(equation, cfg, {"agent": agent, "learner": learner},
                    _snapshot({"agent": agent}), batches, sizes=sizes)  # fmt: skip


def in_float64(prep: Prepared) -> Prepared:
    """``prep`` with our modules, views and float batches upcast to float64 (the same values):
    run either side on it inside ``float64()``."""
    for m in ours_modules(prep).values():
        m.double()  # in place: the optimisers keep the same parameters
    prep.views = [[v.double() for v in pair] for pair in prep.views]
    prep.batches = [{k: t.double() if t.is_floating_point() else t for k, t in b.items()}
                    for b in prep.batches]  # fmt: skip
    return prep


@contextlib.contextmanager
def float64() -> Iterator[None]:
    """Both codes compute in float64: new tensors and modules default to it, and ``.float()``,
    with which both cast their frames, gives it. fp32's rounding depends on the CPU's kernels
    (max-pooling near-ties route a gradient by it), float64's is ~1e-16: the recording compares
    the same arithmetic on any machine."""
    cast = torch.Tensor.float
    default = torch.get_default_dtype()
    torch.Tensor.float = lambda self, *args, **kwargs: self.double()  # type: ignore[method-assign]
    torch.set_default_dtype(torch.float64)
    try:
        yield
    finally:
        torch.Tensor.float = cast  # type: ignore[method-assign]
        torch.set_default_dtype(default)


def set_precision(prep: Prepared, precision: str) -> None:
    """Our side of ``prep`` at ``precision`` (``Config.precision``, which every learner reads
    per update)."""
    prep.cfg.precision = precision


def ours(prep: Prepared) -> Side:
    """Our update of the prepared equation (bcvlr's own learners, nothing else)."""
    eq, batches = prep.equation, prep.batches
    if eq == "features":
        learner = prep.objects["learner"]
        learner.aug = Replay(v for pair in prep.views for v in pair)

        def step(k: int) -> dict[str, float]:
            metrics = learner.update(batches[k]["obs"], k)
            if "loss/reconstruction" in metrics:  # eq. 1 as one number, as theirs returns it
                metrics["loss/contrastive_recon"] = (metrics["loss/contrastive"]
                    + prep.cfg.features.recon_alpha * metrics["loss/reconstruction"])  # fmt: skip
            return metrics

        return Side(step, lambda: outcome(ours_modules(prep)), [learner.optim])
    if eq == "latent_actions":
        learner = prep.objects["learner"]
        learner.model.train()
        return Side(lambda k: learner.update(batches[k]["obs"]),
                    lambda: outcome(ours_modules(prep)),
                    [learner.optim])  # fmt: skip
    learner = prep.objects["learner"]
    if eq.startswith("finetune"):
        step = lambda k: learner.finetune_step(batches[k]["obs"], batches[k]["actions"][:, -2])  # noqa: E731
        optimizers = [learner.ft_optim] + ([learner.wm_optim] if learner.wm_optim else [])
    else:
        warmup = eq == "warmup"
        step = lambda k: learner.bc_step(batches[k]["obs"], warmup=warmup)  # noqa: E731
        optimizers = [learner.warmup_optim if warmup else learner.bc_optim]
    return Side(step, lambda: outcome(ours_modules(prep)), optimizers)


def ours_modules(prep: Prepared) -> dict[str, nn.Module]:
    """Our modules under the prefixes their names carry."""
    if prep.equation == "features":
        return {"features": prep.objects["learner"].modules}
    if prep.equation == "latent_actions":
        return {"encoder": prep.objects["learner"].encoder, "lam": prep.objects["learner"].model}
    return {"agent": prep.objects["agent"]}


def outcome(modules: dict[str, nn.Module]) -> Outcome:
    tensors, grads = {}, {}
    for prefix, m in modules.items():
        tensors |= {f"{prefix}.{n}": t.detach().clone() for n, t in m.state_dict().items()}
        grads |= {f"{prefix}.{n}": p.grad.detach().clone()
                  for n, p in m.named_parameters() if p.grad is not None}  # fmt: skip
    return Outcome({}, tensors, grads)


def run(side: Side, updates: int) -> Outcome:
    """``updates`` updates on one side alone; the outcome has every update's losses."""
    losses: dict[str, list[float]] = {}
    for k in range(updates):
        for name, value in side.step(k).items():
            losses.setdefault(name, []).append(value)
    out = side.outcome()
    out.losses = losses
    return out


@contextlib.contextmanager
def before_steps(optimizers: list[torch.optim.Optimizer], hook: Callable[[], None]):
    """Call ``hook`` before each ``step()`` of these optimisers (it decides what to do)."""
    originals = [opt.step for opt in optimizers]

    def wrap(original):
        def step(*args, **kwargs):
            hook()
            return original(*args, **kwargs)

        return step

    for opt, original in zip(optimizers, originals, strict=True):
        opt.step = wrap(original)  # type: ignore[method-assign]
    try:
        yield
    finally:
        for opt, original in zip(optimizers, originals, strict=True):
            opt.step = original  # type: ignore[method-assign]


def set_grads(modules: dict[str, nn.Module], grads: dict[str, torch.Tensor]) -> None:
    for prefix, m in modules.items():
        for n, p in m.named_parameters():
            if p.grad is not None and f"{prefix}.{n}" in grads:
                p.grad.copy_(grads[f"{prefix}.{n}"])


def lockstep(mine: Side, theirs: Side, updates: int, modules: dict[str, nn.Module]):
    """Both sides update by update from the same weights. Before our optimisers step, their
    update runs and our gradients are replaced by theirs, so that the next update starts from
    the same weights again: each update's losses and gradients are compared on equal inputs,
    and the parameters after it show that the optimiser steps agree (Adam divides by
    |gradient| + eps, so fp32 rounding in near-zero gradients would otherwise grow into
    parameter differences of up to the learning rate, update after update)."""
    per_update = []
    for k in range(updates):
        captured: dict[str, object] = {}

        def hook(k=k, captured=captured) -> None:
            if captured:
                return
            captured["ours"] = mine.outcome().grads
            captured["losses"] = theirs.step(k)
            captured["theirs"] = theirs.outcome().grads
            set_grads(modules, captured["theirs"])  # type: ignore[arg-type]

        with before_steps(mine.optimizers, hook):
            our_losses = mine.step(k)
        a, b = mine.outcome(), theirs.outcome()
        a.losses = {n: [v] for n, v in our_losses.items()}
        b.losses = {n: [v] for n, v in captured["losses"].items()}  # type: ignore[union-attr]
        a.grads, b.grads = captured["ours"], captured["theirs"]  # type: ignore[assignment]
        per_update.append((a, b))
    return per_update


ACTING_OBS = 4  # fewer than 16 noise draws: torch draws them one by one, as theirs does


def act_ours(agent: bcvlr.Agent, prep: Prepared) -> Outcome:
    """d(pi(f(o))) (the mean, or the logits), an exploring and an evaluation action."""
    obs = prep.batches[0]["obs"][:ACTING_OBS, 0]
    with torch.no_grad():
        mean = agent.decoder(agent.policy(agent.encoder(obs)))
    explore = agent.act(obs.numpy(), explore=True, generator=torch.Generator().manual_seed(0))
    acted = {"mean": mean, "explore": torch.from_numpy(explore)}
    if not agent.discrete:  # a discrete agent samples in evaluation too
        evaluate = agent.act(obs.numpy(), explore=False, generator=torch.Generator())
        acted["evaluate"] = torch.from_numpy(evaluate)
    return Outcome({}, acted, {})


# ---------------------------------------------------------------------------------------------
# Comparing
# ---------------------------------------------------------------------------------------------
def relative_difference(ours: torch.Tensor, theirs: torch.Tensor) -> float:
    ours, theirs = ours.double().flatten(), theirs.double().flatten()
    scale = theirs.abs().max().item() if theirs.numel() else 0.0
    diff = (ours - theirs).abs().max().item() if theirs.numel() else 0.0
    return diff / scale if scale > 0 else diff


def sample_index(name: str, numel: int) -> torch.Tensor | None:
    """The entries the fixture keeps of a tensor: all (None) when small, else a fixed sample
    drawn from its name."""
    if numel <= FULL:
        return None
    # a momentum copy shares its online tensor's entries: its allowance comes from their steps
    rng = np.random.default_rng(zlib.crc32(name.replace("target_", "").encode()))
    return torch.from_numpy(rng.choice(numel, SAMPLED, replace=False))


def compact(t: torch.Tensor, name: str) -> dict[str, torch.Tensor]:
    """A tensor as the fixture keeps it (float64): whole when small, else a fixed sample and
    its norm."""
    flat = t.detach().double().flatten()
    index = sample_index(name, flat.numel())
    if index is None:
        return {"values": flat}
    return {"values": flat[index], "norm": flat.norm().reshape(1)}


def _kept(t: torch.Tensor, name: str) -> torch.Tensor:
    """Our tensor's entries that the fixture keeps of it."""
    flat = t.detach().double().flatten()
    index = sample_index(name, flat.numel())
    return flat if index is None else flat[index]


def compact_difference(ours: torch.Tensor, kept: dict[str, torch.Tensor], name: str) -> float:
    """The relative difference of ``ours`` from a compact record: on its entries, and on the
    whole tensor's norm when only a sample is kept."""
    sample = relative_difference(_kept(ours, name), kept["values"])
    if "norm" not in kept:
        return sample
    norm = abs(ours.detach().double().norm().item() - kept["norm"].item())
    return max(sample, norm / max(kept["norm"].item(), 1e-30))


def rows(ours: Outcome, theirs: Outcome) -> list[tuple[str, str, float]]:
    """(kind, name, largest relative difference) for every loss, gradient and tensor theirs
    has; one ours lacks differs infinitely."""
    out = [("loss", k, relative_difference(torch.tensor(ours.losses[k]), torch.tensor(v)))
           for k, v in theirs.losses.items()]  # fmt: skip
    for kind, mine, their in (("grad", ours.grads, theirs.grads),
                              ("tensor", ours.tensors, theirs.tensors)):  # fmt: skip
        for name, t in their.items():
            diff = relative_difference(mine[name], t) if name in mine else math.inf
            out.append((kind, name, diff))
    return out




TWO_PASSES = "their eq. 3 runs p twice per update: the VQ's EMA moves twice, and w reads the codes of the once-moved codebook"
BEFORE_BN = ("a conv bias before BatchNorm: its gradient is zero in exact arithmetic, both "
             "sides hold rounding (< 1e-6 of the update's largest gradient)")
# Rows that may differ, as "kind:name" patterns, by "code/equation", equation or "*" (all),
# and why; each is a row of docs/fidelity.md.
LISTED: dict[str, list[tuple[str, str]]] = {
    "*": [("grad:*world_model.down.*.0.bias", BEFORE_BN),
          ("grad:*world_model.up.*.0.bias", BEFORE_BN)],
    # p's gradient too: the commitment term of the second pass reads the moved codebook
    "finetune_live_ema": [("*:agent.lam.*", TWO_PASSES), ("loss:loss/ft_world_model", TWO_PASSES)],
    "bc": [("*:agent.lam.vq.*", "their BC labels with p in train mode, so the VQ's EMA drifts "
            "(ours: eval; online.idm_mode_in_bc: train reproduces theirs, equation bc_idm_train)")],
    "warmup": [("grad:agent.lam.*", "their warm-up labels outside no_grad: p gets gradients "
                "that no optimiser uses")],
    "continuous/acting": [("tensor:explore", "their TruncatedNormal clamps to +-(1 - 1e-6), "
                           "ours to +-1: a clipped action differs by 1e-6")],
    "discrete/features": [("*:features.decoder.*", "their reconstruction decoder v is in no "
                           "optimiser (the paper trains it, eq. 1)")],
    "discrete/finetune": [("grad:agent.lam.world_model.*", "their frozen w still gets gradients, "
                           "which no optimiser uses (ours: requires_grad off)")],
    "discrete/finetune_live_ema": [("grad:agent.lam.world_model.*", "their frozen w still gets "
                                    "gradients, which no optimiser uses")],
}


def listed(code: Code, equation: str, kind: str, name: str) -> str | None:
    """Why this row of this equation may differ, or None."""
    patterns = LISTED.get(f"{code.name}/{equation}", []) + LISTED.get(equation, []) + LISTED["*"]
    for pattern, why in patterns:
        if fnmatch.fnmatchcase(f"{kind}:{name}", pattern):
            return why
    return None


# ---------------------------------------------------------------------------------------------
# Against a recording of their side (tests/fixtures/equivalence/, made by ``record``)
# ---------------------------------------------------------------------------------------------
def _adam_sign(g: torch.Tensor, eps: float) -> torch.Tensor:
    """What a first Adam step divides out: g / (|g| + eps)."""
    return g / (g.abs() + eps)


def check_against_record(code: Code, prep: Prepared, side: Side | None, out: Outcome,
                         kept: dict, float64: bool) -> list[str]:  # fmt: skip
    """The unlisted rows of one update of ours (computed in float64 or not) that differ from
    the recorded update of theirs by more than their ``tolerance``."""
    eq = prep.equation
    return [f"{eq} {kind} {name}: {diff:.2e}"
            for kind, name, diff in record_differences(code, prep, side, out, kept)
            if diff > tolerance(kind, eq, float64)]  # fmt: skip


def record_differences(code: Code, prep: Prepared, side: Side | None, out: Outcome,
                       kept: dict) -> list[tuple[str, str, float]]:  # fmt: skip
    """(kind, name, relative difference) of every unlisted row of one update of ours against
    the recorded update of theirs. Without lockstep the two sides' first Adam steps
    g / (|g| + eps) can differ by up to the learning rate where a gradient entry is rounding
    (|g| ~ eps): each parameter entry may differ by lr * |s(g_ours) - s(g_theirs)| more
    (tau times that for a momentum copy), computed from the recorded gradient entries."""
    failures: list[tuple[str, str, float]] = []
    eq = prep.equation

    def fail(kind: str, name: str, diff: float) -> None:
        if listed(code, eq, kind, name) is None:
            failures.append((kind, name, diff))

    for name, values in kept["losses"].items():
        fail("loss", name, relative_difference(torch.tensor(out.losses[name]), torch.tensor(values)))
    for name, rec in kept["grads"].items():
        diff = compact_difference(out.grads[name], rec, name) if name in out.grads else math.inf
        fail("grad", name, diff)
    steps = _adam_steps(prep, side)
    for name, rec in kept["tensors"].items():
        source, scale = _stepped_by(prep, name)
        if source in kept["grads"] and source in out.grads and source in steps:
            lr, eps = steps[source]
            g_o = _kept(out.grads[source], source)
            g_t = kept["grads"][source]["values"].double()
            allowance = scale * lr * (_adam_sign(g_o, eps) - _adam_sign(g_t, eps)).abs()
            theirs = rec["values"].double()
            excess = ((_kept(out.tensors[name], name) - theirs).abs() - 1.01 * allowance)
            fail("tensor", name, excess.clamp_min(0).max().item()
                 / max(theirs.abs().max().item(), 1e-30))  # fmt: skip
        else:
            fail("tensor", name, compact_difference(out.tensors[name], rec, name))
    return failures


def _stepped_by(prep: Prepared, name: str) -> tuple[str, float]:
    """The parameter whose optimiser step moves tensor ``name``, and by what factor: itself,
    or for a momentum copy the online parameter, times tau."""
    tau = prep.cfg.features.ema_tau
    for target, online in (("features.target_encoder.", "features.encoder."),
                           ("features.head.target_projector.", "features.head.projector.")):  # fmt: skip
        if name.startswith(target):
            return online + name.removeprefix(target), tau
    return name, 1.0


def _adam_steps(prep: Prepared, side: Side | None) -> dict[str, tuple[float, float]]:
    """(lr, eps) of the optimiser of each of our parameters, by name."""
    if side is None:
        return {}
    groups = {id(p): (g["lr"], g["eps"]) for opt in side.optimizers for g in opt.param_groups
              for p in g["params"]}  # fmt: skip
    return {f"{prefix}.{n}": groups[id(p)] for prefix, m in ours_modules(prep).items()
            for n, p in m.named_parameters() if id(p) in groups}  # fmt: skip


def feature_spread(encoder_factory: Callable[[], nn.Module], obs_shape: tuple[int, int, int],
                   seeds: int = 8) -> float:  # fmt: skip
    """A fresh encoder's per-unit std over 16 uniform-noise frames, averaged over units and
    over ``seeds`` initialisations (torch seeded 0 .. seeds-1 before each is built)."""
    x = frames(np.random.default_rng(0), 16, *obs_shape)
    spreads = []
    for s in range(seeds):
        torch.manual_seed(s)
        encoder = encoder_factory()
        with torch.no_grad():
            spreads.append(encoder(x).flatten(1).std(0).mean().item())
    return float(np.mean(spreads))
