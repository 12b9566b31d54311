# Config check, paths and the helpers the rules share. The logic lives in bcvlr/workflow.py
# (tested there); this file only binds it to the workflow.
import os
import re

from snakemake.exceptions import WorkflowError
from snakemake.logging import logger
from snakemake.utils import validate

from bcvlr import workflow as wf
from bcvlr.methods import EXTRA_METHODS_ENV
from bcvlr.report.main import static_outputs

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
    # Printed by `snakemake -n` too: which methods run, and which are listed but skipped.
    logger.info(PLAN.summary())


def _alternatives(names):
    """A wildcard regex matching exactly these names (never matching when there are none)."""
    names = sorted(set(names))
    return "|".join(map(re.escape, names)) if names else "(?!)"


BCVLR_METHODS = [m for m in PLAN.available if PLAN.method(m).is_bcvlr]
OTHER_METHODS = [m for m in PLAN.available if not PLAN.method(m).is_bcvlr]


# -- products (resumable folders) and their markers (the rules' outputs) -----------------------
def expert_dir(task):
    return f"{P['experts']}/{task}/seed{EXPERT_SEED}"


def videos_dir(task):
    return f"{P['videos']}/{task}"


def run_dir(method, task, seed):
    return f"{P['runs']}/{method}/{task}/seed{seed}"


def stage_dir(method, task, seed, stage):
    return f"{run_dir(method, task, seed)}/pretrain/{stage}"


def run_done(method, task, seed):
    return f"{DONE}/runs/{method}/{task}/seed{seed}.json"


def videos_done(task):
    return f"{DONE}/videos/{task}.json"


# -- resources: config defaults <- the rule's section <- per suite/task ------------------------
def res(section, fallback=None):
    """Resource callables for a rule whose resources come from a config section."""

    def get(key):
        return lambda w: wf.resources(PLAN, section(w), getattr(w, "task", None), fallback)[key]

    return get


def method_section(w):
    return PLAN.method(w.method).entry.get("resources")


# -- inputs of the BCV-LR stages (bcvlr.smk) and the other methods (baselines.smk) ---------
def _stage_marker(stage, w):
    return f"{DONE}/pretrain-{stage}/{w.method}/{w.task}/seed{w.seed}.json"


def _stage_inputs(w):
    return {"videos": videos_done(w.task)}


def _actions_inputs(w):
    # w/o lf: latent actions learnt on raw frames, no feature stage
    inputs = {"videos": videos_done(w.task)}
    if wf.bcvlr_variant(PLAN, w.method, w.task) != "wo_lf":
        inputs["features"] = _stage_marker("features", w)
    return inputs


def _online_inputs(w):
    # The online stage loads the latent-action model (which holds its encoder), or, w/o la,
    # the features alone.
    inputs = {"videos": videos_done(w.task)}
    if wf.bcvlr_variant(PLAN, w.method, w.task) == "wo_la":
        inputs["features"] = _stage_marker("features", w)
    else:
        inputs["latent_actions"] = _stage_marker("actions", w)
    return inputs


def _artifact_args(w, input):
    """--features / --latent-actions: the stage artifacts behind the markers in input."""
    args = []
    if "features" in input.keys():
        args += ["--features", os.path.join(stage_dir(w.method, w.task, w.seed, "features"), "features.pt")]
    if "latent_actions" in input.keys():
        path = os.path.join(stage_dir(w.method, w.task, w.seed, "latent_actions"), "latent_actions.pt")
        args += ["--latent-actions", path]
    return " ".join(args)


def _run_inputs(w):
    return {"videos": videos_done(w.task)} if PLAN.method(w.method).videos else {}


# -- targets -----------------------------------------------------------------------------------
def all_runs():
    return [run_done(m, t, s) for m in PLAN.available for t, s in PLAN.grid(m)]


def report_outputs():
    return [str(p) for p in static_outputs(P["report"])]
