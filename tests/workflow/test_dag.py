"""The DAG of the paper's grid (main methods and every ablation/appendix variant), and
`snakemake --lint`."""

import re
from collections import Counter

import pytest

from bcvlr import workflow as wf
from tests.workflow.helpers import REPO, job_counts, snakemake

SEEDS = 5


def dry_run_jobs(output: str) -> list[tuple[str, dict[str, str], str]]:
    """(rule, wildcards, shell command) of every job `snakemake -n -p` prints."""
    jobs: list[tuple[str, dict[str, str], str]] = []
    for line in output.splitlines():
        if m := re.match(r"(?:local)?rule (\w+):$", line):
            jobs.append((m.group(1), {}, ""))
        elif jobs and line.startswith("    wildcards: "):
            pairs = line.removeprefix("    wildcards: ").split(", ")
            jobs[-1][1].update(p.split("=", 1) for p in pairs)
        elif jobs and line.startswith("Shell command: "):
            jobs[-1] = (jobs[-1][0], jobs[-1][1], line.removeprefix("Shell command: "))
    return jobs


@pytest.fixture(scope="module")
def paper_dag(tmp_path_factory):
    """One dry run of config/paper.yaml, with its shell commands (its speed: benchmarks/workflow.py)."""
    r = snakemake(tmp_path_factory.mktemp("paper"), "-n", "-p", "--configfile",
                  "config/paper.yaml", timeout=300)  # fmt: skip
    plan = wf.Plan(wf.load_config_file(REPO / "config/paper.yaml"))
    return r, plan, dry_run_jobs(r.stdout)


def _expected_counts(plan: wf.Plan, counts: dict[str, int]) -> Counter:
    """Per rule: the task x seed grid of every available entry (variants included); a BCV-LR
    entry's pretraining per task and seed, or once per seed when it is multi-task."""
    want: Counter = Counter()
    for name in plan.available:
        m = plan.method(name)
        grid = plan.grid(name)
        if not m.is_bcvlr:
            want[name] += len(grid)  # every method has a rule of its own
            continue
        want["bcvlr_online"] += len(grid)
        # one pretraining per task, or one in all (with its first task's settings)
        for task in m.pretrain_tasks[:1] or plan.tasks(name):
            variant = wf.bcvlr_variant(plan, name, task)
            want["bcvlr_features"] += (variant != "wo_lf") * len(plan.seeds(name))
            want["bcvlr_actions"] += (variant != "wo_la") * len(plan.seeds(name))
    return want


def test_paper_dag_is_the_task_seed_method_grid(paper_dag):
    r, plan, jobs = paper_dag
    counts = job_counts(r.stdout)
    total = counts.pop("total")
    want = _expected_counts(plan, counts)
    for rule, n in want.items():
        assert counts.get(rule) == n, rule
    # the 29 tasks' experts and videos, and the smaller datasets of Figure 5
    assert counts["expert"] + counts["expert_scripted"] == counts["videos"] == 29
    assert counts["expert_scripted"] == 4
    assert counts["videos_amount"] == len(plan.video_amounts()) == 6
    assert counts["report"] == counts["aggregate"] == counts["all"] == 1
    assert total == sum(want.values()) + 29 * 2 + 6 + 3
    # the main grid is unchanged by the variants: bcvlr on all 29 tasks
    per_method = Counter(w.get("method") for rule, w, _ in jobs if rule == "bcvlr_online")
    assert per_method["bcvlr"] == 29 * SEEDS
    for rule, wildcards, _ in jobs:  # every available entry's own grid, no more
        if rule in want and rule not in ("bcvlr_features", "bcvlr_actions"):
            assert (wildcards["task"], int(wildcards["seed"])) in plan.grid(wildcards["method"])


def test_unavailable_methods_are_printed_and_run_nothing(paper_dag):
    r, plan, jobs = paper_dag
    methods = {w.get("method") for _, w, _ in jobs}
    # every method of the paper has its module now: then nothing is announced as skipped
    if not plan.unavailable:
        assert "NOT RUN" not in r.stderr + r.stdout
    for m in plan.unavailable:
        assert f"{m}: NOT RUN, disabled in the config" in r.stderr + r.stdout
        assert f"{len(plan.grid(m))} run(s) skipped" in r.stderr + r.stdout
        assert m not in methods
    assert set(plan.available) == methods - {None}


def _commands(jobs, rule, **wildcards):
    return [cmd for r, w, cmd in jobs
            if r == rule and all(w.get(k) == str(v) for k, v in wildcards.items())]  # fmt: skip


def test_multitask_pretraining_is_shared_by_the_online_runs(paper_dag):
    """Table 3: one pretraining per seed on the mixed videos of bigfish, maze and starpilot;
    online runs on those and on the unseen bossfight and dodgeball all load it."""
    _, plan, jobs = paper_dag
    for stage in ("bcvlr_features", "bcvlr_actions"):
        assert {w["pretraining"] for r, w, _ in jobs
                if r == stage and w["method"] == "bcvlr_m"} == {wf.MULTITASK}  # fmt: skip
        assert len(_commands(jobs, stage, method="bcvlr_m")) == SEEDS
    (features,) = _commands(jobs, "bcvlr_features", method="bcvlr_m", seed=0)
    assert "--videos data/videos/bigfish data/videos/maze data/videos/starpilot " in features
    pretrained = "results/runs/bcvlr_m/multitask/seed0/pretrain/latent_actions/latent_actions.pt"
    for task in ("bigfish", "maze", "starpilot", "bossfight", "dodgeball"):
        (online,) = _commands(jobs, "bcvlr_online", method="bcvlr_m", task=task, seed=0)
        assert f"--latent-actions {pretrained} " in online
        assert f"--videos data/videos/{task} " in online  # it clones its own task's videos


def test_video_amounts_feed_every_stage(paper_dag):
    """Figure 5: each amount is its own dataset of the task's expert."""
    _, _, jobs = paper_dag
    (collect,) = _commands(jobs, "videos_amount", task="finger_spin", steps=20000)
    assert "--steps 20000 --out data/videos/finger_spin-20000 " in collect
    for stage in ("bcvlr_features", "bcvlr_actions", "bcvlr_online"):
        where = {"task" if stage == "bcvlr_online" else "pretraining": "finger_spin"}
        (cmd,) = _commands(jobs, stage, method="bcvlr_videos20k", seed=3, **where)
        assert "--videos data/videos/finger_spin-20000 " in cmd


def test_extended_runs_are_recorded_apart_under_the_method_name(paper_dag):
    """Figure 9: bcvlr at 500k frames, recorded as `bcvlr` in a runs root of its own."""
    _, _, jobs = paper_dag
    (cmd,) = _commands(jobs, "bcvlr_online", method="bcvlr_500k", task="walker_walk", seed=1)
    assert "--budget 500000 --method-name bcvlr --runs-root results/runs-500k " in cmd
    assert "--product results/runs-500k/bcvlr/walker_walk/seed1 " in cmd


def dry_run_resources(output: str) -> list[tuple[str, dict[str, str], dict[str, int]]]:
    """(rule, wildcards, resources) of every job `snakemake -n` prints."""
    jobs: list[tuple[str, dict[str, str], dict[str, int]]] = []
    for line in output.splitlines():
        if m := re.match(r"(?:local)?rule (\w+):$", line):
            jobs.append((m.group(1), {}, {}))
        elif jobs and line.startswith("    wildcards: "):
            pairs = line.removeprefix("    wildcards: ").split(", ")
            jobs[-1][1].update(p.split("=", 1) for p in pairs)
        elif jobs and line.startswith("    resources: "):
            pairs = [p.split("=", 1) for p in line.removeprefix("    resources: ").split(", ")]
            jobs[-1][2].update((k, int(v)) for k, v in pairs if v.isdigit())
    return jobs


def test_bcvlr_jobs_ask_for_their_estimate_and_the_table_adds_up(paper_dag):
    """Every BCV-LR stage job of the paper's grid asks for 2-3x its estimate (no runtime or
    mem_mb in its entry); the printed table has a line per method, and its requested GPU-hours
    are the DAG's."""
    r, plan, _ = paper_dag
    cost = wf.GridCost(plan)
    stage = {"bcvlr_features": "features", "bcvlr_actions": "actions", "bcvlr_online": "online"}
    gpu_minutes = gpu_jobs = 0
    for rule, w, res in dry_run_resources(r.stdout):
        gpu_minutes += res.get("gpu", 0) * res.get("runtime", 0)
        gpu_jobs += res.get("gpu", 0) > 0
        if rule in stage:
            est = cost.estimate(w["method"], stage[rule], w.get("pretraining") or w["task"])
            assert 2 * est.minutes <= res["runtime"] <= 3 * est.minutes, (rule, w, res)
            assert 2 * est.mem_mb <= res["mem_mb"] <= 3 * est.mem_mb, (rule, w, res)
    out = r.stdout + r.stderr
    lines = out[out.index("GPU cost of this grid") :].splitlines()
    for name in plan.available:
        assert any(line.split()[:1] == [name] for line in lines), name
    total = next(line for line in lines if line.split()[:1] == ["total"])
    assert float(total.split()[-1]) == pytest.approx(gpu_minutes / 60, abs=0.05)
    assert int(total.split()[1]) == gpu_jobs


def test_every_runs_root_reaches_the_report_and_other_methods_variants(tmp_path):
    cfg = tmp_path / "extra.yaml"
    cfg.write_text(
        "methods:\n"
        "  random_long: {base: random, runs: results/runs-long, budget: 400}\n"
    )  # fmt: skip
    r = snakemake(tmp_path, "-n", "-p", "--configfile", "config/test.yaml", str(cfg))
    jobs = dry_run_jobs(r.stdout)
    (run,) = _commands(jobs, "random_long", method="random_long")
    assert "bcvlr run --method random " in run and "--runs-root results/runs-long " in run
    (report,) = _commands(jobs, "report")
    assert "--runs results/runs --runs results/runs-long " in report


def test_a_camera_variant_gets_its_own_expert_videos_and_runs(tmp_path):
    cfg = tmp_path / "camera.yaml"
    cfg.write_text("tasks: [metaworld_reach, metaworld_reach@behindGripper]\n")
    r = snakemake(tmp_path, "-n", "-p", "--configfile", "config/test.yaml", str(cfg))
    jobs = dry_run_jobs(r.stdout)
    (videos,) = _commands(jobs, "videos", task="metaworld_reach@behindGripper")
    assert "collect-videos --task metaworld_reach@behindGripper " in videos
    assert "--out data/videos/metaworld_reach@behindGripper " in videos
    (run,) = _commands(jobs, "bcvlr_online", task="metaworld_reach@behindGripper")
    assert "--videos data/videos/metaworld_reach@behindGripper " in run
    assert len(_commands(jobs, "bcvlr_online")) == 2


def test_the_default_copies_its_shipped_expert(tmp_path):
    """The embedded default takes reacher_hard's expert from assets/ instead of 45 min of
    training: its expert job copies it (checked for task and kind) into the experts folder."""
    r = snakemake(tmp_path, "-n", "-p")
    (expert,) = _commands(dry_run_jobs(r.stdout), "expert", task="reacher_hard")
    assert "bcvlr train-expert --task reacher_hard " in expert
    assert f"--from {REPO / 'assets/experts/reacher_hard'} " in expert


def test_lint_is_clean(tmp_path):
    for args in ((), ("--configfile", "config/paper.yaml")):
        r = snakemake(tmp_path, "--lint", *args, timeout=120)
        assert "Congratulations, your workflow is in a good condition!" in r.stdout + r.stderr
