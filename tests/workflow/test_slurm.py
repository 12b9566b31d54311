"""The SLURM path on a single-node cluster on this machine (scripts/slurm-local.sh, with a
fake GPU): `snakemake --profile slurm` end to end, and `bcvlr run --slurm` (submitit).

Skipped, with the reason, where the cluster cannot be started (no root to apt-get install
slurm, or no SLURM packages to be had)."""

import json
import os
import shutil
import subprocess
import sys
import time

import pytest

from tests.workflow.helpers import REPO, env, snakemake

SCRIPT = REPO / "scripts" / "slurm-local.sh"


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    if shutil.which("slurmctld") is None and os.geteuid() != 0:
        pytest.skip("SLURM is not installed and installing it needs root (apt-get)")
    state = tmp_path_factory.mktemp("slurm")
    # ports of our own, so that a cluster someone else runs here is left alone
    # OMP_NUM_THREADS=1, as the README has users export: the node must still get every CPU
    cluster_env = env(SLURM_LOCAL_DIR=str(state), SLURM_LOCAL_PORT="6917", OMP_NUM_THREADS="1")
    r = subprocess.run(["bash", str(SCRIPT), "start"], env=cluster_env, capture_output=True,
                       text=True, timeout=300)  # fmt: skip
    if r.returncode != 0:
        subprocess.run(["bash", str(SCRIPT), "stop"], env=cluster_env, timeout=120)
        pytest.skip(f"could not start a local SLURM cluster: {r.stderr[-1500:]}")
    yield state
    subprocess.run(["bash", str(SCRIPT), "stop"], env=cluster_env, capture_output=True,
                   timeout=120)  # fmt: skip


def test_profile_slurm_end_to_end(cluster, tmp_path):
    t0 = time.time()
    r = snakemake(
        tmp_path, "--profile", "slurm", "--configfile", "config/test.yaml",
        # test-only: fewer, sooner status checks and fewer SLURM jobs (each one spends ~15 s
        # starting Snakemake), so that this test takes ~2 minutes
        "--slurm-init-seconds-before-status-checks", "2",
        "--groups", "expert_scripted=chain", "videos=chain", "bcvlr_features=chain",
        "bcvlr_actions=chain", "bcvlr_online=chain", "aggregate=summary", "report=summary",
        timeout=900, SLURM_CONF=str(cluster / "slurm.conf"),
    )  # fmt: skip
    print(f"config/test.yaml through SLURM: {time.time() - t0:.0f} s")
    assert "Using profiles slurm" in r.stdout + r.stderr
    # the test config's `random` rule asks for a GPU: SLURM gave its job the (fake) GPU
    jobs = (cluster / "log/jobcomp.txt").read_text().splitlines()
    workflow_jobs = [j for j in jobs if f"WorkDir={tmp_path} " in j]
    assert len(workflow_jobs) == 3  # the chain, random, aggregate + report
    assert all("JobState=COMPLETED" in j for j in workflow_jobs)
    gpus = []
    for line in workflow_jobs:
        job_id = line.split()[0].removeprefix("JobId=")
        show = subprocess.run(["scontrol", "show", "job", job_id], capture_output=True, text=True,
                              env=env(SLURM_CONF=str(cluster / "slurm.conf")))  # fmt: skip
        gpus.append("TresPerJob=gres:gpu:1" in show.stdout)
    assert sum(gpus) == 1
    for method in ("bcvlr", "random"):
        run = tmp_path / "results/runs" / method / "metaworld_reach/seed0/run.json"
        assert json.loads(run.read_text())["status"] == "complete"
    assert (tmp_path / "results/report/README.md").exists()
    assert len((tmp_path / "results/aggregate.csv").read_text().splitlines()) == 1 + 2


def test_bcvlr_run_slurm_submits_one_run(cluster, tmp_path):
    cmd = [sys.executable, "-m", "bcvlr.cli", "run", "--method", "random", "--task",
           "metaworld_reach", "--budget", "200", "--eval-episodes", "1", "--runs-root",
           str(tmp_path / "runs"), "--slurm", "--slurm-gpus", "1", "--slurm-cpus", "1",
           "--slurm-mem-mb", "1500", "--slurm-time", "10", "--slurm-logs",
           str(tmp_path / "submitit"), "--slurm-wait"]  # fmt: skip
    r = subprocess.run(cmd, cwd=REPO, env=env(SLURM_CONF=str(cluster / "slurm.conf")),
                       capture_output=True, text=True,
                       timeout=300)  # fmt: skip
    assert r.returncode == 0, r.stderr[-3000:]
    assert "submitted SLURM job" in r.stdout
    info = json.loads((tmp_path / "runs/random/metaworld_reach/seed0/run.json").read_text())
    assert info["status"] == "complete"
    script = next((tmp_path / "submitit").glob("*_submission.sh")).read_text()
    assert "--gres=gpu:1" in script
    done = "Name=bcvlr-random-metaworld_reach-seed0 JobState=COMPLETED"
    deadline = time.time() + 30  # slurmctld logs the completion a moment after the job ends
    while done not in (cluster / "log/jobcomp.txt").read_text() and time.time() < deadline:
        time.sleep(0.5)
    assert done in (cluster / "log/jobcomp.txt").read_text()
