"""LAIfO's DMC update, ours against the reference's, update by update.

    python -m benchmarks.laifo_reference --reference DIR [--f64]

DIR is your own checkout (work tree) of github.com/VittorioGiammarino/AIL_from_visual_obs at
branch ``LAIfO`` (checked at commit 45af504); nothing is downloaded and none of it is copied
here. Its agents/lail.py runs as it is but for one line, changed when it is loaded: the
encoder's ``repr_dim``, written for 84x84 frames, is computed for our 64x64. Its imports that
play no part in the update (hydra, omegaconf, torchvision, tensorboard, its resnet) are empty
stand-ins. Run it as a module from the repository root (``python benchmarks/...`` would import
benchmarks/bcvlr.py as ``bcvlr``).

Ours is ``baselines.laifo.LAIfOAgent.update`` (D's step, then DrQv2's with D's 0/1 reward,
``actor_trunk: critic``), the reference's ``LailAgent.update``. Both start from the same
weights (ours copied into theirs) and get the same batches, the same random shifts (both
augmentations replaced by one scripted integer shift; side checks show that the two
augmentations agree on equal shifts) and the same torch seed before each update. The two then
draw torch's random numbers in the same order (D's interpolation alpha, the target policy's
noise, the actor's noise); the drawn noises are recorded and compared, not assumed equal.

Modes, by which of the two documented deviations (docs/baselines.md, LAIfO) stay active:
  aligned             neither: our target critic reads the online trunk (as theirs), and their
                      reward's re-encoding gets the D step's shifts (as ours reuses them)
  only_target_trunk   our target critic's own, soft-updated trunk (DrQv2's)
  only_reward_shifts  their reward's re-encoding with fresh shifts
  as_shipped          both: the two codes as they are

``--f64`` runs both sides in float64, so that float32 summation-order noise (which Adam's first
step, g / (|g| + eps), amplifies) can neither hide nor fake a difference; ``aligned`` should
then agree to ~1e-14. Each mode prints update 1 in detail and the parameters after each of 5
updates; a SUMMARY table of all modes comes last.
"""

from __future__ import annotations

import argparse
import contextlib
import sys
import types
from collections.abc import Callable
from pathlib import Path
from typing import Any
from unittest import mock

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from baselines import drqv2, laifo
from bcvlr.atomic import atomic_write_json
from bcvlr.data.replay import Batch
from bcvlr.nets import encoders
from bcvlr.nets.augment import RandomShift
from bcvlr.reference.authors import checkout_commit

B, A, FEAT, HID, NSTEP, GAMMA, PAD = 8, 2, 32, 256, 3, 0.99, 4
OBS = (9, 64, 64)
STD, STD_CLIP = 0.2, 0.3
UPDATES = 5

# mode -> (our target critic reads the online trunk, their reward re-encodes with fresh shifts)
MODES = {
    "aligned": (True, False),
    "only_target_trunk": (False, False),
    "only_reward_shifts": (True, True),
    "as_shipped": (False, True),
}

# -- the reference, loaded from the user's checkout ---------------------------------------------
# agents/lail.py's Encoder.repr_dim, for 84x84 frames, and for any (84: 32*35*35, 64: 32*25*25)
REPR_DIM = "        self.repr_dim = 32 * 35 * 35\n"
REPR_DIM_ANY = "        self.repr_dim = 32 * ((obs_shape[1] - 3) // 2 + 1 - 6) ** 2\n"
STAND_INS: dict[str, dict[str, Any]] = {
    "hydra": {},
    "omegaconf": {"OmegaConf": object},
    "torchvision": {},
    "torchvision.transforms": {"Normalize": None},
    "torch.utils.tensorboard": {"SummaryWriter": object},
    "utils_folder.resnet": {"BasicBlock": None, "ResNet84": None},
}


def load_reference(reference: Path) -> types.ModuleType:
    """Their agents/lail.py with REPR_DIM for 64x64 frames, importing their utils_folder."""
    path = reference / "agents" / "lail.py"
    if not path.is_file() or not (reference / "utils_folder" / "utils.py").is_file():
        sys.exit(f"{reference}: not a checkout of AIL_from_visual_obs (agents/lail.py, "
                 "utils_folder/utils.py)")  # fmt: skip
    source = path.read_text()
    if source.count(REPR_DIM) != 1:
        sys.exit(f"{path}: line {REPR_DIM.strip()!r} not found once (checked at commit 45af504)")
    package = types.ModuleType("utils_folder")
    package.__path__ = [str(reference / "utils_folder")]  # their utils, utils_dreamer as they are
    sys.modules["utils_folder"] = package
    for name, attrs in STAND_INS.items():
        module = types.ModuleType(name)
        module.__dict__.update(attrs)
        sys.modules[name] = module
        parent, _, child = name.rpartition(".")
        if parent:
            setattr(sys.modules[parent], child, module)
    lail = types.ModuleType("lail")
    lail.__file__ = str(path)
    exec(compile(source.replace(REPR_DIM, REPR_DIM_ANY), str(path), "exec"), lail.__dict__)
    return lail


def use_float64() -> None:
    """Nets built in float64, and every ``.float()`` either side calls on frames and batches
    returns float64."""
    torch.set_default_dtype(torch.float64)
    torch.Tensor.float = lambda self, *a, **k: self.double()  # type: ignore[method-assign]
    encoders.output_size.__defaults__ = (torch.float64,)  # its dummy forward's dtype


# -- one scripted shift for both sides ----------------------------------------------------------
def shift(x: torch.Tensor, dy: torch.Tensor, dx: torch.Tensor) -> torch.Tensor:
    """Our RandomShift's indexing with given offsets (rows dy, columns dx, each (n,), 0..2p)."""
    n, c, h, w = x.shape
    padded = F.pad(x.float(), (PAD,) * 4, mode="replicate")
    rows = (dy[:, None] + torch.arange(h))[:, None, :, None]
    cols = (dx[:, None] + torch.arange(w))[:, None, None, :]
    return padded[torch.arange(n)[:, None, None, None], torch.arange(c)[None, :, None, None],
                  rows, cols]  # fmt: skip


class ScriptedShift(nn.Module):
    """Applies the queued (name, (dy, dx)) shifts in order and records the names used."""

    def __init__(self) -> None:
        super().__init__()
        self.queue: list[tuple[str, torch.Tensor]] = []
        self.used: list[str] = []

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        name, (dy, dx) = self.queue.pop(0)
        self.used.append(name)
        return shift(x, dy, dx)


# -- the two agents -----------------------------------------------------------------------------
class FixedExpert:
    """Stands in for our expert WindowSampler: returns the windows set."""

    windows: np.ndarray

    def sample(self) -> np.ndarray:
        return self.windows


def build(mode: str, ref: types.ModuleType) -> tuple[laifo.LAIfOAgent, Any]:
    """Both agents with our weights; shifts scripted; our target trunk shared if the mode says."""
    ours = build_ours(mode)
    return ours, build_theirs(ref, ours)


def build_ours(mode: str) -> laifo.LAIfOAgent:
    """Our agent, seeded; its shifts scripted; its target trunk the online one if the mode says."""
    torch.manual_seed(0)
    cfg = laifo.Config(lr=1e-4, batch_size=B, nstep=NSTEP, gamma=GAMMA, tau=0.01,
                       feature_dim=FEAT, hidden_dim=HID, hidden_depth=2, std_init=STD,
                       std_final=STD, std_steps=1000, std_clip=STD_CLIP, aug_pad=PAD,
                       actor_trunk="critic", disc_hidden_dim=HID, disc_lr=4e-4,
                       grad_penalty=10.0, device="cpu", threads=1)  # fmt: skip
    ours = laifo.LAIfOAgent(OBS, A, cfg, videos=None, seed=0)
    ours._expert = FixedExpert()
    ours.aug = ScriptedShift()
    if MODES[mode][0]:
        ours.critic_target.trunk = ours.critic.trunk
    return ours


def build_theirs(ref: types.ModuleType, ours: laifo.LAIfOAgent) -> Any:
    """The reference's agent with our weights, its shifts scripted."""
    torch.manual_seed(1)  # a different init on purpose: all of it is then copied from ours
    # their D's width is their hidden_dim (ours: disc_hidden_dim = HID)
    theirs = ref.LailAgent(obs_shape=OBS, action_shape=(A,), device="cpu", lr=1e-4,
                           feature_dim=FEAT, hidden_dim=HID, critic_target_tau=0.01,
                           num_expl_steps=0, update_every_steps=2, stddev_schedule=str(STD),
                           stddev_clip=STD_CLIP, use_tb=True, reward_d_coef=2.0,
                           discriminator_lr=4e-4, spectral_norm_bool=False,
                           pretrained_encoder_path=None, encoder_lr_scale=1, GAN_loss="bce",
                           from_dem=False, add_aug=True, RL_plus_IL=False)  # fmt: skip
    with torch.no_grad():
        for _, o, t in param_pairs(ours, theirs, targets=False):
            t.copy_(o)
        theirs.critic_target.load_state_dict(theirs.critic.state_dict())  # as ours starts
    theirs.aug = ScriptedShift()
    return theirs


def param_pairs(ours: laifo.LAIfOAgent, theirs: Any,
                targets: bool = True) -> list[tuple[str, torch.Tensor, torch.Tensor]]:  # fmt: skip
    """(name, our tensor, their tensor) for every parameter, target critics' if ``targets``."""
    out = []

    def add(name: str, o: nn.Module, t: nn.Module) -> None:
        out.extend((f"{name}.{k}", getattr(o, k), getattr(t, k)) for k in ("weight", "bias"))

    for i in (0, 2, 4, 6):
        add(f"encoder.conv{i}", ours.encoder.convnet[i], theirs.encoder.convnet[i])
    for i in (0, 1):
        add(f"trunk.{i}", ours.critic.trunk[i], theirs.encoder.trunk[i])
    for q, their_q in (("q1", "Q1"), ("q2", "Q2")):
        for i in (0, 2, 4):
            add(f"critic.{q}.{i}", getattr(ours.critic, q)[i], getattr(theirs.critic, their_q)[i])
            if targets:
                add(f"critic_target.{q}.{i}", getattr(ours.critic_target, q)[i],
                    getattr(theirs.critic_target, their_q)[i])  # fmt: skip
    for i in (0, 2, 4):
        add(f"actor.policy.{i}", ours.actor.policy[i], theirs.actor.policy[i])
    for i in (0, 2, 4):
        add(f"disc.{i}", ours.disc.net[i], theirs.discriminator.net[i])
    if targets:  # their target critic reads their online trunk
        for i in (0, 1):
            add(f"critic_target.trunk.{i} (theirs: online trunk)",
                ours.critic_target.trunk[i], theirs.encoder.trunk[i])  # fmt: skip
    return out


# -- data -----------------------------------------------------------------------------------------
def smooth_frames(rng: np.random.Generator, bright: float) -> np.ndarray:
    """B frame stacks of 8x8 blocks, pulled towards ``bright`` (expert and agent apart)."""
    lo = rng.integers(0, 256, (B, 9, 8, 8)).astype(np.float32)
    img = 0.6 * np.kron(lo, np.ones((1, 1, 8, 8), np.float32)) + 0.4 * bright
    return np.clip(img, 0, 255).astype(np.uint8)


def make_data(rng: np.random.Generator) -> dict[str, Any]:
    """One update's batches (agent, expert) and its named shifts, drawn in this order."""
    data: dict[str, Any] = {"obs": smooth_frames(rng, 60), "nxt": smooth_frames(rng, 60)}
    data["action"] = rng.uniform(-1, 1, (B, A)).astype(np.float32)
    data["env_ret"] = rng.uniform(0, 3, B).astype(np.float32)
    data["discount"] = np.full(B, GAMMA**NSTEP, np.float32)
    data["e0"], data["e3"] = smooth_frames(rng, 200), smooth_frames(rng, 200)
    # (B, nstep + 1, ...): our update reads [:, 0] and [:, -1]
    data["windows"] = np.stack([data["e0"], data["e0"], data["e3"], data["e3"]], 1)
    data["shifts"] = {k: torch.as_tensor(rng.integers(0, 2 * PAD + 1, (2, B)))
                      for k in ("e0", "e1", "a0", "a1", "c0", "c1", "rf0", "rf1")}  # fmt: skip
    return data


# -- one update, recorded -------------------------------------------------------------------------
def _snap(t: torch.Tensor) -> torch.Tensor:
    return t.detach().flatten().clone()


def _record(stack: contextlib.ExitStack, owner: object, name: str,
            pick: Callable[[tuple, Any], Any]) -> list:  # fmt: skip
    """Wraps ``owner.name`` for the stack's life; returns the list of pick(args, result)."""
    log: list = []
    original = getattr(owner, name)

    def wrapper(*args: Any, **kwargs: Any) -> Any:
        out = original(*args, **kwargs)
        log.append(pick(args, out))
        return out

    stack.enter_context(mock.patch.object(owner, name, wrapper))
    return log


def recorded_update(update: Callable[[], dict], disc: nn.Module, dist: type, reward: tuple,
                    aug: ScriptedShift, seed: int) -> dict[str, Any]:  # fmt: skip
    """Runs ``update`` after seeding torch, recording D's inputs and logits, the two
    F.mse_loss calls (Q, target), the actions ``dist`` samples (target policy's, then the
    actor's) and the 0/1 reward (``reward``: (owner, method, pick the reward from the result))."""
    with contextlib.ExitStack() as stack:
        mse = _record(stack, F, "mse_loss", lambda a, out: (_snap(a[0]), _snap(a[1])))
        noise = _record(stack, dist, "sample", lambda a, out: _snap(out))
        owner, method, pick = reward
        rewards = _record(stack, owner, method, lambda a, out: _snap(pick(out)))
        d_calls: list = []
        hook = disc.register_forward_hook(
            lambda m, inp, out: d_calls.append((_snap(inp[0]), _snap(out)))
        )
        stack.callback(hook.remove)
        torch.manual_seed(seed)
        metrics = update()
    assert not aug.queue, aug.queue
    assert len(d_calls) == 4 and len(mse) == 2 and len(noise) == 2 and len(rewards) == 1
    return {"metrics": metrics, "d_calls": d_calls, "mse": mse, "noise": noise,
            "reward": rewards[0], "used": list(aug.used)}  # fmt: skip


def run_ours(ours: laifo.LAIfOAgent, data: dict, step: int, seed: int) -> dict[str, Any]:
    ours._expert.windows = data["windows"]
    ours.aug.used = []
    ours.aug.queue = [(k, data["shifts"][k]) for k in ("e0", "e1", "a0", "a1", "c0", "c1")]
    batch = Batch(obs=data["obs"], action=data["action"], reward=data["env_ret"],
                  discount=data["discount"], next_obs=data["nxt"])  # fmt: skip
    return recorded_update(lambda: ours.update(batch, step), ours.disc.net,
                           drqv2.ClippedGaussian, (ours.disc, "reward", lambda r: r), ours.aug,
                           seed)  # fmt: skip


def run_theirs(theirs: Any, ref: types.ModuleType, data: dict, step: int, seed: int,
               fresh_reward_shifts: bool) -> dict[str, Any]:  # fmt: skip
    s = data["shifts"]
    rk = ("rf0", "rf1") if fresh_reward_shifts else ("a0", "a1")
    theirs.aug.used = []
    theirs.aug.queue = [(k, s[k]) for k in ("e0", "e1", "a0", "a1", *rk, "c0", "c1")]
    replay = iter([(data["obs"], data["action"], data["env_ret"][:, None],
                    data["discount"][:, None], data["nxt"])])  # fmt: skip
    expert = iter([(data["e0"], np.zeros((B, A), np.float32), np.zeros((B, 1), np.float32),
                    np.ones((B, 1), np.float32), data["e3"])])  # fmt: skip
    return recorded_update(lambda: theirs.update(replay, expert, step),
                           theirs.discriminator.net, ref.utils.TruncatedNormal,
                           (theirs, "compute_reward", lambda out: out[0]), theirs.aug,
                           seed)  # fmt: skip


# -- comparison -----------------------------------------------------------------------------------
def diff(a: Any, b: Any) -> tuple[float, float]:
    """Max abs difference, and that over max |b|."""
    a, b = torch.as_tensor(a, dtype=torch.float64), torch.as_tensor(b, dtype=torch.float64)
    d, scale = (a - b).abs().max().item(), b.abs().max().item()
    return d, d / scale if scale > 0 else (0.0 if d == 0 else float("inf"))


def fmt(name: str, d: tuple[float, float], extra: str = "") -> str:
    return f"  {name:<52s} max_abs {d[0]:.3e}  rel {d[1]:.3e}{extra}"


TARGET = "critic target r + g^n min Q'(o_t+n)"
D_CALLS = ("agent (D step)", "expert (D step)", "interpolates (penalty)",
           "agent (reward, after D step)")  # fmt: skip


def compare_update(o: dict, t: dict) -> dict[str, tuple[float, float]]:
    """Ours (o) against theirs (t), quantity by quantity."""
    mo, mt = o["metrics"], t["metrics"]
    rows = {}
    for (x_o, y_o), (x_t, y_t), name in zip(o["d_calls"], t["d_calls"], D_CALLS, strict=True):
        rows[f"D input features: {name}"] = diff(x_o, x_t)
        rows[f"D logits: {name}"] = diff(y_o, y_t)
    bce_t = -(mt["discriminator_expert_loss"] + mt["discriminator_agent_loss"])
    rows["D loss (BCE part)"] = diff(mo["disc/loss"], bce_t)
    rows["D gradient penalty"] = diff(mo["disc/grad_penalty"], mt["discriminator_grad_pen"])
    rows["D total loss"] = diff(mo["disc/loss"] + mo["disc/grad_penalty"],
                                mt["discriminator_loss"])  # fmt: skip
    rows["0/1 reward"] = diff(o["reward"], t["reward"])
    rows["target-policy action a'(o_t+n) (noise incl.)"] = diff(o["noise"][0], t["noise"][0])
    rows["actor sampled action (noise incl.)"] = diff(o["noise"][1], t["noise"][1])
    (q1_o, target_o), (q2_o, _) = o["mse"]
    (q1_t, target_t), (q2_t, _) = t["mse"]
    rows[TARGET] = diff(target_o, target_t)
    rows["Q1(o_t, a_t)"] = diff(q1_o, q1_t)
    rows["Q2(o_t, a_t)"] = diff(q2_o, q2_t)
    rows["critic loss"] = diff(mo["train/critic_loss"], mt["critic_loss"])
    rows["actor loss"] = diff(mo["train/actor_loss"], mt["actor_loss"])
    return rows


def details(o: dict, t: dict, rows: dict, data: dict, flips: int) -> list[str]:
    """Update 1's values side by side and every row."""
    mo, mt = o["metrics"], t["metrics"]
    lines = [
        f"  shifts used: ours {o['used']}  theirs {t['used']}",
        f"  reward: ours {o['reward'].tolist()}  theirs {t['reward'].tolist()}  "
        f"({flips} of {B} differ)",
        f"  D loss ours (bce {mo['disc/loss']:.6f}, gp {mo['disc/grad_penalty']:.6f}); theirs "
        f"(bce {-(mt['discriminator_expert_loss'] + mt['discriminator_agent_loss']):.6f}, "
        f"gp {mt['discriminator_grad_pen']:.6f}, total {mt['discriminator_loss']:.6f})",
        f"  critic loss ours {mo['train/critic_loss']:.6f} theirs {mt['critic_loss']:.6f}; "
        f"actor loss ours {mo['train/actor_loss']:.6f} theirs {mt['actor_loss']:.6f}",
        f"  target mean ours {o['mse'][0][1].mean():.6f} theirs {t['mse'][0][1].mean():.6f}; "
        f"env n-step return mean (replaced, not learned) {data['env_ret'].mean():.4f}",
    ]
    return lines + [fmt(k, v) for k, v in rows.items()]


def group(name: str) -> str:
    if name.startswith("critic_target.trunk"):
        return "critic_target.trunk (theirs: online)"
    return name.split(".")[0]


def run_mode(mode: str, ref: types.ModuleType) -> tuple[list[str], dict, dict]:
    """UPDATES updates of both; (lines, update 1's rows, per group (max abs, max rel) after
    the last)."""
    ours, theirs = build(mode, ref)
    rng = np.random.default_rng(123)
    lines = [f"\n===== mode: {mode} ====="]
    first: dict = {}
    for u in range(UPDATES):
        data = make_data(rng)
        before = {n: t.detach().double().clone() for n, _, t in param_pairs(ours, theirs)}
        o = run_ours(ours, data, 2 * u, 1000 + u)
        t = run_theirs(theirs, ref, data, 2 * u, 1000 + u, fresh_reward_shifts=MODES[mode][1])
        rows = compare_update(o, t)
        flips = int(((o["reward"] - t["reward"]).abs() > 0.5).sum())  # theirs: 1 - 6e-8 for 1
        params = {}
        for name, p_o, p_t in param_pairs(ours, theirs):
            moved = (p_t.detach().double() - before[name]).abs().max().item()
            params[name] = (diff(p_o.detach(), p_t.detach()), moved)
        if u == 0:
            first = rows
            lines += ["-- update 1 (detailed)", *details(o, t, rows, data, flips),
                      "  parameters after the step (rel = max_abs / max|theirs|; "
                      "upd = max|their change this step|):"]  # fmt: skip
            for name, (d, moved) in params.items():
                extra = f"  upd {moved:.3e}  diff/upd {d[0] / moved:.3e}" if moved else ""
                lines.append(fmt(name, d, extra))
        lines.append(f"-- after update {u + 1}: reward flips {flips}/{B}; critic target "
                     f"{rows[TARGET][0]:.2e}, critic loss {rows['critic loss'][0]:.2e}, actor "
                     f"loss {rows['actor loss'][0]:.2e}, D total loss "
                     f"{rows['D total loss'][0]:.2e}")  # fmt: skip
        groups: dict[str, tuple[float, float, float]] = {}
        for name, ((d, rel), moved) in params.items():
            g = groups.get(group(name), (0.0, 0.0, 0.0))
            groups[group(name)] = (max(g[0], d), max(g[1], rel),
                                   max(g[2], d / moved if moved else 0.0))  # fmt: skip
        for name, (d, rel, per_step) in groups.items():
            lines.append(f"     {name:<38s} max_abs {d:.3e}  rel {rel:.3e}  "
                         f"diff/step-size {per_step:.3e}")  # fmt: skip
    return lines, first, groups


def quantities(side: dict) -> dict[str, Any]:
    """What a recording keeps of one update (theirs, or ours in their terms)."""
    (q1, target), _ = side["mse"]
    return {"reward": side["reward"].tolist(), "target": target.tolist(), "q1": q1.tolist(),
            "critic_loss": float(side["critic_loss"]), "actor_loss": float(side["actor_loss"]),
            "disc_loss": float(side["disc_loss"]), "grad_penalty": float(side["grad_penalty"])}  # fmt: skip


def theirs_in_common_terms(t: dict) -> dict[str, Any]:
    m = t["metrics"]
    return t | {"critic_loss": m["critic_loss"], "actor_loss": m["actor_loss"],
                "disc_loss": -(m["discriminator_expert_loss"] + m["discriminator_agent_loss"]),
                "grad_penalty": m["discriminator_grad_pen"]}  # fmt: skip


def ours_in_common_terms(o: dict) -> dict[str, Any]:
    m = o["metrics"]
    return o | {"critic_loss": m["train/critic_loss"], "actor_loss": m["train/actor_loss"],
                "disc_loss": m["disc/loss"], "grad_penalty": m["disc/grad_penalty"]}  # fmt: skip


def record(ref: types.ModuleType, commit: str) -> dict[str, Any]:
    """The reference's quantities over UPDATES updates in the `aligned` mode (float32): what
    tests/reference/test_laifo_equivalence.py holds ours against without the reference."""
    ours = build_ours("aligned")
    theirs = build_theirs(ref, ours)
    rng = np.random.default_rng(123)
    updates = []
    for u in range(UPDATES):
        t = run_theirs(theirs, ref, make_data(rng), 2 * u, 1000 + u, fresh_reward_shifts=False)
        updates.append(quantities(theirs_in_common_terms(t)))
    return {"reference": f"AIL_from_visual_obs LAIfO {commit}", "dtype": "float32",
            "mode": "aligned", "updates": updates}  # fmt: skip


def side_checks(ref: types.ModuleType) -> list[str]:
    out = ["== side checks"]
    # the two random-shift augmentations agree on equal integer shifts
    torch.manual_seed(3)
    x = torch.randint(0, 256, (B, 9, 64, 64)).float()
    dy, dx = torch.randint(0, 9, (B,)), torch.randint(0, 9, (B,))
    ours_shifts = torch.stack([dy, dx])[:, :, None]  # RandomShift's (2, n, 1): rows, columns
    theirs_shifts = torch.stack([dx, dy], -1)[:, None, None, :]  # (n, 1, 1, 2): columns, rows
    with mock.patch.object(torch, "randint", lambda *a, **k: ours_shifts):
        a = RandomShift(PAD)(x)
    with mock.patch.object(torch, "randint",
                           lambda *a, **k: theirs_shifts.to(k["dtype"])):  # fmt: skip
        b = ref.RandomShiftsAug(PAD)(x)
    out.append(fmt("RandomShift(ours) vs RandomShiftsAug(theirs), same shifts", diff(a, b)))
    out.append(fmt("scripted shift used here vs our RandomShift", diff(shift(x, dy, dx), a)))
    # the noise draws: randn_like (ours) and empty().normal_() (their _standard_normal)
    torch.manual_seed(5)
    n1 = torch.randn_like(torch.zeros(B, A))
    torch.manual_seed(5)
    n2 = torch.empty(B, A).normal_()
    out.append(fmt("randn_like vs normal_ with the same seed", diff(n1, n2)))
    # the reward rule: ours logit > 0, theirs round(sigmoid(logit))
    z = torch.tensor([-1e-3, -1e-8, 0.0, 1e-9, 1e-8, 3e-8, 1e-7, 1e-3])
    out.append(f"  reward rule on logits {z.tolist()}: ours {(z > 0).float().tolist()} "
               f"theirs {torch.round(torch.sigmoid(z)).tolist()}")  # fmt: skip
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reference", type=Path, required=True,
                        help="checkout of AIL_from_visual_obs, branch LAIfO")  # fmt: skip
    parser.add_argument("--f64", action="store_true", help="both sides in float64")
    parser.add_argument("--record", type=Path, metavar="JSON",
                        help="write the reference's float32 quantities there and stop")  # fmt: skip
    args = parser.parse_args()
    if args.record and args.f64:
        parser.error("--record keeps float32 quantities: leave out --f64")
    torch.set_num_threads(1)
    ref = load_reference(args.reference.resolve())
    if args.record:
        kept = record(ref, checkout_commit(args.reference))
        atomic_write_json(args.record, kept)
        print(f"{args.record}: {len(kept['updates'])} updates of {kept['reference']}")
        return
    if args.f64:
        use_float64()
    print(f"reference {args.reference} at {checkout_commit(args.reference)}, agents/lail.py "
          f"with {REPR_DIM_ANY.strip()!r}; stand-ins: {', '.join(STAND_INS)}")  # fmt: skip
    print(f"dtype: {'float64 (--f64)' if args.f64 else 'float32'}; torch {torch.__version__}; "
          f"B={B} obs={OBS} A={A} feature={FEAT} hidden={HID} D hidden={HID} nstep={NSTEP} "
          f"gamma={GAMMA} std={STD} clip={STD_CLIP}")  # fmt: skip
    print("\n".join(side_checks(ref)))
    summary = {}
    for mode in MODES:
        lines, rows, groups = run_mode(mode, ref)
        print("\n".join(lines), flush=True)
        summary[mode] = (rows, groups)
    print(f"\n== SUMMARY: update 1 (max abs diff ours vs theirs), and parameters after {UPDATES} "
          f"updates\n  {'quantity':<44s}" + "".join(f"{m:>20s}" for m in MODES))  # fmt: skip
    keys = ["D loss (BCE part)", "D gradient penalty", f"D logits: {D_CALLS[0]}",
            f"D logits: {D_CALLS[1]}", f"D logits: {D_CALLS[3]}", "0/1 reward", TARGET,
            "Q1(o_t, a_t)", "critic loss", "actor sampled action (noise incl.)", "actor loss"]  # fmt: skip
    for k in keys:
        print(f"  {k:<44s}" + "".join(f"{summary[m][0][k][0]:>20.2e}" for m in MODES))
    for g in ("encoder", "trunk", "critic", "critic_target", "actor", "disc"):
        print(f"  {f'params after {UPDATES}: {g}':<44s}"
              + "".join(f"{summary[m][1][g][0]:>20.2e}" for m in MODES))  # fmt: skip


if __name__ == "__main__":
    main()
