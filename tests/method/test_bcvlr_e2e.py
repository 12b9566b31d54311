"""BCV-LR end to end on each suite's real simulator at a tiny size, and resume after a kill."""

import importlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
import torch

from bcvlr.config import load_config
from bcvlr.method import bcvlr
from bcvlr.results import SettingsMismatchError, load_run
from bcvlr.results.aggregate import score_at
from bcvlr.run.harness import Harness
from bcvlr.tasks import get_task
from tests.method.helpers import random_videos

TINY = "config/bcvlr/tiny.yaml"
online_stage = importlib.import_module("bcvlr.method.bcvlr.online")  # the package exports online()


@pytest.mark.parametrize("task_name", ["coinrun", "reacher_easy", "metaworld_reach"])
def test_tiny_run_through_every_stage(task_name, tmp_path):
    task = get_task(task_name)
    videos = random_videos(task_name, tmp_path / "videos", steps=300)
    sets = ["online.num_envs=4"] if task.suite == "procgen" else []
    if task.suite == "dmc":  # bf16 (a speed option) through every stage's real code path; on
        sets += ["precision=bf16"]  # a CPU without bf16 units the smallest encoder costs least
    if task.suite == "metaworld":  # options of the mini runs, through the real code path
        sets += ["departures.idm_input_norm=standardize", "departures.latent_norm=standardize",
                 "departures.latent_norm_refit=true", "diagnostics.replay_probe_decoder_updates=16",
                 "departures.action_lead=1"]  # fmt: skip
    cfg = load_config(bcvlr.Config, TINY, sets, base=bcvlr.default_config(task))
    budget = 4 * 60 if task.suite == "procgen" else 200
    with Harness("bcvlr", task, 0, config={}, runs_root=tmp_path / "runs", budget=budget,
                 eval_episodes=2, progress=False) as harness:  # fmt: skip
        bcvlr.run(task, 0, cfg, harness, videos=videos)
    run = harness.path
    info = json.loads((run / "run.json").read_text())
    assert info["status"] == "complete" and info["reduced_budget"]
    metrics = pd.read_csv(run / "metrics.csv")
    assert "eval/return" in set(metrics.metric)
    assert not metrics.duplicated(["step", "metric"]).any()
    # the end of the budget is a cycle's end: evaluated after that cycle's updates, not before
    last = metrics[metrics.step == metrics.step.max()].metric.tolist()
    assert last.index("eval/return") > last.index("train/replay")
    for stage, artifact in (("features", "features.pt"), ("latent_actions", "latent_actions.pt")):
        assert (run / "pretrain" / stage / artifact).exists()
        stage_metrics = pd.read_csv(run / "pretrain" / stage / "metrics.csv")
        assert len(stage_metrics) > 0
    probe = pd.read_csv(run / "pretrain" / "latent_actions" / "metrics.csv")
    assert probe.metric.str.startswith("probe/").any()  # the diagnostic is logged
    assert probe.metric.str.startswith("probe/beyond_scene_").any()  # and what z adds to f(o_t)
    lam = torch.load(run / "pretrain" / "latent_actions" / "latent_actions.pt",
                     weights_only=False)["model"]  # fmt: skip
    standardized = task.suite == "metaworld"
    assert (probe.metric == "idm_input/std").any() == standardized
    assert (not torch.equal(lam["input_std"], torch.ones_like(lam["input_std"]))) == standardized
    # ... and online, on the agent's own transitions, once per cycle
    refits = metrics[(metrics.metric == "latent/std") & (metrics.step > 0)]
    cycles = metrics.step.max() // cfg.online.cycle_steps
    assert len(refits) == (cycles if task.suite == "metaworld" else 0)
    for prefix in ("probe_new/", "probe_replay/"):  # before and after eq. 3 in each cycle
        replay_probe = metrics[metrics.metric.str.startswith(prefix)]
        assert len(replay_probe) and replay_probe.value.notna().all()
        # the MLP decoder on the agent's transitions only where asked for (Metaworld here)
        assert replay_probe.metric.str.contains("/mlp_").any() == (task.suite == "metaworld")
    # every phase of the online stage is timed, the probes' seconds included
    assert {"bc_warmup", "collect", "update", "probe"} <= info["timings"]["phases"].keys()


def test_procgen_budget_off_the_vector_size_is_evaluated_at_or_past_it(tmp_path):
    """A budget that is not a multiple of num_envs: the run takes whole vectorised steps past
    it (ceil), so its last evaluation is at >= budget and is the table's score for the budget
    (with floor division it stopped 2 steps short and the 100-step evaluation stood for it)."""
    task = get_task("starpilot")  # short evaluation episodes, whatever the policy does
    videos = random_videos(task.name, tmp_path / "videos", steps=60)
    sets = ["online.num_envs=4", "online.cycle_steps=20", "diagnostics.replay_probe_windows=0",
            "online.bc_warmup_updates=1", "online.ft_updates=1", "online.bc_updates=1",
            "features.updates=3", "latent_actions.updates=3", "diagnostics.probe_every=0"]  # fmt: skip
    cfg = load_config(bcvlr.Config, TINY, sets, base=bcvlr.default_config(task))
    budget = 4 * 30 + 2
    with Harness("bcvlr", task, 0, config={}, runs_root=tmp_path / "runs", budget=budget,
                 eval_every=50, eval_episodes=1, progress=False) as harness:  # fmt: skip
        bcvlr.run(task, 0, cfg, harness, videos=videos)
    run = load_run(harness.path)
    assert run.complete
    evals = run.scores()
    # the table's cell for the budget reads the evaluation past it, 31 x 4 env steps
    assert score_at(run, task.budget) == (evals.value.iloc[-1], 124)
    assert list(evals.frames) == [52, 100, 124]


def test_pretraining_is_the_same_for_the_same_seed(tmp_path):
    """Torch seeds itself at random in every process: both pretraining stages must build their
    nets from the run seed, whatever the RNG held before (they once built them unseeded)."""
    videos = random_videos("reacher_easy", tmp_path / "videos", steps=120)
    cfg = load_config(bcvlr.Config, TINY, ["features.updates=3", "latent_actions.updates=3",
                                           "diagnostics.probe_every=0"],
                      base=bcvlr.default_config(get_task("reacher_easy")))  # fmt: skip
    weights = []
    for run, noise in enumerate((1, 2)):
        torch.manual_seed(noise)
        out = tmp_path / f"run{run}"
        feats = bcvlr.pretrain_features(cfg, [videos], 0, out / "f", progress=False)
        torch.manual_seed(noise)
        la = bcvlr.pretrain_latent_actions(cfg, [videos], feats, 0, out / "la", progress=False)
        weights.append([torch.load(p, weights_only=False) for p in (feats, la)])
    for first, second in zip(*weights, strict=True):
        state = first.get("model", first.get("encoder", first))
        other = second.get("model", second.get("encoder", second))
        assert state.keys() == other.keys()
        assert all(torch.equal(state[k], other[k]) for k in state)


def test_online_is_the_same_in_any_process(tmp_path):
    """`bcvlr online` twice, each in a fresh process, from the same pretrained files and seed:
    the same metrics.csv, value for value (d and pi were once built before the harness seeded
    the process, so every Snakemake online job drew other initial weights)."""
    videos = random_videos("reacher_easy", tmp_path / "videos", steps=120)
    cfg = load_config(bcvlr.Config, TINY, ["features.updates=3", "latent_actions.updates=3",
                                           "diagnostics.probe_every=0"],
                      base=bcvlr.default_config(get_task("reacher_easy")))  # fmt: skip
    feats = bcvlr.pretrain_features(cfg, [videos], 0, tmp_path / "f", progress=False)
    lat = bcvlr.pretrain_latent_actions(cfg, [videos], feats, 0, tmp_path / "la", progress=False)
    runs = []
    for i in range(2):
        root = tmp_path / f"runs{i}"
        cmd = [sys.executable, "-m", "bcvlr.cli", "online", "--task", "reacher_easy", "--seed",
               "0", "--videos", str(tmp_path / "videos"), "--config", TINY, "--no-progress",
               "--latent-actions", str(lat), "--runs-root", str(root), "--budget", "80",
               "--eval-every", "40", "--eval-episodes", "1", "--set", "online.cycle_steps=20",
               "--set", "diagnostics.replay_probe_windows=0"]  # fmt: skip
        result = subprocess.run(cmd, capture_output=True, text=True)
        assert result.returncode == 0, result.stderr[-2000:]
        metrics = pd.read_csv(root / "bcvlr" / "reacher_easy" / "seed0" / "metrics.csv")
        runs.append(metrics.drop(columns=[c for c in metrics.columns if "time" in c or "wall" in c]))
    pd.testing.assert_frame_equal(*runs)


def test_labelling_every_window_once_or_each_batch_gives_the_same_run(tmp_path, monkeypatch):
    """Eq. 4 reads p's labels of all video windows, computed once per phase, or labels each
    batch (phases shorter than the videos): the same windows, the same numbers."""
    videos = random_videos("reacher_easy", tmp_path / "videos", steps=120)
    cfg = load_config(bcvlr.Config, TINY, ["features.updates=3", "latent_actions.updates=3",
                                           "diagnostics.probe_every=0", "online.cycle_steps=20",
                                           "diagnostics.replay_probe_windows=0"],
                      base=bcvlr.default_config(get_task("reacher_easy")))  # fmt: skip
    feats = bcvlr.pretrain_features(cfg, [videos], 0, tmp_path / "f", progress=False)
    lat = bcvlr.pretrain_latent_actions(cfg, [videos], feats, 0, tmp_path / "la", progress=False)
    runs = []
    for once in (True, False):
        monkeypatch.setattr(online_stage, "label_once", lambda *a, once=once: once)
        with Harness("bcvlr", get_task("reacher_easy"), 0, config={},
                     runs_root=tmp_path / f"runs{once}", budget=80, eval_every=40,
                     eval_episodes=1, progress=False) as harness:  # fmt: skip
            online_stage.online(get_task("reacher_easy"), 0, cfg, harness, videos, lat, feats)
        metrics = pd.read_csv(harness.path / "metrics.csv")
        runs.append(metrics[metrics.metric.str.contains("loss|eval")].set_index(["step", "metric"]))
    assert runs[0].index.equals(runs[1].index) and len(runs[0]) > 0
    assert ((runs[0].value - runs[1].value).abs() <= 1e-4 * runs[1].value.abs() + 1e-6).all()


def _kill_when(path: Path, proc: subprocess.Popen, predicate, timeout: float = 240) -> None:
    deadline = time.time() + timeout
    while time.time() < deadline and proc.poll() is None:
        if path.exists() and predicate():
            break
        time.sleep(0.2)
    assert proc.poll() is None, "finished before it could be killed"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()


def _tensors(tree, prefix=""):
    """(path, tensor) for every tensor of a nested dict of state_dicts."""
    if isinstance(tree, torch.Tensor):
        yield prefix, tree
    elif isinstance(tree, dict):
        for key, value in tree.items():
            yield from _tensors(value, f"{prefix}.{key}")


def test_each_stage_resumes_after_a_kill(tmp_path):
    """Features, latent actions and the online stage in turn: each is SIGKILLed after its first
    checkpoint, rerun with the same command, and must finish with every row exactly once and
    the rows (and for the pretraining stages the weights) of a run never killed."""
    random_videos("reacher_easy", tmp_path / "videos", steps=300)
    base = [sys.executable, "-m", "bcvlr.cli"]
    common = ["--task", "reacher_easy", "--seed", "0", "--videos", str(tmp_path / "videos"),
              "--config", TINY, "--no-progress", "--set", "checkpoint_every=5",
              "--set", "features.updates=40", "--set", "latent_actions.updates=40"]  # fmt: skip
    feats, lat, runs = tmp_path / "f", tmp_path / "la", tmp_path / "runs"
    online_dir = runs / "bcvlr" / "reacher_easy" / "seed0"
    offline_dir = runs / "bcvlr_offline" / "reacher_easy" / "seed0"
    online_args = ["--latent-actions", str(lat / "latent_actions.pt"), "--runs-root", str(runs),
                   "--budget", "400", "--eval-episodes", "1", "--set", "online.cycle_steps=20"]  # fmt: skip
    stages = [
        ("features", feats, base + ["pretrain-features", *common, "--out", str(feats)]),
        ("latent_actions", lat, base + ["pretrain-actions", *common, "--out", str(lat),
                                        "--features", str(feats / "features.pt")]),
        ("online", online_dir, base + ["online", *common, *online_args, "--eval-every", "100"]),
        # Table 10's offline decoding: 10 cycles of updates on labelled videos, no interaction
        ("offline", offline_dir, base + ["online", *common, *online_args, "--method-name",
                                         "bcvlr_offline", "--set", "online.offline_labelled=200",
                                         "--set", "online.checkpoint_every_cycles=1",
                                         "--set", "departures.latent_norm=robust",
                                         "--set", "departures.latent_norm_refit=true",
                                         "--set", "departures.action_lead=1"]),
    ]  # fmt: skip
    for name, out, cmd in stages:
        proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        if name in ("online", "offline"):

            def ready(out=out):  # a checkpoint after the warm-up, mid-way through the cycles
                info = json.loads((out / "run.json").read_text())
                return (info.get("last_checkpoint") or {}).get("step", 0) > 0

            _kill_when(out / "checkpoints" / "state.pt", proc, ready)
        else:
            _kill_when(out / "checkpoints" / "state.pt", proc, lambda: True)
        result = subprocess.run(cmd, capture_output=True, text=True)
        assert result.returncode == 0, result.stderr[-2000:]
        metrics = pd.read_csv(out / "metrics.csv")
        assert not metrics.duplicated(["step", "metric"]).any(), name
        if name in ("online", "offline"):
            info = json.loads((out / "run.json").read_text())
            assert info["status"] == "complete" and len(info["resumes"]) == 1
            evals = metrics[metrics.metric == "eval/return"]
            # none missing, none twice (offline decoding evaluates once, at the budget)
            assert sorted(evals.frames) == ([100, 200, 300, 400] if name == "online" else [400])
            if name == "online":
                # the envs are replayed to where the checkpoint left them: the rows of a run
                # never killed
                straight = tmp_path / "online_straight"
                cmd = [str(straight) if part == str(runs) else part for part in cmd]
                result = subprocess.run(cmd, capture_output=True, text=True)
                assert result.returncode == 0, result.stderr[-2000:]
                once = pd.read_csv(straight / "bcvlr" / "reacher_easy" / "seed0" / "metrics.csv")
                pd.testing.assert_frame_equal(metrics.drop(columns="wall_time"),
                                              once.drop(columns="wall_time"))  # fmt: skip
            if name == "offline":
                assert sorted(metrics[metrics.metric == "loss/bc"].step) == list(range(1, 11))
                # one latent refit per cycle as well, resumed or not
                refits = metrics[(metrics.metric == "latent/std") & (metrics.step > 0)]
                assert sorted(refits.step) == list(range(1, 11))
                # no simulator until its one evaluation: the rows of a run never killed
                straight = tmp_path / "offline_straight"
                cmd = [str(straight) if part == str(runs) else part for part in cmd]
                result = subprocess.run(cmd, capture_output=True, text=True)
                assert result.returncode == 0, result.stderr[-2000:]
                once = pd.read_csv(straight / "bcvlr_offline" / "reacher_easy" / "seed0"
                                   / "metrics.csv")  # fmt: skip
                pd.testing.assert_frame_equal(metrics.drop(columns="wall_time"),
                                              once.drop(columns="wall_time"))  # fmt: skip
        else:
            assert metrics.step.max() == 40
            assert json.loads((out / "stage.json").read_text())["resumes"] == 1
            # exactly where it stopped: the same rows and weights as a run never killed
            straight = tmp_path / f"{name}_straight"
            cmd = [straight if part == str(out) else part for part in cmd]
            result = subprocess.run([str(c) for c in cmd], capture_output=True, text=True)
            assert result.returncode == 0, result.stderr[-2000:]
            pd.testing.assert_frame_equal(metrics.drop(columns="wall_time"),
                                          pd.read_csv(straight / "metrics.csv")
                                          .drop(columns="wall_time"))  # fmt: skip
            for key, value in _tensors(torch.load(out / f"{name}.pt", weights_only=False)):
                other = dict(_tensors(torch.load(straight / f"{name}.pt", weights_only=False)))
                assert torch.equal(value, other[key]), (name, key)


def test_bad_inputs_fail_before_compute(tmp_path):
    base = [sys.executable, "-m", "bcvlr.cli"]
    r = subprocess.run(base + ["run", "--method", "bcvlr", "--task", "reacher_easy"],
                       capture_output=True, text=True)  # fmt: skip
    assert r.returncode == 2 and "pass --videos" in r.stderr
    r = subprocess.run(base + ["online", "--task", "reacher_easy", "--videos",
                               str(tmp_path / "nope")], capture_output=True, text=True)  # fmt: skip
    assert r.returncode == 2 and "does not exist" in r.stderr
    videos = random_videos("reacher_easy", tmp_path / "v", steps=30)
    r = subprocess.run(base + ["run", "--method", "bcvlr", "--task", "finger_spin", "--videos",
                               str(videos.path)], capture_output=True, text=True)  # fmt: skip
    assert r.returncode == 2 and "reacher_easy" in r.stderr and "finger_spin" in r.stderr


def test_a_stage_is_reused_only_with_its_own_settings(tmp_path):
    """A finished stage rerun with other settings (updates, seed, videos, another f) is
    refused in one line, not silently reused; with the same settings it is reused as it is."""
    videos = random_videos("reacher_easy", tmp_path / "videos", steps=120)
    others = random_videos("reacher_easy", tmp_path / "others", steps=120, seed=1)
    sets = ["features.updates=3", "latent_actions.updates=3", "diagnostics.probe_every=0"]
    base = bcvlr.default_config(get_task("reacher_easy"))
    cfg = load_config(bcvlr.Config, TINY, sets, base=base)
    feats = bcvlr.pretrain_features(cfg, [videos], 0, tmp_path / "f", progress=False)
    lat = bcvlr.pretrain_latent_actions(cfg, [videos], feats, 0, tmp_path / "la", progress=False)
    made = feats.stat().st_mtime_ns, lat.stat().st_mtime_ns
    assert bcvlr.pretrain_features(cfg, [videos], 0, tmp_path / "f", progress=False) == feats
    assert bcvlr.pretrain_latent_actions(cfg, [videos], feats, 0, tmp_path / "la",
                                         progress=False) == lat  # fmt: skip
    assert (feats.stat().st_mtime_ns, lat.stat().st_mtime_ns) == made
    more = load_config(bcvlr.Config, TINY, [*sets, "features.updates=4"], base=base)
    with pytest.raises(SettingsMismatchError, match=r"features\.updates"):
        bcvlr.pretrain_features(more, [videos], 0, tmp_path / "f", progress=False)
    with pytest.raises(SettingsMismatchError, match="seed"):
        bcvlr.pretrain_features(cfg, [videos], 1, tmp_path / "f", progress=False)
    with pytest.raises(SettingsMismatchError, match="videos"):
        bcvlr.pretrain_features(cfg, [others], 0, tmp_path / "f", progress=False)
    other_f = bcvlr.pretrain_features(cfg, [others], 0, tmp_path / "f2", progress=False)
    with pytest.raises(SettingsMismatchError, match="features_file"):
        bcvlr.pretrain_latent_actions(cfg, [videos], other_f, 0, tmp_path / "la", progress=False)
    online_only = load_config(bcvlr.Config, TINY, [*sets, "online.bc_updates=7"], base=base)
    assert bcvlr.pretrain_features(online_only, [videos], 0, tmp_path / "f", progress=False) == feats
    # through the CLI: one line, exit 2
    r = subprocess.run([sys.executable, "-m", "bcvlr.cli", "pretrain-features", "--task",
                        "reacher_easy", "--videos", str(videos.path), "--config", TINY,
                        "--out", str(tmp_path / "f"), "--no-progress",
                        *[a for s in [*sets, "features.updates=5"] for a in ("--set", s)]],
                       capture_output=True, text=True)  # fmt: skip
    assert r.returncode == 2, r.stderr[-2000:]
    assert r.stderr.count("\n") == 1 and "features.updates" in r.stderr


def test_a_video_only_dataset_runs_with_the_diagnostics_skipped(tmp_path):
    """Deleting labels/ is allowed (docs/dataset-format.md): BCV-LR never needs the expert's actions,
    so the run completes and only the video-label probe is skipped (it once failed after
    feature pretraining)."""
    import shutil

    videos = random_videos("reacher_easy", tmp_path / "videos", steps=120)
    shutil.rmtree(videos.path / "labels")
    cmd = [sys.executable, "-m", "bcvlr.cli", "run", "--method", "bcvlr", "--task",
           "reacher_easy", "--videos", str(videos.path), "--config", TINY, "--no-progress",
           "--runs-root", str(tmp_path / "runs"), "--budget", "80", "--eval-every", "40",
           "--eval-episodes", "1", "--set", "online.cycle_steps=20"]  # fmt: skip
    result = subprocess.run(cmd, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr[-2000:]
    run = tmp_path / "runs" / "bcvlr" / "reacher_easy" / "seed0"
    probe = pd.read_csv(run / "pretrain" / "latent_actions" / "metrics.csv")
    assert not probe.metric.str.startswith("probe/").any()
    assert "eval/return" in set(pd.read_csv(run / "metrics.csv").metric)


def test_the_paper_configs_run_no_probe():
    for task in ("coinrun", "reacher_hard", "metaworld_reach"):
        for config in (None, "config/bcvlr/mini.yaml"):
            cfg = load_config(bcvlr.Config, config, base=bcvlr.default_config(get_task(task)))
            assert not cfg.diagnostics.enabled, (task, config)


def test_diagnostics_do_not_change_what_training_computes(tmp_path):
    """The probes and health checks run inside latent-action pretraining and every online
    cycle: with them on, the stage's weights and every training metric are those of a run
    without them."""
    videos = random_videos("reacher_easy", tmp_path / "videos", steps=120)
    sets = ["features.updates=3", "latent_actions.updates=6", "diagnostics.probe_every=2"]
    weights, losses = [], []
    for on in (True, False):
        cfg = load_config(bcvlr.Config, TINY, [*sets, f"diagnostics.enabled={str(on).lower()}"],
                          base=bcvlr.default_config(get_task("reacher_easy")))  # fmt: skip
        feats = bcvlr.pretrain_features(cfg, [videos], 0, tmp_path / f"f{on}", progress=False)
        lat = bcvlr.pretrain_latent_actions(cfg, [videos], feats, 0, tmp_path / f"la{on}",
                                            progress=False)  # fmt: skip
        weights.append(torch.load(lat, weights_only=False)["model"])
        with Harness("bcvlr", "reacher_easy", 0, config={}, runs_root=tmp_path / f"runs{on}",
                     budget=100, eval_episodes=1, progress=False) as harness:  # fmt: skip
            bcvlr.online(get_task("reacher_easy"), 0, cfg, harness, videos, lat)
        m = pd.read_csv(harness.path / "metrics.csv")
        losses.append(m[m.metric.str.startswith(("loss/", "eval/"))].drop(columns="wall_time"))
        assert m.metric.str.startswith("probe_").any() == on
    assert all(torch.equal(weights[0][k], weights[1][k]) for k in weights[0])
    pd.testing.assert_frame_equal(losses[0].reset_index(drop=True), losses[1].reset_index(drop=True))
