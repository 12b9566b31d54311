# Config check, paths and the helpers the rules share. The logic lives in bcvlr/workflow/
# (tested there); this file only binds it to the workflow.
import os
import re

from snakemake.exceptions import WorkflowError
from snakemake.logging import logger
from snakemake.utils import validate

from bcvlr import workflow as wf
from bcvlr.methods import EXTRA_METHODS_ENV
from bcvlr.results.layout import run_path

# Our check first: its messages name the offending key ("methods.drqv2.budget: expected
# integer, got 'x'"); snakemake's validate then fills in the schema's defaults.
try:
    wf.check_config(
        config,
        source=", ".join(map(str, workflow.overwrite_configfiles)) or "config/config.yaml",
    )
except wf.ConfigError as e:
    raise WorkflowError(str(e)) from None
validate(config, "../schemas/config.schema.yaml")

PLAN = wf.Plan(config)
# BCV-LR's stage jobs sized from measured rates (config/costs.yaml; docs/workflow.md, "What
# the grid costs")
COST = wf.GridCost(PLAN)
# the registry's tasks and the Metaworld camera variants the config names
TASK_NAMES = sorted(set(wf.TASKS) | set(config["tasks"]))

# The software of every rule: the project environment, whose `bcvlr` command the rules call.
ENV = "../../environment.yml"
P = PLAN.paths
DONE = P["done"]
LOGS = P["logs"]
BENCH = P["benchmarks"]
EXPERT_SEED = config["experts"]["seed"]

# Methods named by `module:` in the config reach `bcvlr run` through this variable (local
# jobs inherit it; a SLURM job re-parses this file and sets it again).
os.environ[EXTRA_METHODS_ENV] = wf.extra_methods_env(config)

if workflow.is_main_process:
    # Printed by `snakemake -n` too: which methods run, and which are listed but skipped; then
    # the GPU-hours they are estimated at and ask for.
    logger.info(PLAN.summary())
    try:
        logger.info(COST.table())
    except wf.ConfigError as e:
        raise WorkflowError(str(e)) from None


def _alternatives(names):
    """A wildcard regex matching exactly these names (never matching when there are none)."""
    names = sorted(set(names))
    return "|".join(map(re.escape, names)) if names else "(?!)"


BCVLR_METHODS = [m for m in PLAN.available if PLAN.method(m).is_bcvlr]
OTHER_METHODS = [m for m in PLAN.available if not PLAN.method(m).is_bcvlr]


# -- products (resumable folders) and their markers (the rules' outputs) -----------------------
def expert_dir(task):
    return f"{P['experts']}/{task}/seed{EXPERT_SEED}"


def _amount(steps):
    # a smaller dataset of the same expert (videos_steps, Figure 5) sits beside the full one
    return f"-{steps}" if steps else ""


def videos_dir(task, steps=None):
    return f"{P['videos']}/{task}{_amount(steps)}"


def videos_done(task, steps=None):
    return f"{DONE}/videos/{task}{_amount(steps)}.json"


def run_root(method):
    return PLAN.method(method).runs_root(PLAN)


def run_name(method):
    """The name the method's runs are recorded under (report_as, a variant's base)."""
    return PLAN.method(method).run_name


def run_dir(method, task, seed):
    return str(run_path(run_root(method), run_name(method), task, seed))


def stage_dir(method, pretraining, seed, stage):
    # a task's pretraining lives in its run directory, as `bcvlr run --method bcvlr` lays it
    # out; a multi-task one in {method}/multitask/seed{seed}/ beside the tasks' runs
    return f"{run_dir(method, pretraining, seed)}/pretrain/{stage}"


def run_done(method, task, seed):
    return f"{DONE}/runs/{method}/{task}/seed{seed}.json"


# -- resources: config defaults <- the rule's section <- per suite/task ------------------------
def res(section, fallback=None):
    """Resource callables for a rule whose resources come from a config section."""

    def get(key):
        return lambda w: wf.resources(PLAN, section(w), _task_of(w), fallback)[key]

    return get


def bcvlr_res(stage):
    """Resource callables of a BCV-LR stage's rule: the entry's resources, else the job's
    estimate x the safety factor (bcvlr/workflow/cost.py)."""

    def get(key):
        def where(w):
            return w.task if stage == "online" else w.pretraining

        return lambda w: COST.bcvlr_resources(w.method, stage, where(w))[key]

    return get


def _task_of(w):
    """The task whose per-suite/task settings a job takes (a pretraining: its settings task)."""
    if hasattr(w, "pretraining"):
        return wf.pretraining_task(PLAN, w.method, w.pretraining)
    return getattr(w, "task", None)


def method_section(w):
    return PLAN.method(w.method).entry.get("resources")


# -- inputs of the BCV-LR stages (bcvlr.smk) and the other methods (baselines.smk) ---------
# A BCV-LR pretraining stage has a `pretraining` wildcard: a task, or wf.MULTITASK for an
# entry's shared multi-task pretraining (`pretrain_tasks`, Table 3).
def _pretraining(w):
    return w.pretraining if hasattr(w, "pretraining") else wf.pretraining_of(PLAN, w.method, w.task)


def _stage_marker(stage, w):
    return f"{DONE}/pretrain-{stage}/{w.method}/{_pretraining(w)}/seed{w.seed}.json"


def _pretraining_videos(w):
    return wf.pretraining_videos(PLAN, w.method, w.pretraining)


def _stage_inputs(w):
    return {"videos": [videos_done(t, n) for t, n in _pretraining_videos(w)]}


def _stage_videos(w):
    return " ".join(videos_dir(t, n) for t, n in _pretraining_videos(w))


def _variant(w):
    return wf.bcvlr_variant(PLAN, w.method, _task_of(w))


def _actions_inputs(w):
    # w/o lf: latent actions learnt on raw frames, no feature stage
    inputs = _stage_inputs(w)
    if _variant(w) != "wo_lf":
        inputs["features"] = _stage_marker("features", w)
    return inputs


def _online_videos(w):
    return videos_dir(w.task, PLAN.method(w.method).videos_steps(w.task))


def _online_inputs(w):
    # The online stage loads the latent-action model (which holds its encoder), or, w/o la,
    # the features alone; it clones its own task's videos.
    inputs = {"videos": videos_done(w.task, PLAN.method(w.method).videos_steps(w.task))}
    if _variant(w) == "wo_la":
        inputs["features"] = _stage_marker("features", w)
    else:
        inputs["latent_actions"] = _stage_marker("actions", w)
    return inputs


def _artifact_args(w, input):
    """--features / --latent-actions: the stage artifacts behind the markers in input."""
    args = []
    for stage, flag in (("features", "--features"), ("latent_actions", "--latent-actions")):
        if stage in input.keys():
            folder = stage_dir(w.method, _pretraining(w), w.seed, stage)
            args += [flag, os.path.join(folder, f"{stage}.pt")]
    return " ".join(args)


def _run_inputs(w):
    return {"videos": videos_done(w.task)} if PLAN.method(w.method).videos else {}


# -- targets -----------------------------------------------------------------------------------
def all_runs():
    return [run_done(m, t, s) for m in PLAN.available for t, s in PLAN.grid(m)]


def report_outputs():
    # bcvlr.report.specs, not bcvlr.report.main: the latter imports the statistics and
    # plotting stack, seconds on every parse of the Snakefile (each SLURM job's included)
    from bcvlr.report.specs import report_files

    return report_files(P["report"])
