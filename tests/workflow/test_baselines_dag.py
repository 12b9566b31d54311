"""config/test_baselines.yaml end to end on this machine: every baseline of the paper through
its own Snakemake rule (expert -> videos -> run -> aggregate -> report), tiny budgets. About
2 minutes on 2 cores."""

import json
import time

import pandas as pd
import pytest
import yaml

from bcvlr.methods import METHODS
from tests.workflow.helpers import REPO, snakemake

CONFIG = REPO / "config/test_baselines.yaml"


@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
    wd = tmp_path_factory.mktemp("baselines")
    t0 = time.time()
    snakemake(wd, "--configfile", str(CONFIG), "--cores", "2", timeout=1200)
    print(f"config/test_baselines.yaml end to end, locally: {time.time() - t0:.0f} s")
    return wd


def planned_runs() -> set[tuple[str, str]]:
    """(method, task) pairs the config asks for: each method's own tasks, else the config's."""
    cfg = yaml.safe_load(CONFIG.read_text())
    return {(m, t) for m, entry in cfg["methods"].items() for t in entry.get("tasks", cfg["tasks"])}


def test_the_config_names_every_baseline():
    baselines = set(METHODS) - {"bcvlr"}
    assert baselines <= set(yaml.safe_load(CONFIG.read_text())["methods"])


def test_every_baseline_runs_through_its_rule(workdir):
    agg = pd.read_csv(workdir / "results/aggregate.csv")
    assert set(zip(agg.method, agg.task, strict=True)) == planned_runs()
    assert agg.reduced_budget.all() and agg.score.notna().all()
    for method, task in planned_runs():
        run = workdir / "results/runs" / method / task / "seed0"
        info = json.loads((run / "run.json").read_text())
        assert info["status"] == "complete", (method, task)
        assert info["provenance"]["git_commit"] and info["config"], (method, task)
        assert (workdir / f"results/done/runs/{method}/{task}/seed0.json").exists()
        # each method has its own rule, with its log and benchmark
        assert (workdir / f"logs/run/{method}/{task}/seed0.log").exists(), (method, task)
    # the Procgen videos come from the PPO expert the workflow trained, the others scripted
    assert (
        json.loads((workdir / "experts/starpilot/seed0/expert.json").read_text())["kind"] == "ppo"
    )
    assert (workdir / "results/report/README.md").exists()
