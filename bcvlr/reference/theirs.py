"""The authors' side of the equivalence harness (bcvlr/reference/equivalence.py): their
networks loaded with our prepared weights, their update lines run on our batches, and every
tensor mapped back to our names.

Weights pair up by position: our modules' state dicts, in order, against the same parts of
theirs, checked shape by shape (the VQ's latent layout is theirs, so no unit is permuted).
"""

from __future__ import annotations

import types
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from bcvlr.reference import authors as A
from bcvlr.reference.equivalence import (
    ACTING_OBS,
    DISCRETE,
    Code,
    Outcome,
    Prepared,
    Replay,
    Side,
    freeze_ema,
    integer_shift,
)
from bcvlr.tasks import get_task


@dataclass
class Pair:
    ours: str
    module: nn.Module  # theirs, and the tensor's name in it: their VQ assigns new buffers
    name: str  # every update, so a reference taken once would go stale

    @property
    def theirs(self) -> torch.Tensor:
        *path, leaf = self.name.split(".")
        owner = self.module
        for part in path:
            owner = getattr(owner, part)
        return getattr(owner, leaf)


class Mapping:
    def __init__(self) -> None:
        self.pairs: list[Pair] = []

    def add(self, prefix: str, ours: nn.Module, theirs: Iterable[nn.Module],
            skip: tuple[str, ...] = ()) -> None:  # fmt: skip
        mine = [(n, t) for n, t in ours.state_dict(keep_vars=True).items() if n not in skip]
        their = [(m, n, t) for m in theirs for n, t in m.state_dict(keep_vars=True).items()]
        if len(mine) != len(their):
            raise ValueError(f"{prefix}: {len(mine)} tensors of ours against {len(their)}")
        for (name, a), (module, their_name, b) in zip(mine, their, strict=True):
            if a.shape != b.shape:
                raise ValueError(f"{prefix}.{name}: shape {tuple(a.shape)} against {tuple(b.shape)}")
            self.pairs.append(Pair(f"{prefix}.{name}", module, their_name))

    def load(self, start: dict[str, torch.Tensor]) -> None:
        with torch.no_grad():
            for p in self.pairs:
                p.theirs.copy_(start[p.ours])

    def outcome(self) -> Outcome:
        tensors, grads = {}, {}
        for p in self.pairs:
            t = p.theirs
            tensors[p.ours] = t.detach().clone()  # a snapshot, never a live tensor
            if isinstance(t, nn.Parameter) and t.grad is not None:
                grads[p.ours] = t.grad.detach().clone()
        return Outcome({}, tensors, grads)


def _flat_start(prep: Prepared) -> dict[str, torch.Tensor]:
    return {f"{k}.{n}": t for k, sd in prep.start.items() for n, t in sd.items()}


def _record(obj, method: str, losses: dict[str, list[float]], key: str, pick=lambda r: r):
    """Wrap ``obj.method`` so each call appends its loss to ``losses[key]``."""
    original = getattr(obj, method)

    def wrapped(*args, **kwargs):
        out = original(*args, **kwargs)
        losses.setdefault(key, []).append(pick(out).item())
        return out

    setattr(obj, method, wrapped)


def _add_lam(mapping: Mapping, prefix: str, lam: nn.Module, idm, wm) -> None:
    """Our LatentActionModel against their IDM head and world model (without its encoder)."""
    mapping.add(prefix, lam, [idm.conv_stack, idm.fc, idm.policy_head, idm.vq, wm.down,
                                       wm.up, wm.final_conv], skip=("input_mean", "input_std"))  # fmt: skip


def _latest(losses: dict[str, list[float]]) -> dict[str, float]:
    return {k: v[-1] for k, v in losses.items()}


def theirs(prep: Prepared, authors: types.SimpleNamespace, code: Code,
           own_augmentation: bool = False) -> Side | Outcome:  # fmt: skip
    """Their update lines on the prepared weights and batches, mapped back to our names (the
    acting equation has no update: its outcome). Feature pretraining reads the prepared
    random-shift views, or with ``own_augmentation`` (for timing) shifts with their own."""
    cfg, eq = prep.cfg, prep.equation
    la, oc = cfg.latent_actions, cfg.online
    discrete = code is DISCRETE
    a_dim = get_task(code.task).action_space.size
    sizes = prep.sizes
    nets = dict(idm_impala_scale=sizes.idm_scale, wm_scale=sizes.wm_base,
                policy_impala_scale=sizes.idm_scale)
    idm, wm = A.their_nets(authors, a_dim, **nets)
    mapping = Mapping()
    start = _flat_start(prep)
    losses: dict[str, list[float]] = {}
    off, on = authors.trees["run_offline.py"], authors.trees["run_online.py"]
    off_file, on_file = str(authors.repo / "run_offline.py"), str(authors.repo / "run_online.py")

    def batches(with_actions: bool = False):
        def ta(b):  # their discrete replay stores a_t alone, as uint8; the continuous the window's
            return b["actions"][:, -2].to(torch.uint8) if discrete else b["actions"]

        return iter([next(A.their_batches(authors, b["obs"], ta(b) if with_actions else None))
                     for b in prep.batches])  # fmt: skip

    if eq == "features":
        learner = prep.objects["learner"]
        heads = [idm.projector, idm.proto.predictor, idm.projector_target, idm.proto.protos]
        mapping.add("features", learner.modules, [idm.conv, idm.conv_target, *heads]
                    + ([idm.conv_reconstruct] if discrete else []))  # fmt: skip
        mapping.load(start)
        if not own_augmentation:
            idm.aug = Replay(v / 255 - 0.5 for pair in prep.views for v in pair)
        env = {"train_encoder_iter": batches(), "idm": idm, "contrast_record": []}
        body = A.compile_body(A.loop_body(off, "offline_pretraining", 0), env, off_file)
        key = "loss/contrastive_recon" if discrete else "loss/prototype"
        if discrete:
            _record(idm.proto, "forward", losses, "loss/contrastive")

        def step(k: int) -> dict[str, float]:
            total = body()["contrastive_loss"].item()
            return _latest(losses) | {key: total}

        return Side(step, mapping.outcome, [idm.proto_optimizer])

    if eq == "latent_actions":
        wm.conv = idm.conv  # as run_offline.py shares the encoder
        mapping.add("encoder", prep.objects["learner"].encoder, [idm.conv])
        _add_lam(mapping, "lam", prep.objects["learner"].model, idm, wm)
        mapping.load(start)
        _record(wm, "label", losses, "loss/world_model")
        _record(idm, "label", losses, "loss/vq", pick=lambda r: r[0])
        opt, sched = A.adamw_scheduler(authors, la.idm_lr, [wm, idm])
        env = {"idm": idm, "wm": wm, "opt": opt, "lr_sched": sched, "torch": torch,
               "train_iter": batches(), "logger": A.logger(authors), "step_repre_max": 0,
               "cfg": types.SimpleNamespace(offline_pt=types.SimpleNamespace(bs=la.batch_size))}  # fmt: skip
        A.define(off, "train_step", env, off_file)

        def step(k: int) -> dict[str, float]:
            env["step"] = k
            env["train_step"]()
            return _latest(losses)

        return Side(step, mapping.outcome, [opt])

    agent = prep.objects["agent"]
    policy = authors.utils.create_policy(A.their_model_config(authors, a_dim, **nets),
                                         action_dim=la.latent_dim)  # fmt: skip
    decoder = authors.utils.create_decoder(in_dim=la.latent_dim, out_dim=a_dim,
                                           device=authors.config.DEVICE,
                                           hidden_sizes=oc.decoder_hidden)  # fmt: skip
    mapping.add("agent.encoder", agent.encoder, [idm.conv])
    _add_lam(mapping, "agent.lam", agent.lam, idm, wm)
    mapping.add("agent.decoder", agent.decoder, [decoder])
    # their policy: IMPALA (discrete) or LayerNorm trunk + MLP (continuous) after its encoder
    policy_parts = ([policy.conv_stack, policy.fc, policy.policy_head] if discrete
                    else [policy.trunk, policy.policy_head])  # fmt: skip
    mapping.add("agent.policy", agent.policy, policy_parts)
    mapping.load(start)
    # online, their world model and policy hold copies of the encoder (loaded from files)
    encoder = {n.removeprefix("agent.encoder."): t for n, t in start.items()
               if n.startswith("agent.encoder.")}  # fmt: skip
    for copy in (wm.conv, policy.conv):
        for (_, theirs_t), ours_t in zip(copy.state_dict(keep_vars=True).items(),
                                         encoder.values(), strict=True):  # fmt: skip
            with torch.no_grad():
                theirs_t.copy_(ours_t)

    if eq == "acting":
        return _act(prep, authors, env={"torch": torch, "config": authors.config,
                                        "data_loader": authors.data_loader,
                                        "idm_decoder": decoder, "policy": policy,
                                        "utils": authors.utils, "Categorical":
                                        torch.distributions.Categorical}, discrete=discrete)  # fmt: skip

    if eq.startswith("finetune"):
        if eq == "finetune":
            freeze_ema(idm.vq)
        _record(wm, "label", losses, "loss/ft_world_model")
        env = {"idm": idm, "wm": wm, "idm_decoder": decoder, "F": torch.nn.functional,
               "collect_iter": batches(with_actions=True)}  # fmt: skip
        if discrete:  # the world model is frozen online: no optimiser holds it
            env |= {"cfg": types.SimpleNamespace(wm_loss_alpha=oc.beta),
                    "idm_opt_idm": torch.optim.Adam(idm.parameters(), lr=oc.idm_ft_lr),
                    "idm_opt_decoder": torch.optim.Adam(decoder.parameters(), lr=oc.decoder_lr)}
            optimizers = [env["idm_opt_idm"], env["idm_opt_decoder"]]
        else:
            env |= {"cfg": types.SimpleNamespace(wm_loss_alpha=oc.beta),
                    "decoder_opt": torch.optim.Adam(authors.utils.chain(
                        idm.parameters(), decoder.parameters()), lr=oc.decoder_lr),
                    "wm_opt_wm": torch.optim.Adam(wm.parameters(), lr=oc.wm_ft_lr)}
            optimizers = [env["decoder_opt"], env["wm_opt_wm"]]
        A.define(on, "wm_collect_loss", env, on_file)
        idm.train()
        body = A.compile_body(A.loop_body(on, "finetuning_policylearning_each_iteration", 0),
                              env, on_file, prelude="count = 0; times = 10**9")  # fmt: skip

        def step(k: int) -> dict[str, float]:
            out = body()
            # their discrete loop folds the world-model term into ``loss``; its action loss
            # is ``outputs``' cross-entropy
            action_loss = (torch.nn.functional.cross_entropy(out["outputs"], out["labels"])
                           if discrete else out["loss"])  # fmt: skip
            return _latest(losses) | {"loss/action": action_loss.item()}

        return Side(step, mapping.outcome, optimizers)

    env = {"idm": idm, "policy": policy, "torch": torch, "F": torch.nn.functional,
           "logger": A.logger(authors), "expert_iter": batches(), "train_iter": batches()}  # fmt: skip
    if eq in ("bc", "bc_idm_train"):
        env["policy_opt"] = torch.optim.Adam(policy.parameters(), lr=oc.policy_lr)
        # as the loop leaves p: their DMC finetuning in train mode, their Procgen probe in eval
        idm.train(not discrete)
        body = A.compile_body(A.loop_body(on, "finetuning_policylearning_each_iteration", 1),
                              env, on_file, prelude="count = 0; times = 10**9")  # fmt: skip
        opt = env["policy_opt"]
    else:  # warm-up: run_offline.py's optional_pre_imitation
        env["opt"], env["lr_sched"] = A.adamw_scheduler(
            authors, authors.yaml["latent_policy_imitaiton"]["lr"], [policy])
        env["step"] = 1  # not a multiple of 200: no test batch
        idm.eval()
        body = A.compile_body(A.loop_body(off, "optional_pre_imitation", 0), env, off_file)
        opt = env["opt"]
    return Side(lambda k: {"loss/bc": body()["loss"].item()}, mapping.outcome, [opt])


def _act(prep: Prepared, authors: types.SimpleNamespace, env: dict, discrete: bool) -> Outcome:
    """Their acting functions on the prepared observations, with the global RNG seeded as our
    generator is."""
    on, on_file = authors.trees["run_online.py"], str(authors.repo / "run_online.py")
    obs = prep.batches[0]["obs"][:ACTING_OBS, 0]
    if discrete:  # one call for the 64 envs' frames
        A.define(on, "action_selection_hook_onlysl", env, on_file)
        torch.manual_seed(0)
        normalised = authors.data_loader.normalize_obs(obs)
        actions, _, _ = env["action_selection_hook_onlysl"](normalised)
        with torch.no_grad():
            logits = env["idm_decoder"](env["policy"](normalised))
        return Outcome({}, {"mean": logits, "explore": actions}, {})
    A.define(on, "action_selection_hook", env, on_file)
    A.define(on, "action_selection_eval", env, on_file)
    torch.manual_seed(0)
    explore = np.stack([env["action_selection_hook"](o) for o in obs.numpy()])
    mean = torch.from_numpy(np.stack([env["action_selection_eval"](o) for o in obs.numpy()]))
    # their evaluation sends the unclipped mean; MuJoCo clamps it to the control range
    return Outcome({}, {"mean": mean, "explore": torch.from_numpy(explore),
                        "evaluate": mean.clamp(-1, 1)}, {})  # fmt: skip


def augmentation_difference(authors: types.SimpleNamespace, pad: int = 4, n: int = 64,
                            seed: int = 0, depth: int = 9) -> dict[str, float]:  # fmt: skip
    """Their random shift against DrQ's integer shift (ours) at the same offsets, on uniform
    noise frames normalised to [-0.5, 0.5]: their grid is linspace(-1, 1) without DrQv2's
    half-pixel offset, so grid_sample interpolates between neighbours and blends the border
    with zeros."""
    rng = np.random.default_rng(seed)
    x = torch.from_numpy(rng.uniform(-0.5, 0.5, (n, depth, 64, 64)).astype(np.float32))
    offsets = rng.integers(0, 2 * pad + 1, (n, 2))  # (dy, dx)
    drawn = torch.from_numpy(offsets[:, ::-1].copy()).float().view(n, 1, 1, 2)  # their (x, y)
    original = torch.randint
    torch.randint = lambda *a, **k: drawn.clone()  # type: ignore[assignment]
    try:
        theirs_view = authors.utils.RandomShiftsAug_nobinliear(pad)(x)
    finally:
        torch.randint = original  # type: ignore[assignment]
    ours_view = integer_shift(x, offsets, pad)
    diff = (theirs_view - ours_view).abs()
    return {"mean_abs": diff.mean().item(), "max_abs": diff.max().item()}
