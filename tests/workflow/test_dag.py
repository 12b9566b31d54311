"""The DAG of the paper's grid, and `snakemake --lint`."""

import time

from bcvlr import workflow as wf
from bcvlr.methods import METHODS
from bcvlr.tasks import TASKS
from tests.workflow.helpers import job_counts, snakemake


def test_paper_dag_is_the_task_seed_method_grid(tmp_path):
    t0 = time.time()
    r = snakemake(tmp_path, "-n", "--configfile", "config/paper.yaml", timeout=120)
    elapsed = time.time() - t0
    counts = job_counts(r.stdout)
    total = counts.pop("total")
    seeds = 5
    grid = {m: len(wf.PAPER_METHODS[m].tasks) * seeds for m in wf.PAPER_METHODS}
    assert counts["bcvlr_features"] == counts["bcvlr_actions"] == counts["bcvlr_online"]
    assert counts["bcvlr_online"] == grid["bcvlr"] == 29 * seeds
    for m in set(METHODS) - {"bcvlr", "random"}:
        assert counts[m] == grid[m], m
    # one expert and one video dataset per task
    assert counts["expert"] + counts["expert_scripted"] == len(TASKS)
    assert counts["expert_scripted"] == 4 and counts["videos"] == len(TASKS)
    assert counts["report"] == counts["aggregate"] == 1
    # the methods not implemented yet are printed, with what they skip, and run no job
    for m in set(wf.PAPER_METHODS) - set(METHODS):
        assert f"{m}: NOT RUN, not available yet" in r.stderr + r.stdout
        assert f"{grid[m]} run(s) skipped" in r.stderr + r.stdout
        assert m not in counts
    assert total - counts["all"] == (
        sum(grid[m] for m in METHODS if m in grid and m != "bcvlr")
        + 3 * grid["bcvlr"]
        + 2 * len(TASKS)
        + 2
    )
    assert elapsed < 30, f"the paper DAG took {elapsed:.1f} s"


def test_lint_is_clean(tmp_path):
    r = snakemake(tmp_path, "--lint", timeout=120)
    assert "Congratulations, your workflow is in a good condition!" in r.stdout + r.stderr
