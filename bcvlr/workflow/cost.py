"""What the grid costs: the GPU minutes and host memory of BCV-LR's stage jobs, estimated from
the measured rates of config/costs.yaml; the runtime and memory their rules ask for; and the
table of estimated and requested GPU-hours that `snakemake -n` prints (docs/workflow.md, "What
the grid costs").

The estimates are pure functions of an entry's resolved settings (a plain dict, as
``dataclasses.asdict`` gives them), the settings the rates were measured at, the task and the
rates. ``GridCost`` binds them to a workflow plan; it resolves a BCV-LR entry's settings as its
jobs do (``bcvlr.workflow.args.method_config``), which imports torch: only when asked.

Every other job (the baselines, experts, video collection) has no measured rate: its estimate
is "not measured" and it keeps the request its config gives.
"""

from __future__ import annotations

import dataclasses
import math
import textwrap
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from bcvlr.config import ConfigError as MethodConfigError
from bcvlr.config import parse_yaml
from bcvlr.data.sampler import DEFAULT_CACHE_MB
from bcvlr.data.writer import DEFAULT_CHUNK_FRAMES
from bcvlr.tasks import Task, eval_points, get_task
from bcvlr.workflow.args import (
    method_config,
    pretraining_of,
    pretraining_task,
    pretraining_videos,
    resources,
)
from bcvlr.workflow.plan import REPO, ConfigError, Plan, per_task

COSTS = REPO / "config" / "costs.yaml"

# -- how a job is sized from its estimate (the one place these are set) -----------------------
# A job whose config gives no runtime / mem_mb asks for SAFETY_FACTOR x its estimate: runtime in
# whole minutes and at least MIN_RUNTIME, memory in whole GiB. The factor covers what the
# estimates leave out (docs/workflow.md): the policy's forward pass per env step, checkpoints,
# a slower node, and rates measured on other batches than the real ones.
SAFETY_FACTOR = 2
MIN_RUNTIME = 15  # minutes
MEM_STEP_MB = 1024
# Host memory besides the data an estimate counts (Python, torch with CUDA's libraries and
# context, the evaluation env): an allowance, not measured on a GPU. A CPU run of the mini
# online stage (docs/runs/2026-12-06-default-full/benchmarks/bcvlr_online) peaked at 6.5 GB
# for ~3 GB of data by this module's count.
HOST_OVERHEAD_MB = 4096

MB = 2**20  # mem_mb and feature_cache_mb count MiB
FRAME_BYTES = 3 * 64 * 64  # one RGB frame as the videos and the online replay store it
STAGES = ("features", "actions", "online")

# The network sizes each stage's rate was measured at: an entry that changes one has no rate.
_ENCODER = ("encoder", "channels", "strided_layers")
_LATENT = ("window", "latent_dim", "vq_codebooks", "vq_positions", "vq_embeddings",
           "idm_channels", "idm_hidden", "wm_base_channels")  # fmt: skip
NETWORKS: dict[str, dict[str, tuple[str, ...]]] = {
    "features": {"features": (*_ENCODER, "objective", "proj_dim", "predictor_hidden",
                              "num_prototypes")},  # fmt: skip
    "actions": {"features": _ENCODER, "latent_actions": _LATENT},
    "online": {"features": _ENCODER, "latent_actions": _LATENT,
               "online": ("decoder_hidden", "policy_hidden", "policy_trunk", "policy_channels")},
}  # fmt: skip


def load_rates(path=COSTS) -> dict:
    """config/costs.yaml, checked for the keys the estimates read."""
    data = parse_yaml(path.read_text())
    for key in ("measurements", "stage_rates", "feature_bytes_per_frame", "env_ms_per_step",
                "env_vec_steps_per_s"):  # fmt: skip
        if not isinstance(data.get(key), dict):
            raise ConfigError(f"{path}: {key}: expected a mapping")
    for suite, stages in data["stage_rates"].items():
        for stage in ("features", "actions", "finetune", "bc"):
            r = stages.get(stage)
            if not isinstance(r, dict) or not {"batch", "synthetic"} <= set(r):
                raise ConfigError(f"{path}: stage_rates.{suite}.{stage}: needs batch and "
                                  "synthetic (updates/s)")  # fmt: skip
    return data


# -- rates -------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Rate:
    seconds: float  # per update at ``batch``
    batch: int
    basis: str  # "real", "synthetic", or "synthetic x R (real/synthetic where measured)"

    def at(self, batch: int) -> float:
        """Seconds per update at another batch size (linear in the batch)."""
        return self.seconds * batch / self.batch


def loader_ratio(rates: Mapping, stage: str) -> float | None:
    """Real / synthetic updates/s of ``stage`` where both were measured (the slowest ratio):
    what sampling real batches costs on top of the update."""
    ratios = [s[stage]["real"] / s[stage]["synthetic"]
              for s in rates["stage_rates"].values() if "real" in s.get(stage, {})]  # fmt: skip
    return min(ratios) if ratios else None


# The measured stage whose real/synthetic ratio a synthetic rate takes when the stage samples
# its batches' windows from host memory as that one does, at the same batch size: eq. 3 draws
# 512 replay windows as feature pretraining draws 512 video windows, eq. 4 (without f's table)
# 128 video windows as latent-action pretraining does.
LOADER_OF = {"features": "features", "actions": "actions", "finetune": "features", "bc": "actions"}


def stage_rate(rates: Mapping, suite: str, stage: str, sampled: bool = True) -> Rate:
    """``stage``'s rate on ``suite``: the real one where measured; else the synthetic one,
    times the real/synthetic ratio of the stage that samples alike (LOADER_OF) where one was
    measured, unless not ``sampled`` (eq. 4 from f's table, which gathers rows on the GPU:
    the synthetic update, which encodes every window, bounds it)."""
    r = rates["stage_rates"][suite][stage]
    if "real" in r and sampled:
        return Rate(1 / r["real"], r["batch"], "real")
    ratio = loader_ratio(rates, LOADER_OF[stage]) if sampled else None
    if ratio is None:
        return Rate(1 / r["synthetic"], r["batch"], "synthetic")
    return Rate(1 / (r["synthetic"] * ratio), r["batch"], f"synthetic x {ratio:.2f}")


def f_training_seconds_per_frame(rates: Mapping, suite: str) -> float:
    """An upper bound on f's forward and backward pass per frame: a feature-pretraining
    update per frame of its batch (it passes each at least once, and trains more than f)."""
    r = stage_rate(rates, suite, "features")
    return r.seconds / r.batch


def forward_seconds_per_window(rates: Mapping, suite: str) -> float:
    """An upper bound on f's and p's forward pass per video window (building f's table, p's
    labels): a latent-BC update (eq. 4) per window of its batch, which runs both and trains
    pi besides."""
    r = stage_rate(rates, suite, "bc", sampled=False)
    return r.seconds / r.batch


def env_step_seconds(rates: Mapping, task: Task, num_envs: int) -> float | None:
    """Seconds of one step of ``num_envs`` envs (one after another for DMC and Metaworld; in
    one vectorised env for Procgen), or None where the task's env was not measured."""
    if task.suite == "procgen":
        per_s = rates["env_vec_steps_per_s"].get(task.base_name)
        return None if per_s is None else num_envs / per_s
    ms = rates["env_ms_per_step"].get(task.base_name)
    return None if ms is None else num_envs * ms / 1000


def evaluation_seconds(rates: Mapping, task: Task, episodes: int) -> float | None:
    """One evaluation of ``episodes`` episodes, every one to its time limit (bcvlr.run.evaluate:
    Procgen's episodes in parallel envs, the others one after another)."""
    n = min(episodes, task.num_envs) if task.suite == "procgen" else 1
    step = env_step_seconds(rates, task, n)
    return None if step is None else math.ceil(episodes / n) * task.episode_length * step


# -- data sizes --------------------------------------------------------------------------------
def video_frames(transitions: int, task: Task) -> int:
    """Frames of a dataset of ``transitions``: one more than its transitions per episode."""
    return transitions + math.ceil(transitions / task.episode_length)


def sampler_bytes(frames: int) -> int:
    """Decompressed frames a WindowSampler holds: the dataset, or DEFAULT_CACHE_MB of it."""
    return min(frames * FRAME_BYTES, DEFAULT_CACHE_MB * MB)


def table_fits(cfg: Mapping, rates: Mapping, suite: str, frames: int) -> bool:
    """Whether f's per-frame feature table of ``frames`` frames is built (it lives on the GPU:
    its time counts, not its memory)."""
    return frames * rates["feature_bytes_per_frame"][suite] <= cfg["feature_cache_mb"] * MB


def host_mb(data_bytes: float) -> float:
    return data_bytes / MB + HOST_OVERHEAD_MB


# -- estimates ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class Estimate:
    minutes: float | None = None  # wall minutes of the job on the measured GPU
    mem_mb: float | None = None  # host memory (MiB)
    parts: Mapping[str, float] = field(default_factory=dict)  # minutes per part
    why: str = ""  # where there is no estimate: why

    @property
    def measured(self) -> bool:
        return self.minutes is not None

    def request(self) -> dict[str, int]:
        """The runtime and mem_mb a job asks for when its config gives none ({}: no estimate)."""
        if self.minutes is None or self.mem_mb is None:
            return {}
        return {
            "runtime": max(MIN_RUNTIME, math.ceil(SAFETY_FACTOR * self.minutes)),
            "mem_mb": math.ceil(SAFETY_FACTOR * self.mem_mb / MEM_STEP_MB) * MEM_STEP_MB,
        }


NOT_MEASURED = Estimate(why="not measured")


def _minutes(parts: Mapping[str, float], mem_bytes: float) -> Estimate:
    """An estimate from seconds per part and the data bytes held in host memory."""
    minutes = {k: v / 60 for k, v in parts.items()}
    return Estimate(sum(minutes.values()), host_mb(mem_bytes), minutes)


def _norm(value):
    return list(value) if isinstance(value, list | tuple) else value


def network_change(cfg: Mapping, measured: Mapping, stage: str) -> str | None:
    """The first network setting of ``stage`` where ``cfg`` differs from the settings the
    rates were measured at (the suite's paper settings), or None."""
    for group, keys in NETWORKS[stage].items():
        for key in keys:
            if _norm(cfg[group][key]) != _norm(measured[group][key]):
                return (f"{group}.{key} {_norm(cfg[group][key])!r}, measured at "
                        f"{_norm(measured[group][key])!r}")  # fmt: skip
    return None


def _unmeasured(cfg: Mapping, measured: Mapping, stage: str) -> Estimate | None:
    if change := network_change(cfg, measured, stage):
        return Estimate(why=f"not measured: {change}")
    diag = cfg["diagnostics"]
    probes = {"features": False, "actions": diag["probe_every"] > 0,
              "online": diag["replay_probe_windows"] > 0 and cfg["variant"] != "wo_la"}  # fmt: skip
    if diag["enabled"] and probes[stage]:
        return Estimate(why="not measured: diagnostics' probes")
    return None


def features_estimate(cfg: Mapping, measured: Mapping, task: Task, rates: Mapping,
                      transitions: Sequence[int]) -> Estimate:  # fmt: skip
    """`bcvlr pretrain-features` on datasets of ``transitions`` each: its updates."""
    if (none := _unmeasured(cfg, measured, "features")) is not None:
        return none
    fc = cfg["features"]
    seconds = fc["updates"] * stage_rate(rates, task.suite, "features").at(fc["batch_size"])
    frames = [video_frames(n, task) for n in transitions]
    return _minutes({"updates": seconds}, sum(map(sampler_bytes, frames)))


def actions_estimate(cfg: Mapping, measured: Mapping, task: Task, rates: Mapping,
                     transitions: Sequence[int]) -> Estimate:  # fmt: skip
    """`bcvlr pretrain-actions`: f's table once where f is frozen and it fits, then eq. 2's
    updates (plus f's training where the variant trains f through eq. 2)."""
    if (none := _unmeasured(cfg, measured, "actions")) is not None:
        return none
    la = cfg["latent_actions"]
    trains_f = cfg["encoder_training"] == "la" or cfg["variant"] == "wo_lf"
    per_update = stage_rate(rates, task.suite, "actions").at(la["batch_size"])
    if trains_f:
        per_update += (
            la["batch_size"] * la["window"] * f_training_seconds_per_frame(rates, task.suite)
        )
    parts = {"updates": la["updates"] * per_update}
    frames = [video_frames(n, task) for n in transitions]
    mem = sum(map(sampler_bytes, frames))
    if not trains_f and table_fits(cfg, rates, task.suite, sum(frames)):
        parts["f's table"] = sum(frames) * forward_seconds_per_window(rates, task.suite)
        mem += DEFAULT_CHUNK_FRAMES * FRAME_BYTES  # the chunk it is encoding
    return _minutes(parts, mem)


def online_estimate(cfg: Mapping, measured: Mapping, task: Task, rates: Mapping,
                    transitions: int, budget: int, eval_every: int,
                    eval_episodes: int) -> Estimate:  # fmt: skip
    """`bcvlr online` (bcvlr.method.bcvlr.online): the latent-BC warm-up, then per cycle
    its env steps, eq. 3's and eq. 4's updates and p's labels of the videos, and the
    evaluations; or, with offline_labelled (Table 10), the cycles' updates and one evaluation."""
    if (none := _unmeasured(cfg, measured, "online")) is not None:
        return none
    oc = cfg["online"]
    n_envs = oc["num_envs"]
    step = env_step_seconds(rates, task, n_envs)
    evaluation = evaluation_seconds(rates, task, eval_episodes)
    if step is None or evaluation is None:
        return Estimate(why=f"not measured: {task.base_name}'s env steps")
    window = cfg["latent_actions"]["window"] + cfg["departures"]["action_lead"]
    trains_f = cfg["encoder_training"] == "ft" or cfg["variant"] == "wo_lf"
    frames = video_frames(transitions, task)
    table = not trains_f and table_fits(cfg, rates, task.suite, frames)
    labels = table and oc["idm_mode_in_bc"] == "eval"  # eq. 4 gathers p's labels too
    # eq. 4 gathers f(o) from the table on the GPU, or encodes windows sampled from the videos
    bc = stage_rate(rates, task.suite, "bc", sampled=not table).at(oc["bc_batch_size"])
    ft = stage_rate(rates, task.suite, "finetune").at(oc["ft_batch_size"])
    if oc["offline_labelled"]:
        # each labelled batch keeps the windows among the first offline_labelled transitions,
        # drawn from the chunks that hold them (online.labelled_sampler): ~their transitions /
        # offline_labelled sampler batches, each at the loader's cost
        held = min(transitions, math.ceil(oc["offline_labelled"] / DEFAULT_CHUNK_FRAMES)
                   * DEFAULT_CHUNK_FRAMES)  # fmt: skip
        draws = math.ceil(held / oc["offline_labelled"])
        synthetic = stage_rate(rates, task.suite, "finetune", sampled=False)
        ft += (draws - 1) * (ft - synthetic.at(oc["ft_batch_size"]))
    if trains_f:
        ft += oc["ft_batch_size"] * window * f_training_seconds_per_frame(rates, task.suite)
    warmup = cfg["variant"] != "wo_la"
    if oc["offline_labelled"]:
        cycles = math.ceil(budget / (oc["cycle_steps"] * n_envs * task.action_repeat))
        ft_updates = cycles * (1 if oc["ft_updates"] is None else oc["ft_updates"])
        steps, evaluations = 0, 1
    else:
        steps = math.ceil(budget / (n_envs * task.action_repeat))  # vectorised steps
        cycles = math.ceil(steps / oc["cycle_steps"])
        per_env = oc["replay_capacity"] // n_envs
        ft_updates = 0
        for cycle in range(1, cycles + 1):
            stored = min(cycle * oc["cycle_steps"], steps, per_env) * n_envs
            ft_updates += (oc["ft_updates"] if oc["ft_updates"] is not None else
                           max(1, math.ceil(oc["ft_epochs"] * stored / oc["ft_batch_size"])))  # fmt: skip
        evaluations = len(eval_points(task, budget, eval_every))
    parts = {
        "BC warm-up": warmup * oc["bc_warmup_updates"] * bc,
        "eq. 3": ft_updates * ft,
        "eq. 4": cycles * oc["bc_updates"] * bc,
        "env steps": steps * step,
        "evaluations": evaluations * evaluation,
    }
    if table:
        row = forward_seconds_per_window(rates, task.suite)
        parts["f's table"] = frames * row
        if labels:  # before the warm-up and each cycle (p changes in eq. 3), where it pays
            from bcvlr.method.bcvlr.online import label_once  # torch: only when estimating

            phases = (warmup * label_once(oc["bc_warmup_updates"], oc["bc_batch_size"], frames)
                      + cycles * label_once(oc["bc_updates"], oc["bc_batch_size"], frames))  # fmt: skip
            parts["p's labels"] = phases * frames * row
    # the videos eq. 4 samples (and the labelled ones of Table 10) and the replay: one frame
    # per entry, frame_stack - 1 more per env (its checkpoint writes that memory, no copy)
    replay = (oc["replay_capacity"] // n_envs + task.frame_stack - 1) * n_envs * FRAME_BYTES
    mem = sampler_bytes(frames) * (2 if oc["offline_labelled"] else 1) + replay
    return _minutes({k: v for k, v in parts.items() if v}, mem)


# -- the plan's jobs ---------------------------------------------------------------------------
@dataclass(frozen=True)
class Job:
    """``count`` jobs of one rule (one per seed) with the same resources and estimate."""

    group: str  # the method entry, or "experts" / "videos"
    rule: str
    where: str  # task, pretraining or dataset
    count: int
    resources: Mapping[str, int]
    estimate: Estimate = NOT_MEASURED

    @property
    def gpus(self) -> int:
        return self.count * self.resources.get("gpu", 0)


class GridCost:
    """Estimates and requests of a plan's jobs; resolved settings are cached. ``rates_of``:
    the plan's entry whose settings ``rates`` were measured at (by default the suite's paper
    settings, those of config/costs.yaml's rates)."""

    def __init__(self, plan: Plan, rates: Mapping | None = None, rates_of: str | None = None):
        self.plan = plan
        self.rates = load_rates() if rates is None else rates
        self.rates_of = rates_of
        self._settings: dict[tuple[str, str], dict] = {}
        self._estimates: dict[tuple[str, str, str], Estimate] = {}

    def settings(self, name: str, task: str) -> dict:
        """The entry's BCV-LR settings on ``task``, as its jobs resolve them."""
        if (name, task) not in self._settings:
            try:
                cfg = method_config(self.plan, name, task)
            except MethodConfigError as e:
                raise ConfigError(f"methods.{name} on {task}: {e}") from None
            self._settings[name, task] = dataclasses.asdict(cfg)
        return self._settings[name, task]

    def measured_settings(self, task: str) -> dict:
        """The settings the rates were measured at: ``rates_of``'s, else the suite's paper
        settings."""
        if self.rates_of is not None:
            return self.settings(self.rates_of, task)
        from bcvlr.config import load_config
        from bcvlr.method import bcvlr

        key = ("", task)
        if key not in self._settings:
            cfg = load_config(bcvlr.Config, base=bcvlr.default_config(get_task(task)))
            self._settings[key] = dataclasses.asdict(cfg)
        return self._settings[key]

    def transitions(self, task: str, steps: int | None) -> int:
        """Transitions of a task's video dataset (``steps``: a smaller one's)."""
        if steps:
            return int(steps)
        steps = per_task((self.plan.config.get("videos") or {}).get("steps"), task)
        if steps is None:  # collect-videos' default (LAPO's data size for imported Procgen)
            from bcvlr.experts.collect import DEFAULT_STEPS

            steps = DEFAULT_STEPS[get_task(task).suite]
        return int(steps)

    def estimate(self, name: str, stage: str, where: str) -> Estimate:
        """A job of entry ``name``: ``stage`` (features / actions: ``where`` is the pretraining,
        a task or MULTITASK; online: the task) or any other method's run on task ``where``."""
        key = (name, stage, where)
        if key not in self._estimates:
            self._estimates[key] = self._estimate(name, stage, where)
        return self._estimates[key]

    def _estimate(self, name: str, stage: str, where: str) -> Estimate:
        plan, m = self.plan, self.plan.method(name)
        if not m.is_bcvlr or stage not in STAGES:
            return NOT_MEASURED
        if stage == "online":
            task = get_task(where)
            cfg = self.settings(name, where)
            budget = m.per_task("budget", where)
            budget = budget if budget is not None else cfg["budget"] or task.budget
            every = m.per_task("eval_every", where) or task.eval.every
            episodes = m.per_task("eval_episodes", where) or task.eval.episodes
            return online_estimate(cfg, self.measured_settings(where), task, self.rates,
                                   self.transitions(where, m.videos_steps(where)), budget, every,
                                   episodes)  # fmt: skip
        settings_task = pretraining_task(plan, name, where)
        videos = [self.transitions(t, n) for t, n in pretraining_videos(plan, name, where)]
        fn = features_estimate if stage == "features" else actions_estimate
        return fn(self.settings(name, settings_task), self.measured_settings(settings_task),
                  get_task(settings_task), self.rates, videos)  # fmt: skip

    def bcvlr_resources(self, name: str, stage: str, where: str) -> dict[str, int]:
        """A BCV-LR stage job's resources: the config's where it gives them, else, for a job
        on a GPU (the rates are a GPU's), its estimate's request
        (bcvlr.workflow.args.resources)."""
        task = where if stage == "online" else pretraining_task(self.plan, name, where)
        section = self.plan.method(name).entry.get("resources")
        configured = resources(self.plan, section, task)
        if not configured.get("gpu"):
            return configured
        return resources(self.plan, section, task,
                         estimate=self.estimate(name, stage, where).request())  # fmt: skip

    def jobs(self) -> list[Job]:
        """Every job of the plan that may ask for a GPU, as the rules make them."""
        from bcvlr.workflow.args import bcvlr_variant

        plan, jobs = self.plan, []
        for name in plan.available:
            m, seeds = plan.method(name), len(plan.seeds(name))
            if not m.is_bcvlr:
                section = m.entry.get("resources")
                jobs += [Job(name, "run", t, seeds, resources(plan, section, t))
                         for t in plan.tasks(name)]  # fmt: skip
                continue
            stages = []
            for p in dict.fromkeys(pretraining_of(plan, name, t) for t in plan.tasks(name)):
                variant = bcvlr_variant(plan, name, pretraining_task(plan, name, p))
                # w/o lf has no feature stage, w/o la no latent-action stage
                stages += [(s, p) for s, skip in (("features", "wo_lf"), ("actions", "wo_la"))
                           if variant != skip]  # fmt: skip
            stages += [("online", t) for t in plan.tasks(name)]
            jobs += [Job(name, f"bcvlr_{s}", w, seeds, self.bcvlr_resources(name, s, w),
                         self.estimate(name, s, w)) for s, w in stages]  # fmt: skip
        experts = (plan.config.get("experts") or {}).get("resources")
        videos = (plan.config.get("videos") or {}).get("resources")
        imported = plan.imported_video_tasks()
        for t in plan.video_tasks():
            if t in imported:  # copied from LAPO's data, on the CPU
                continue
            if plan.expert_kind(t) != "scripted":  # scripted experts: CPU jobs
                jobs.append(Job("experts", "expert", t, 1, resources(plan, experts, t)))
            jobs.append(Job("videos", "videos", t, 1, resources(plan, videos, t)))
        jobs += [Job("videos", "videos_amount", f"{t}-{n}", 1, resources(plan, videos, t))
                 for t, n in plan.video_amounts()]  # fmt: skip
        return jobs

    def table(self) -> str:
        return format_table(cost_rows(self.jobs(), self.plan.available), self.rates)


# -- the table ---------------------------------------------------------------------------------
@dataclass
class Row:
    group: str
    jobs: int = 0  # GPU jobs
    estimated: float = 0.0  # GPU-hours of the jobs with an estimate
    unmeasured: int = 0  # GPU jobs without one
    requested: float = 0.0  # GPU-hours asked for

    def add(self, other: Row) -> None:
        self.jobs += other.jobs
        self.estimated += other.estimated
        self.unmeasured += other.unmeasured
        self.requested += other.requested


def cost_rows(jobs: Sequence[Job], methods: Sequence[str]) -> list[Row]:
    """One row per method (in ``methods``' order), then the shared experts and videos."""
    rows = {g: Row(g) for g in [*methods, "experts", "videos"]}
    for job in jobs:
        if not job.gpus:
            continue
        row = rows[job.group]
        row.jobs += job.count
        row.requested += job.gpus * job.resources["runtime"] / 60
        if job.estimate.measured:
            row.estimated += job.gpus * job.estimate.minutes / 60
        else:
            row.unmeasured += job.count
    return list(rows.values())


def _estimated(row: Row) -> str:
    if not row.jobs:
        return "-"
    if row.unmeasured == row.jobs:
        return "not measured"
    if row.unmeasured:
        return f"{row.estimated:.1f} + {row.unmeasured} jobs not measured"
    return f"{row.estimated:.1f}"


def format_table(rows: Sequence[Row], rates: Mapping[str, Any]) -> str:
    """Per method and in total: GPU jobs, estimated and requested GPU-hours; then how the
    requests are sized and where the rates come from."""
    total = Row("total")
    for row in rows:
        total.add(row)
    if not total.jobs:
        return "GPU cost: no job of this config asks for a GPU."
    shown = [r for r in rows if r.jobs or r.group not in ("experts", "videos")]
    labels = {"experts": "experts (shared)", "videos": "videos (shared)"}
    body = [(labels.get(r.group, r.group), str(r.jobs), _estimated(r),
             f"{r.requested:.1f}" if r.jobs else "-") for r in [*shown, total]]  # fmt: skip
    head = ("method", "GPU jobs", "estimated GPU-h", "requested GPU-h")
    widths = [max(len(line[i]) for line in [head, *body]) for i in range(4)]

    def line(cells) -> str:
        return "  " + "  ".join(c.ljust(w) if i in (0, 2) else c.rjust(w)
                                for i, (c, w) in enumerate(zip(cells, widths, strict=True))).rstrip()  # fmt: skip

    ratios = ", ".join(f"{stage} {ratio:.2f}" for stage in ("features", "actions")
                       if (ratio := loader_ratio(rates, stage)) is not None)  # fmt: skip
    sources = "; ".join(f"{k}: {v['device']}, {v['date']}, {' '.join(str(v['source']).split())}"
                        for k, v in rates["measurements"].items())  # fmt: skip
    notes = [
        "Estimated: BCV-LR's stage jobs, from each stage's updates/s measured per suite, scaled "
        "by batch size: the real loader's rate where measured (Metaworld's pretraining), else "
        "the synthetic rate x the real/synthetic ratio of the stage that samples alike "
        f"({ratios}; not for eq. 4 from f's table); online also env steps and evaluations at "
        "the measured CPU step costs, and f's table and p's labels bounded by eq. 4's rate. "
        "Not measured: every other job, which asks for what its config gives.",
        "Requested: a BCV-LR GPU job's runtime from its config where given, else its "
        f"estimate x {SAFETY_FACTOR} (safety factor), rounded up, at least {MIN_RUNTIME} "
        f"min; mem_mb likewise from its host-memory estimate (data + {HOST_OVERHEAD_MB} MiB).",
        f"Rates (config/costs.yaml): {sources}.",
    ]
    wrapped = [textwrap.fill(n, 96, initial_indent="  ", subsequent_indent="    ") for n in notes]
    return "\n".join(["GPU cost of this grid (docs/workflow.md, \"What the grid costs\"):",
                      line(head), *map(line, body), *wrapped])  # fmt: skip
