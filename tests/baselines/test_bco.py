"""BCO(alpha) on the real simulators with tiny nets and budgets: the schedule, the method
interface, end to end through the harness on Procgen, DMC and Metaworld, bad videos, and
kill-and-resume through `bcvlr run`. The helpers here serve tests/baselines/test_upesv.py too."""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
from collections import Counter
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from baselines import bco
from bcvlr.config import ConfigError, load_config
from bcvlr.data import TaskMismatchError
from bcvlr.run.harness import Harness
from bcvlr.tasks import get_task
from tests.method.helpers import random_videos
from tests.method.test_bcvlr_e2e import _kill_when

REPO = Path(__file__).resolve().parents[2]
# tiny nets and few updates: these tests check the plumbing, not the learning
TINY = ["idm_updates=3", "bc_updates=3", "batch_size=8", "channels=[4]", "hidden=16",
        "heldout_windows=32", "threads=1"]  # fmt: skip
PROCGEN_ENVS = 4
BUDGETS = {"starpilot": PROCGEN_ENVS * 40, "reacher_easy": 120, "metaworld_reach": 120}


def make_videos(root: Path) -> dict:
    """Small real datasets (random actions) of every task the tests run."""
    return {t: random_videos(t, root / t, steps=60, max_episode=30) for t in BUDGETS}


@pytest.fixture(scope="module")
def videos(tmp_path_factory) -> dict:
    return make_videos(tmp_path_factory.mktemp("videos"))


def tiny_config(module, task_name: str, extra: list[str] = ()) -> object:
    sets = TINY + (["num_envs=4"] if get_task(task_name).suite == "procgen" else []) + list(extra)
    return load_config(module.Config, None, sets, base=module.default_config(task_name))


def run_tiny(module, task_name: str, videos, root: Path, extra: list[str] = ()) -> Path:
    """One tiny run through the harness; returns its run directory."""
    cfg = tiny_config(module, task_name, extra)
    name = module.__name__.split(".")[-1]
    with Harness(name, task_name, 0, config=dataclasses.asdict(cfg), runs_root=root,
                 budget=BUDGETS[task_name], eval_episodes=1, eval_every=10**6,
                 progress=False) as h:  # fmt: skip
        module.run(task_name, 0, cfg, h, videos=videos)
    return h.path


def check_run(run: Path, task_name: str, iterations: int) -> pd.DataFrame:
    """A complete run: every iteration logged once, the labeller's scores, a final eval."""
    task = get_task(task_name)
    info = json.loads((run / "run.json").read_text())
    assert info["status"] == "complete" and info["reduced_budget"]
    m = pd.read_csv(run / "metrics.csv")
    assert not m.duplicated(["step", "metric"]).any()
    assert np.isfinite(m.value).all()
    score = "accuracy" if task.action_space.is_discrete else "r2"
    assert (m.metric == "idm/loss").sum() == iterations
    assert (m.metric == f"idm/train_{score}").sum() == iterations
    # held out: every iteration's fresh transitions but the first (random) phase's
    assert (m.metric == f"idm/heldout_{score}").sum() == iterations - 1
    assert (m.metric == "bc/loss").sum() == iterations
    evals = m[m.metric == "eval/return"]
    assert list(evals.frames) == [m.frames.max()] and m.frames.max() >= BUDGETS[task_name]
    return m


def iterations_of(module, task_name: str) -> int:
    cfg = tiny_config(module, task_name)
    task = get_task(task_name)
    per_step = (cfg.num_envs or task.num_envs) * task.action_repeat
    s = bco.Schedule.of(-(-BUDGETS[task_name] // per_step), cfg)
    return 1 + -(-(s.total - s.pre) // s.per_iteration)


# -- pieces ------------------------------------------------------------------------------------


def test_schedule_spends_the_budget_in_alpha_sized_iterations():
    cfg = bco.Config(pre_fraction=0.2, alpha=0.5)
    s = bco.Schedule.of(1563, cfg)  # Procgen: ceil(100k / 64) vectorised steps
    assert (s.pre, s.per_iteration) == (313, 156)
    ends = [s.end(p) for p in range(12)]
    assert ends[:3] == [313, 469, 625] and ends[-1] == 1563 and ends == sorted(ends)
    s = bco.Schedule.of(10, bco.Config(pre_fraction=1.0))  # everything random, then one fit
    assert s.end(0) == 10


def test_sticky_random_policy_repeats_actions():
    task = get_task("starpilot")
    gen = torch.Generator().manual_seed(0)
    obs = np.zeros((2000, 3, 64, 64), np.uint8)
    sticky = bco.StickyRandom(task, 0.75, gen)
    first, second = sticky(obs), sticky(obs)
    assert 0.7 < (first == second).mean() < 0.85  # 0.75 kept + 0.25 / 15 redrawn alike
    iid = bco.StickyRandom(task, 0.0, gen)
    a, b = iid(obs), iid(obs)
    assert (a == b).mean() < 0.15 and set(np.unique(a)) == set(range(15))


class RecordingLearner:
    """A stand-in learner: random acting, and a record of what the loop asks of it."""

    def __init__(self, task):
        self.task, self.calls = task, []

    def train_labeller(self, replay, videos, updates):
        self.calls.append(("labeller", updates, replay.transitions))
        return {"idm/loss": 0.0}

    def heldout(self, replay, windows):
        self.calls.append(("heldout", windows, replay.transitions))
        return {}

    def clone(self, videos, updates):
        self.calls.append(("clone", updates, None))
        return {"bc/loss": 0.0}

    def act(self, obs, deterministic, generator):
        return bco._random_actions(self.task, len(obs), generator)

    def state_dict(self):
        return {}

    def load_state_dict(self, state):
        pass


def test_loop_follows_the_schedule(videos, tmp_path):
    task = get_task("starpilot")
    cfg = tiny_config(bco, "starpilot", ["idm_first_updates=7", "heldout_windows=5"])
    learner = RecordingLearner(task)
    with Harness("bco", task, 0, config=dataclasses.asdict(cfg), runs_root=tmp_path,
                 budget=BUDGETS["starpilot"], eval_episodes=1, progress=False) as h:  # fmt: skip
        bco.iterate(task, 0, cfg, h, videos["starpilot"], learner)
    labeller = [c for c in learner.calls if c[0] == "labeller"]
    s = bco.Schedule.of(40, cfg)  # 160 env steps / 4 envs
    assert [c[1] for c in labeller] == [7] + [3] * (len(labeller) - 1)
    assert len(labeller) == iterations_of(bco, "starpilot") and s.pre == 8
    # held out: every phase after I_pre, on that phase's transitions only (<= its steps x envs)
    held = [c for c in learner.calls if c[0] == "heldout"]
    assert len(held) == len(labeller) - 1 and all(c[1] == 5 for c in held)
    assert all(0 < c[2] <= s.per_iteration * 4 for c in held)
    # each phase's transitions join the replay the labeller trains on
    seen = [c[2] for c in labeller]
    assert seen == sorted(seen) and seen[-1] > seen[0]


def test_method_interface_and_config():
    assert bco.SUITES == ("procgen", "dmc", "metaworld") and bco.NEEDS_VIDEOS
    cfg = load_config(bco.Config, None, [], base=bco.default_config("starpilot"))
    assert (cfg.pre_fraction, cfg.alpha, cfg.aug_pad, cfg.budget) == (0.2, 0.5, 0, None)
    assert (cfg.window, cfg.sticky) == (3, 0.75)  # Procgen: LAPO's window, sticky I_pre
    cont = load_config(bco.Config, None, [], base=bco.default_config("reacher_easy"))
    assert (cont.window, cont.sticky, cont.aug_pad) == (2, 0.0, 4)
    cpu = load_config(
        bco.Config, REPO / "config/bco.yaml", [], base=bco.default_config("starpilot")
    )
    assert cpu.channels == [8, 16, 16] and cpu.idm_updates < cfg.idm_updates
    for bad in ("alpha=0", "pre_fraction=1.5", "channels=[]", "idm_updates=0", "window=4",
                "sticky=1.0"):  # fmt: skip
        with pytest.raises(ConfigError):
            load_config(bco.Config, None, [bad], base=bco.default_config("starpilot"))


def test_missing_or_foreign_videos_fail_clearly(videos, tmp_path):
    cfg = tiny_config(bco, "reacher_easy")
    with Harness("bco", "reacher_easy", 0, config={}, runs_root=tmp_path, progress=False) as h:
        with pytest.raises(ValueError, match="pass --videos"):
            bco.run("reacher_easy", 0, cfg, h, videos=None)
        with pytest.raises(TaskMismatchError, match="metaworld_reach"):
            bco.run("reacher_easy", 0, cfg, h, videos=videos["metaworld_reach"])


# -- end to end on each suite ------------------------------------------------------------------


@pytest.mark.parametrize("task_name", list(BUDGETS))
def test_trains_end_to_end_through_the_harness(task_name, videos, tmp_path):
    run = run_tiny(bco, task_name, videos[task_name], tmp_path)
    check_run(run, task_name, iterations_of(bco, task_name))
    assert (run / "checkpoints" / "state.pt").exists()


# -- kill and resume ---------------------------------------------------------------------------


def kill_and_resume(method: str, module: str, videos, root: Path, extra: list[str] = ()) -> Path:
    """`bcvlr run` on Procgen, SIGKILLed after its first checkpoint, then the same command
    again: it must finish with every row once and every evaluation point scored once."""
    task_name = "starpilot"
    sets = TINY + ["num_envs=4", "checkpoint_every=2"] + list(extra)
    cmd = [sys.executable, "-m", "bcvlr.cli", "run", "--method", method, "--task", task_name,
           "--videos", str(videos.path), "--runs-root", str(root), "--budget", "640",
           "--eval-every", "160", "--eval-episodes", "2", "--no-progress"]  # fmt: skip
    for s in sets:
        cmd += ["--set", s]
    env = os.environ | {"BCVLR_METHODS": f"{method}={module}", "OMP_NUM_THREADS": "1"}
    run = root / method / task_name / "seed0"
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def checkpointed() -> bool:
        info = json.loads((run / "run.json").read_text())
        return (info.get("last_checkpoint") or {}).get("step", 0) > 0

    _kill_when(run / "checkpoints" / "state.pt", proc, checkpointed)
    assert json.loads((run / "run.json").read_text())["status"] == "running"
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    info = json.loads((run / "run.json").read_text())
    assert info["status"] == "complete" and len(info["resumes"]) == 1
    m = pd.read_csv(run / "metrics.csv")
    pairs = Counter(zip(m.step, m.metric, strict=True))
    assert max(pairs.values()) == 1, [p for p, c in pairs.items() if c > 1]
    evals = m[m.metric == "eval/return"]
    # 640 env steps = 160 vectorised steps of 4 envs; pre = 32, iterations of 16 steps
    assert list(evals.frames) == [160, 320, 480, 640]
    assert list(m[m.metric == "bc/loss"].step) == list(range(32, 161, 16))
    # exact: the envs replayed their actions and the samplers kept their state, so the rows are
    # those of a run never killed (timings apart)
    straight = root / "straight"
    cmd = [str(straight) if part == str(root) else part for part in cmd]
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    once = pd.read_csv(straight / method / task_name / "seed0" / "metrics.csv")

    def values(frame: pd.DataFrame) -> pd.DataFrame:
        kept = frame[~frame.metric.str.startswith("perf/")].drop(columns="wall_time")
        return kept.reset_index(drop=True)

    pd.testing.assert_frame_equal(values(m), values(once))
    return run


def test_kill_and_resume(videos, tmp_path):
    kill_and_resume("bco", "baselines.bco", videos["starpilot"], tmp_path)
