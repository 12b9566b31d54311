"""What the grid costs (bcvlr/workflow/cost.py): BCV-LR's stage jobs estimated from the
measured rates of config/costs.yaml and sized from their estimates; every other job "not
measured"; the table `snakemake -n` prints."""

import math

import pytest

from bcvlr import workflow as wf
from bcvlr.workflow import cost
from bcvlr.workflow.cost import Estimate, GridCost, Row
from tests.workflow.helpers import REPO

RATES = cost.load_rates()
GPU = {"cpus": 8, "gpu": 1}


def _cost(methods: dict, tasks=("metaworld_drawer_open",), **extra) -> GridCost:
    config = {"name": "t", "tasks": list(tasks), "seeds": [0, 1], "methods": methods, **extra}
    wf.check_config(config)
    return GridCost(wf.Plan(config))


# -- the rates --------------------------------------------------------------------------------
def test_the_rates_are_the_measured_ones():
    """The numbers the hand-computed cases below use (from the files the sources name)."""
    rates = RATES["stage_rates"]
    assert rates["metaworld"]["features"] == {"batch": 512, "synthetic": 100.47, "real": 45.12}
    assert rates["metaworld"]["actions"] == {"batch": 128, "synthetic": 44.88, "real": 29.82}
    assert rates["dmc"]["actions"] == {"batch": 128, "synthetic": 42.00}
    assert rates["dmc"]["bc"] == {"batch": 128, "synthetic": 205.70}
    assert rates["procgen"]["finetune"]["synthetic"] == 12.89
    assert rates["procgen"]["bc"]["synthetic"] == 79.62
    assert RATES["env_vec_steps_per_s"]["coinrun"] == 36362
    for m in RATES["measurements"].values():
        path = str(m["source"]).split()[0].rstrip(",")
        assert (REPO / path).exists(), path


def test_real_rates_win_and_synthetic_ones_take_the_loader_ratio():
    rates = {"stage_rates": {
        "a": {"features": {"batch": 512, "synthetic": 100.0, "real": 50.0},
              "bc": {"batch": 128, "synthetic": 200.0}},
        "b": {"features": {"batch": 512, "synthetic": 80.0}, "bc": {"batch": 128, "synthetic": 100.0}},
    }}  # fmt: skip
    assert cost.stage_rate(rates, "a", "features") == cost.Rate(1 / 50, 512, "real")
    b = cost.stage_rate(rates, "b", "features")
    assert b.seconds == pytest.approx(1 / 40) and b.basis == "synthetic x 0.50"
    assert b.at(256) == pytest.approx(1 / 80)  # linear in the batch size
    # eq. 4 samples like latent-action pretraining, of which no real rate is measured here
    assert cost.stage_rate(rates, "b", "bc") == cost.Rate(1 / 100, 128, "synthetic")
    assert cost.loader_ratio(rates, "actions") is None


def test_a_request_is_the_estimate_times_the_safety_factor():
    assert Estimate(minutes=18.4, mem_mb=5000).request() == {"runtime": 37, "mem_mb": 10240}
    assert Estimate(minutes=3.0, mem_mb=5000).request()["runtime"] == cost.MIN_RUNTIME
    assert cost.NOT_MEASURED.request() == {}
    assert cost.SAFETY_FACTOR == 2


# -- hand-computed jobs of the paper's settings -------------------------------------------------
def test_metaworld_feature_pretraining_by_hand():
    """50k updates at the real loader's 45.12 updates/s; the 100k-transition videos (400
    episodes of 250 steps: 100,400 frames) in memory."""
    c = _cost({"bcvlr": {"resources": GPU}})
    est = c.estimate("bcvlr", "features", "metaworld_drawer_open")
    assert est.minutes == pytest.approx(50_000 / 45.12 / 60)
    assert est.mem_mb == pytest.approx(100_400 * 3 * 64 * 64 / 2**20 + 4096)
    assert est.request() == {"runtime": 37, "mem_mb": 11264}


def test_dmc_latent_action_pretraining_by_hand():
    """Synthetic 42.00 updates/s x Metaworld's real/synthetic 29.82 / 44.88; f's table of the
    100,200 frames (13 GB, within feature_cache_mb) at most one eq.-4 update per 128 rows."""
    c = _cost({"bcvlr": {"resources": GPU}}, tasks=["finger_spin"])
    est = c.estimate("bcvlr", "actions", "finger_spin")
    updates = 50_000 / (42.00 * 29.82 / 44.88)
    table = 100_200 / (205.70 * 128)
    assert est.parts["updates"] == pytest.approx(updates / 60)
    assert est.minutes == pytest.approx((updates + table) / 60)


def test_procgen_online_stage_by_hand():
    """coinrun: 100k env steps in 64 envs = 1,563 steps, 25 cycles of 64; each 60 eq.-3 and
    500 eq.-4 updates; 60k warm-up updates; 4 evaluations of 64 episodes in 64 envs, each to
    the 1,000-step limit; 8M video frames, no f's table (over feature_cache_mb)."""
    est = _cost({"bcvlr": {"resources": GPU}}, tasks=["coinrun"]).estimate("bcvlr", "online",
                                                                           "coinrun")  # fmt: skip
    actions, features = 29.82 / 44.88, 45.12 / 100.47  # loader ratios
    seconds = {
        "BC warm-up": 60_000 / (79.62 * actions),
        "eq. 3": 25 * 60 / (12.89 * features),
        "eq. 4": 25 * 500 / (79.62 * actions),
        "env steps": 1563 * 64 / 36362,
        "evaluations": 4 * 1000 * 64 / 36362,
    }
    assert est.parts == pytest.approx({k: v / 60 for k, v in seconds.items()})
    replay = 20_000 // 64 * 64 * 3 * 64 * 64  # frame_stack 1
    assert est.mem_mb == pytest.approx(2048 + replay / 2**20 + 4096)


def test_dmc_online_stage_counts_its_labels_and_replay():
    c = _cost({"bcvlr": {"resources": GPU}}, tasks=["finger_spin"])
    est = c.estimate("bcvlr", "online", "finger_spin")
    # 50 cycles of 1,000 policy steps; eq. 3 twice over the replay (1,000k transitions)
    assert est.parts["eq. 4"] == pytest.approx(50 * 1000 / 205.70 / 60)
    ft = sum(math.ceil(2 * 1000 * k / 512) for k in range(1, 51))
    assert est.parts["eq. 3"] == pytest.approx(ft / (29.39 * 45.12 / 100.47) / 60)
    assert est.parts["p's labels"] == pytest.approx(51 * 100_200 / (205.70 * 128) / 60)
    assert est.parts["evaluations"] == pytest.approx(50 * 10 * 500 * 1.73e-3 / 60)
    # the replay keeps one 64x64 RGB frame per entry, 2 more for the oldest entry's stack of 3
    small = _cost({"b": {"base": "bcvlr", "set": ["online.replay_capacity=1000"],
                         "resources": GPU}}, tasks=["finger_spin"])  # fmt: skip
    delta = est.mem_mb - small.estimate("b", "online", "finger_spin").mem_mb
    assert delta == pytest.approx((100_000 - 1000) * 3 * 64 * 64 / 2**20)


def test_table_9s_short_phases_label_each_batch_not_the_videos():
    """2 BC updates of 128 windows a cycle read fewer windows than the videos hold: p labels
    each batch (online.label_once), so only the warm-up labels all 100,200 once."""
    c = _cost({"b": {"base": "bcvlr", "set": ["online.cycle_steps=2", "online.ft_updates=1",
                                               "online.bc_updates=2"], "resources": GPU}},
              tasks=["finger_spin"])  # fmt: skip
    est = c.estimate("b", "online", "finger_spin")
    assert est.parts["p's labels"] == pytest.approx(100_200 / (205.70 * 128) / 60)


def test_offline_decoding_draws_its_labelled_windows():
    """Table 10 on reacher_hard: 50 cycles of 100 eq.-3 updates on windows among the first 10k
    of 100k transitions, drawn from the two 8,192-frame chunks that hold them (2 sampler
    batches each, 1 beyond the measured update), one evaluation, no env steps."""
    c = _cost({"b": {"base": "bcvlr", "set": ["online.offline_labelled=10000"], "resources": GPU}},
              tasks=["reacher_hard"])  # fmt: skip
    est = c.estimate("b", "online", "reacher_hard")
    sampled, synthetic = 1 / (29.39 * 45.12 / 100.47), 1 / 29.39
    assert est.parts["eq. 3"] == pytest.approx(5000 * (sampled + 1 * (sampled - synthetic)) / 60)
    assert est.parts["evaluations"] == pytest.approx(10 * 500 * 1.64e-3 / 60)
    assert "env steps" not in est.parts


# -- an entry's overrides -------------------------------------------------------------------
def test_set_budget_videos_steps_and_variants_are_respected():
    base = {"resources": GPU, "tasks": ["finger_spin"]}
    c = _cost({"bcvlr": base,
               "b_half": {**base, "base": "bcvlr", "set": ["features.updates=25000"]},
               "b_batch": {**base, "base": "bcvlr", "set": ["features.batch_size=256"]},
               "b_budget": {**base, "base": "bcvlr", "budget": 50_000},
               "b_videos": {**base, "base": "bcvlr", "videos_steps": 20_000},
               "b_wo_la": {**base, "base": "bcvlr", "set": ["variant=wo_la"]},
               "b_wo_lf": {**base, "base": "bcvlr", "set": ["variant=wo_lf"]}},
              tasks=["finger_spin"])  # fmt: skip
    full = c.estimate("bcvlr", "features", "finger_spin")
    for half in ("b_half", "b_batch"):
        assert c.estimate(half, "features", "finger_spin").minutes == pytest.approx(
            full.minutes / 2
        )
    online = c.estimate("bcvlr", "online", "finger_spin")
    assert c.estimate("b_budget", "online", "finger_spin").parts["eq. 4"] == pytest.approx(
        online.parts["eq. 4"] / 2
    )
    assert c.estimate("b_videos", "features", "finger_spin").mem_mb < full.mem_mb
    assert "BC warm-up" not in c.estimate("b_wo_la", "online", "finger_spin").parts
    # w/o lf trains f through eq. 2: bounded by a feature update per frame, no f's table
    wo_lf = c.estimate("b_wo_lf", "actions", "finger_spin")
    assert "f's table" not in wo_lf.parts
    assert wo_lf.minutes > c.estimate("bcvlr", "actions", "finger_spin").minutes
    rules = {(j.group, j.rule) for j in c.jobs()}
    assert ("b_wo_la", "bcvlr_actions") not in rules and ("b_wo_la", "bcvlr_features") in rules
    assert ("b_wo_lf", "bcvlr_features") not in rules and ("b_wo_lf", "bcvlr_actions") in rules


def test_multitask_pretraining_holds_every_dataset():
    c = _cost({"bcvlr": {"resources": GPU, "pretrain_tasks": ["finger_spin", "reacher_hard"]}},
              tasks=["finger_spin", "reacher_hard"])  # fmt: skip
    one = _cost({"bcvlr": {"resources": GPU}}, tasks=["finger_spin"])
    multi = c.estimate("bcvlr", "features", wf.MULTITASK)
    single = one.estimate("bcvlr", "features", "finger_spin")
    assert multi.minutes == pytest.approx(single.minutes)  # the same updates
    assert multi.mem_mb - 4096 == pytest.approx(2 * (single.mem_mb - 4096), rel=1e-3)


def test_the_config_wins_and_unmeasured_jobs_keep_their_request():
    c = _cost({"bcvlr": {"resources": {**GPU, "runtime": 999, "suites": {"dmc": {"mem_mb": 7}}}},
               "mini": {"base": "bcvlr", "config": "config/bcvlr/mini.yaml", "resources": GPU},
               "cpu": {"base": "bcvlr"},
               "bco": {"resources": {**GPU, "runtime": 1440}}},
              tasks=["finger_spin", "metaworld_drawer_open"])  # fmt: skip
    mw = c.bcvlr_resources("bcvlr", "features", "metaworld_drawer_open")
    assert mw["runtime"] == 999 and mw["mem_mb"] == 11264  # given runtime, estimated memory
    assert c.bcvlr_resources("bcvlr", "online", "finger_spin")["mem_mb"] == 7
    # other network sizes than the measured ones: not measured, the configured request
    mini = c.estimate("mini", "features", "finger_spin")
    assert not mini.measured and "features.channels 16, measured at 32" in mini.why
    assert c.bcvlr_resources("mini", "features", "finger_spin")["runtime"] == 60
    # a CPU job is not sized from a GPU's rates
    assert c.bcvlr_resources("cpu", "online", "finger_spin") == wf.DEFAULT_RESOURCES
    assert not c.estimate("bco", "run", "finger_spin").measured


def test_rates_measured_at_an_entrys_settings_price_that_entry():
    """benchmarks/bcvlr.py measures rates at a config of its own (e.g. mini) and prices that
    config's run with them: its jobs are measured, not refused for their sizes."""
    config = {"name": "t", "tasks": ["finger_spin"], "seeds": [0],
              "methods": {"mini": {"base": "bcvlr", "config": "config/bcvlr/mini.yaml"}}}  # fmt: skip
    wf.check_config(config)
    c = GridCost(wf.Plan(config), RATES, rates_of="mini")
    assert c.measured_settings("finger_spin") == c.settings("mini", "finger_spin")
    est = c.estimate("mini", "features", "finger_spin")
    fc = c.settings("mini", "finger_spin")["features"]
    seconds = cost.stage_rate(RATES, "dmc", "features").at(fc["batch_size"])
    assert est.measured and est.minutes == pytest.approx(fc["updates"] * seconds / 60)


# -- the paper's grid ---------------------------------------------------------------------------
@pytest.fixture(scope="module")
def paper_cost():
    return GridCost(wf.Plan(wf.load_config_file(REPO / "config/paper.yaml")))


def test_every_paper_bcvlr_job_asks_at_most_3x_its_estimate(paper_cost):
    bcvlr_jobs = [j for j in paper_cost.jobs() if j.rule.startswith("bcvlr_")]
    assert len(bcvlr_jobs) > 100
    for job in bcvlr_jobs:
        est = job.estimate
        assert est.measured, (job, est.why)
        assert 2 * est.minutes <= job.resources["runtime"] <= 3 * est.minutes, job
        assert 2 * est.mem_mb <= job.resources["mem_mb"] <= 3 * est.mem_mb, job
    others = [j for j in paper_cost.jobs() if not j.rule.startswith("bcvlr_")]
    assert others and not any(j.estimate.measured for j in others)


def test_the_paper_table_has_a_line_per_method(paper_cost):
    table = paper_cost.table()
    lines = table.splitlines()
    for name in paper_cost.plan.available:
        (line,) = [x for x in lines if x.split()[:1] == [name]]
        measured = paper_cost.plan.method(name).is_bcvlr
        assert ("not measured" in line) != measured, line
    total = next(x for x in lines if x.split()[:1] == ["total"])
    assert "jobs not measured" in total
    assert "safety factor" in table and "docs/runs/2026-11-27-h200/bench.txt" in table


def test_the_table_sums_gpu_hours_per_method():
    est = Estimate(minutes=30.0, mem_mb=1.0)
    jobs = [cost.Job("a", "bcvlr_online", "t", 5, {"gpu": 1, "runtime": 60}, est),
            cost.Job("a", "bcvlr_features", "t", 5, {"gpu": 1, "runtime": 60}),
            cost.Job("b", "run", "t", 3, {"gpu": 2, "runtime": 30}),
            cost.Job("b", "run", "u", 3, {"gpu": 0, "runtime": 600}),
            cost.Job("videos", "videos", "t", 1, {"gpu": 1, "runtime": 120})]  # fmt: skip
    rows = cost.cost_rows(jobs, ["a", "b"])
    assert rows == [Row("a", 10, 2.5, 5, 10.0), Row("b", 3, 0.0, 3, 3.0), Row("experts"),
                    Row("videos", 1, 0.0, 1, 2.0)]  # fmt: skip
    text = cost.format_table(rows, RATES)
    assert "  a  " in text and "2.5 + 5 jobs not measured" in text
    assert "experts" not in text.split("Estimated:")[0]  # no GPU job: no line
    assert [x.split()[-1] for x in text.splitlines() if x.split()[:1] == ["total"]] == ["15.0"]
    assert cost.format_table([Row("a")], RATES) == "GPU cost: no job of this config asks for a GPU."
