"""config/test.yaml end to end on this machine, a method added through the config alone, and
a kill of Snakemake and its running job followed by a rerun."""

import json
import subprocess
import time

import pandas as pd
import pytest
import yaml

from tests.workflow.helpers import env, kill_tree, snakemake, snakemake_cmd

# A throwaway method, outside the package: one module + one config entry (`module:`), no
# record in bcvlr/methods.py (docs/adding-a-method.md, "Before the record").
THROWAWAY = """
from dataclasses import dataclass

import numpy as np

SUITES = ("procgen", "dmc", "metaworld")
NEEDS_VIDEOS = True


@dataclass
class Config:
    budget: int | None = None
    action: float = 0.0


def default_config(task):
    return {}


def run(task, seed, cfg, harness, videos=None):
    assert videos is not None and videos.manifest["task"] == task.name
    harness.start()
    act = lambda obs: np.full((len(obs), task.action_space.size), cfg.action, np.float32)
    harness.evaluate(act, step=harness.budget // task.action_repeat, frames=harness.budget)
    harness.finish()
"""


@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
    """One local run of config/test.yaml plus the throwaway method (~1.5 min on 2 cores)."""
    wd = tmp_path_factory.mktemp("workflow")
    (wd / "pkg").mkdir()
    (wd / "pkg" / "throwaway_method.py").write_text(THROWAWAY)
    extra = wd / "throwaway.yaml"
    extra.write_text(yaml.safe_dump({"methods": {"throwaway": {
        "module": "throwaway_method", "videos": True, "budget": 200, "eval_episodes": 1,
        "set": ["action=0.5"]}}}))  # fmt: skip
    t0 = time.time()
    snakemake(wd, "--configfile", "config/test.yaml", str(extra), "--cores", "2",
              PYTHONPATH=str(wd / "pkg"))  # fmt: skip
    print(f"config/test.yaml end to end, locally: {time.time() - t0:.0f} s")
    return wd


def _run(wd, method):
    return json.loads((wd / "results/runs" / method / "metaworld_reach/seed0/run.json").read_text())


def test_local_end_to_end(workdir):
    wd = workdir
    for method in ("bcvlr", "random", "throwaway"):
        assert _run(wd, method)["status"] == "complete"
        assert (wd / f"results/done/runs/{method}/metaworld_reach/seed0.json").exists()
    # the flow: expert -> videos -> three BCV-LR stages, each with its log and benchmark
    assert (
        json.loads((wd / "experts/metaworld_reach/seed0/expert.json").read_text())["kind"]
        == "scripted"
    )
    assert json.loads((wd / "data/videos/metaworld_reach/manifest.json").read_text())["complete"]
    for stage in ("features/features.pt", "latent_actions/latent_actions.pt"):
        assert (wd / "results/runs/bcvlr/metaworld_reach/seed0/pretrain" / stage).exists()
    for rule in ("expert", "videos", "bcvlr_features", "bcvlr_actions", "bcvlr_online", "run"):
        assert list((wd / "logs" / rule).rglob("*.log")), rule
        assert list((wd / "results/benchmarks" / rule).rglob("*.tsv")), rule
    agg = pd.read_csv(wd / "results/aggregate.csv")
    assert set(agg.method) == {"bcvlr", "random", "throwaway"}
    assert agg.reduced_budget.all()
    every_run = pd.read_csv(wd / "results/report/tables/runs.csv")
    assert set(every_run.method) == {"bcvlr", "random", "throwaway"}
    readme = (wd / "results/report/README.md").read_text()
    assert "Table 6" in readme
    assert "BCV-LR" in (wd / "results/report/tables/table6.md").read_text()
    # everything is up to date: a rerun has nothing to do
    r = snakemake(wd, "-n", "--configfile", "config/test.yaml", str(wd / "throwaway.yaml"),
                  PYTHONPATH=str(wd / "pkg"))  # fmt: skip
    assert "Nothing to be done" in r.stdout + r.stderr


def test_a_method_added_by_config_runs_with_videos(workdir):
    info = _run(workdir, "throwaway")
    assert info["config"]["action"] == 0.5
    assert "--videos" in info["provenance"]["argv"]
    assert (workdir / "logs/run/throwaway/metaworld_reach/seed0.log").exists()


def test_kill_snakemake_and_its_job_then_rerun(workdir):
    """Kill -9 Snakemake and the running BCV-LR online job after a checkpoint; the rerun
    resumes it, and the results hold every evaluation exactly once."""
    wd = workdir
    longer = wd / "longer.yaml"  # a new budget: the online stage (only) must run again
    longer.write_text(yaml.safe_dump({"methods": {
        "bcvlr": {"budget": 600, "eval_every": 200},
        "throwaway": {"module": "throwaway_method", "videos": True, "budget": 200, "eval_episodes": 1,
                      "set": ["action=0.5"]}}}))  # fmt: skip
    args = ("--configfile", "config/test.yaml", str(longer), "--cores", "2")
    run_json = wd / "results/runs/bcvlr/metaworld_reach/seed0/run.json"
    proc = subprocess.Popen(snakemake_cmd(wd, *args), env=env(PYTHONPATH=str(wd / "pkg")),
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
    deadline = time.time() + 300
    while time.time() < deadline:
        try:
            info = json.loads(run_json.read_text())
        except (FileNotFoundError, ValueError):
            info = {}
        if info.get("budget") == 600 and (info.get("last_checkpoint") or {}).get("step", 0) > 0:
            break
        assert proc.poll() is None, "snakemake ended before it could be killed"
        time.sleep(0.3)
    else:
        pytest.fail("no checkpoint within 300 s")
    kill_tree(proc)
    assert json.loads(run_json.read_text())["status"] == "running"
    assert not (wd / "results/done/runs/bcvlr/metaworld_reach/seed0.json").exists()

    snakemake(wd, "--unlock", *args[:3])  # a killed Snakemake leaves its lock behind
    snakemake(wd, *args, PYTHONPATH=str(wd / "pkg"))
    info = json.loads(run_json.read_text())
    assert info["status"] == "complete" and info["budget"] == 600
    assert len(info["resumes"]) == 1  # resumed from the checkpoint, not started again
    metrics = pd.read_csv(run_json.parent / "metrics.csv")
    assert not metrics.duplicated(["step", "metric"]).any()
    evals = metrics[metrics.metric == "eval/success"]
    assert sorted(evals.frames) == [200, 400, 600]
    agg = pd.read_csv(wd / "results/aggregate.csv")
    bcvlr = agg[agg.method == "bcvlr"]
    assert len(bcvlr) == len(bcvlr.drop_duplicates(["seed", "at"])) and set(bcvlr.budget) == {600}
