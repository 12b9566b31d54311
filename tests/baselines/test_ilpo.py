"""ILPO on real simulators at a tiny size: its losses and latent labels, end to end on Procgen,
DMC and Metaworld through the harness, resume after a kill in each stage, and bad videos."""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import torch

from baselines import ilpo
from bcvlr.config import ConfigError, load_config
from bcvlr.data import TaskMismatchError
from bcvlr.run.harness import Harness
from bcvlr.tasks import get_task
from tests.method.helpers import random_videos
from tests.method.test_bcvlr_e2e import _kill_when

REPO = Path(__file__).resolve().parents[2]
# tiny nets and budgets: these tests check the plumbing, not the learning
TINY = ["lpn.channels=4", "lpn.hidden=32", "lpn.target_size=8", "lpn.batch_size=16",
        "lpn.epochs=0.5", "arn.hidden=16", "arn.batch_size=16", "arn.log_every=10",
        "threads=1"]  # fmt: skip


def _cfg(task: str, extra: list[str] | None = None) -> ilpo.Config:
    return load_config(ilpo.Config, None, TINY + (extra or []), base=ilpo.default_config(task))


@pytest.fixture(scope="module")
def videos(tmp_path_factory):
    """One small real dataset per task, made on first use."""
    made = {}

    def get(task: str):
        if task not in made:
            made[task] = random_videos(task, tmp_path_factory.mktemp(task), steps=200)
        return made[task]

    return get


# -- pieces ------------------------------------------------------------------------------------


def test_config_per_suite_and_cpu_config():
    sp, reacher = _cfg("starpilot"), _cfg("reacher_easy")
    assert (sp.lpn.num_latents, sp.arn.num_envs) == (15, 64)
    assert (reacher.lpn.num_latents, reacher.arn.num_envs) == (8, 1)
    # the reference code's values
    ref = ilpo.Config()
    assert (ref.lpn.lr, ref.lpn.beta1, ref.lpn.batch_size, ref.lpn.epochs) == (2e-4, 0.5, 100, 5.0)
    assert (ref.arn.lr, ref.arn.batch_size, ref.arn.epsilon, ref.arn.replay_capacity) == (
        9e-4, 32, 0.2, 50_000)  # fmt: skip
    for task in ("starpilot", "reacher_easy", "metaworld_reach"):
        load_config(ilpo.Config, REPO / "config/ilpo.yaml", [], base=ilpo.default_config(task))
    with pytest.raises(ConfigError, match="arn.epsilon"):
        _cfg("starpilot", ["arn.epsilon=1.5"])
    with pytest.raises(ConfigError, match="num_latents"):
        _cfg("starpilot", ["lpn.num_latents=1"])
    with pytest.raises(ConfigError, match="fit_on=explored needs random actions"):
        _cfg("starpilot", ["arn.fit_on=explored", "arn.epsilon=0"])
    with pytest.raises(ConfigError, match="target_size"):
        _cfg("starpilot", ["lpn.target_size=24"])
    with pytest.raises(ConfigError, match="latent_injection"):
        _cfg("starpilot", ["lpn.latent_injection=input"])


def test_frame_change_reads_the_newest_frame_only():
    obs = torch.zeros(2, 9, 64, 64, dtype=torch.uint8)
    nxt = obs.clone()
    nxt[:, :6] = 255  # older frames of the stack change: no effect
    assert ilpo.frame_change(obs, nxt, 8).abs().max() == 0
    nxt[:, 6:, :32] = 255  # top half of the newest frame goes from -1 to 1
    delta = ilpo.frame_change(obs, nxt, 8).view(2, 3, 8, 8)
    assert delta.shape == (2, 3, 8, 8)
    assert torch.allclose(delta[:, :, :4], torch.full((2, 3, 4, 8), 2.0))
    assert delta[:, :, 4:].abs().max() == 0


def test_labels_pick_the_closest_prediction_and_the_expected_loss_spares_the_generator():
    torch.manual_seed(0)
    lc = _cfg("starpilot").lpn
    lpn = ilpo.LatentPolicyNetwork((3, 64, 64), lc)
    obs = torch.randint(0, 256, (6, 3, 64, 64), dtype=torch.uint8)
    nxt = torch.randint(0, 256, (6, 3, 64, 64), dtype=torch.uint8)
    delta = ilpo.frame_change(obs, nxt, lc.target_size)
    # make latent k of sample i predict the true change exactly, for a known k
    truth = torch.tensor([3, 0, 14, 7, 7, 1])
    fake = torch.randn(6, lc.num_latents, delta.shape[1]) * 5
    fake[torch.arange(6), truth] = delta

    class Known(torch.nn.Module):
        def forward(self, emb, maps):
            return fake

    generator, lpn.generator = lpn.generator, Known()
    assert torch.equal(lpn.label(obs, nxt), truth)
    lpn.generator = generator

    # the expected-change term trains pi (and e) only: g's gradient is the min term's alone
    loss, metrics = ilpo.lpn_loss(lpn, obs, nxt)
    loss.backward()
    with_expected = [p.grad.clone() for p in lpn.generator.parameters()]
    assert lpn.policy.weight.grad.abs().sum() > 0
    lpn.zero_grad()
    pred = lpn.generator(*lpn.encoder(obs))
    ilpo.prediction_errors(pred, delta).min(1).values.mean().backward()
    for a, b in zip(with_expected, lpn.generator.parameters(), strict=True):
        assert torch.allclose(a, b.grad, atol=1e-6)
    assert 1 <= metrics["lpn/latents_used"] <= lc.num_latents


@pytest.mark.parametrize("injection", ["readout", "bottleneck"])
def test_generator_predicts_one_distinct_change_per_latent(injection):
    torch.manual_seed(0)
    lc = _cfg("starpilot", [f"lpn.latent_injection={injection}"]).lpn
    lpn = ilpo.LatentPolicyNetwork((3, 64, 64), lc)
    obs = torch.randint(0, 256, (5, 3, 64, 64), dtype=torch.uint8)
    torch.nn.init.normal_(lpn.generator.readout.weight)  # it starts at zero ("no change")
    emb, maps = lpn.encoder(obs)
    pred = lpn.generator(emb, maps)
    assert pred.shape == (5, lc.num_latents, 3 * lc.target_size**2)
    assert (pred[:, 0] - pred[:, 1]).abs().max() > 0  # the latents do not tie
    # a sample's predictions do not depend on the rest of the batch
    assert torch.allclose(lpn.generator(emb[2:3], [m[2:3] for m in maps]), pred[2:3], atol=1e-5)


# -- end to end --------------------------------------------------------------------------------


@pytest.mark.parametrize("task_name", ["starpilot", "reacher_easy", "metaworld_reach"])
def test_tiny_run_through_both_stages(task_name, videos, tmp_path):
    task = get_task(task_name)
    procgen = task.suite == "procgen"
    # the reference's ARN fit on Procgen and Metaworld; on DMC ours (random transitions only,
    # after a uniformly random warm-up)
    extra = {"starpilot": ["arn.num_envs=4"],
             "reacher_easy": ["arn.fit_on=explored", "arn.random_steps=40"]}  # fmt: skip
    cfg = _cfg(task_name, extra.get(task_name, []))
    budget = 4 * 50 if procgen else 120
    with Harness("ilpo", task, 0, config=dataclasses.asdict(cfg), runs_root=tmp_path,
                 budget=budget, eval_every=budget // 2, eval_episodes=2,
                 progress=False) as harness:  # fmt: skip
        ilpo.run(task, 0, cfg, harness, videos=videos(task_name))
    run = harness.path
    info = json.loads((run / "run.json").read_text())
    assert info["status"] == "complete" and info["reduced_budget"]
    assert set(info["timings"]["phases"]) == {"lpn", "online"}
    metrics = pd.read_csv(run / "metrics.csv")
    assert not metrics.duplicated(["step", "metric"]).any()
    score = "eval/success" if task.eval.metric == "success" else "eval/return"
    assert sorted(metrics[metrics.metric == score].frames) == [budget // 2, budget]
    assert {"train/arn_loss", "train/latent_agreement"} <= set(metrics.metric)
    assert metrics.value.notna().all()
    lpn_dir = run / "pretrain" / "lpn"
    assert (lpn_dir / ilpo.LPN_ARTIFACT).exists()
    stage = pd.read_csv(lpn_dir / "metrics.csv")
    assert {"loss/expected", "loss/min"} <= set(stage.metric)


# the method is not registered in bcvlr/methods.py yet
ENV = os.environ | {"BCVLR_METHODS": "ilpo=baselines.ilpo", "OMP_NUM_THREADS": "1"}


def _cmd(args: list[str]) -> list[str]:
    return [sys.executable, "-m", "bcvlr.cli", *args]


def _cli(args: list[str], **kw) -> subprocess.CompletedProcess:
    return subprocess.run(_cmd(args), env=ENV, cwd=REPO, capture_output=True, text=True, **kw)


def _start(args: list[str]) -> subprocess.Popen:
    return subprocess.Popen(_cmd(args), env=ENV, cwd=REPO, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)  # fmt: skip


def test_lpn_is_the_same_for_the_same_seed(videos, tmp_path):
    """The LPN is built from the run seed, whatever the RNG held before (it was once built
    before its stage seeded torch, which seeds itself at random per process)."""
    cfg, data = _cfg("reacher_easy", ["lpn.epochs=0.05"]), videos("reacher_easy")
    weights = []
    for noise in (1, 2):
        torch.manual_seed(noise)
        path = ilpo.train_lpn(cfg, data, 0, tmp_path / f"lpn{noise}", progress=False)
        weights.append(torch.load(path, weights_only=False))
    first, second = (w["model"] for w in weights)
    assert first.keys() == second.keys()
    assert all(torch.equal(first[k], second[k]) for k in first)


def test_each_stage_resumes_after_a_kill(videos, tmp_path):
    """The LPN stage, then the online stage: each SIGKILLed after its first checkpoint, rerun with
    the same command, and the run ends with every row exactly once."""
    data = videos("starpilot")
    runs = tmp_path / "runs"
    # rows every 15 vector steps, checkpoints every 10: a checkpoint falls between two rows
    sets = TINY + ["lpn.epochs=25", "lpn.checkpoint_every=20", "lpn.log_every=10",
                   "arn.num_envs=4", "arn.checkpoint_every=10", "arn.log_every=15"]  # fmt: skip
    args = ["run", "--method", "ilpo", "--task", "starpilot", "--videos", str(data.path),
            "--runs-root", str(runs), "--budget", "800", "--eval-every", "200",
            "--eval-episodes", "2", "--no-progress"]  # fmt: skip
    for s in sets:
        args += ["--set", s]
    run = runs / "ilpo" / "starpilot" / "seed0"
    lpn_dir = run / "pretrain" / "lpn"

    _kill_when(lpn_dir / "checkpoints" / "state.pt", _start(args), lambda: True)
    assert not (lpn_dir / ilpo.LPN_ARTIFACT).exists()

    def online_checkpointed() -> bool:
        info = json.loads((run / "run.json").read_text())
        return (info.get("last_checkpoint") or {}).get("step", 0) > 0

    _kill_when(run / "checkpoints" / "state.pt", _start(args), online_checkpointed)
    stage_info = json.loads((lpn_dir / "stage.json").read_text())
    assert stage_info["status"] == "complete" and stage_info["resumes"] == 1

    done = _cli(args, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    info = json.loads((run / "run.json").read_text())
    assert info["status"] == "complete" and len(info["resumes"]) == 1
    metrics = pd.read_csv(run / "metrics.csv")
    assert not metrics.duplicated(["step", "metric"]).any()
    assert sorted(metrics[metrics.metric == "eval/return"].frames) == [200, 400, 600, 800]
    logged = sorted(metrics[metrics.metric == "train/arn_loss"].step)
    assert logged == [*range(60, 800, 60), 800]  # every 15 vector steps of 4 envs, and the end
    stage = pd.read_csv(lpn_dir / "metrics.csv")
    assert not stage.duplicated(["step", "metric"]).any()
    # exact: the envs replayed their actions, the row tallies travelled with the checkpoint,
    # so the online rows are those of a run never killed (timings apart)
    straight = tmp_path / "straight"
    once = _cli([str(straight) if a == str(runs) else a for a in args], timeout=300)
    assert once.returncode == 0, once.stderr[-3000:]

    def values(frame: pd.DataFrame) -> pd.DataFrame:
        kept = frame[frame.metric != "train/env_steps_per_s"].drop(columns="wall_time")
        return kept.reset_index(drop=True)

    pd.testing.assert_frame_equal(values(metrics),
                                  values(pd.read_csv(straight / "ilpo" / "starpilot" / "seed0"
                                                     / "metrics.csv")))  # fmt: skip


def test_missing_or_wrong_videos_fail_with_a_clear_error(videos):
    cfg = _cfg("starpilot")
    with pytest.raises(ValueError, match="pass --videos"):
        ilpo.run("starpilot", 0, cfg, harness=None, videos=None)
    with pytest.raises(TaskMismatchError, match="reacher_easy.*starpilot"):
        ilpo.run("starpilot", 0, cfg, harness=None, videos=videos("reacher_easy"))
    r = _cli(["run", "--method", "ilpo", "--task", "starpilot"])
    assert r.returncode == 2 and "pass --videos" in r.stderr
    r = _cli(["run", "--method", "ilpo", "--task", "starpilot", "--videos",
              str(videos("reacher_easy").path)])  # fmt: skip
    assert r.returncode == 2 and "reacher_easy" in r.stderr and "starpilot" in r.stderr
