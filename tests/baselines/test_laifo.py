"""LAIfO on real simulators with tiny budgets, nets and videos: the discriminator, video checks,
DrQv2 on dm_control and PPO on Procgen learning from D's reward only, and kill-and-resume on
Metaworld through `bcvlr run`."""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
import torch

from baselines import drqv2, laifo, ppo
from bcvlr.config import ConfigError, load_config
from bcvlr.data import TaskMismatchError, VideoDataset
from bcvlr.methods import load_method
from bcvlr.results import load_run
from bcvlr.run.harness import Harness
from tests.baselines.test_ppo import _rows
from tests.method.helpers import random_videos

REPO = Path(__file__).resolve().parents[2]
# tiny nets: these tests check the plumbing, not the learning
TINY = ["hidden_dim=32", "feature_dim=16", "batch_size=16", "disc_hidden_dim=32",
        "seed_frames=200", "log_every=50", "threads=1"]  # fmt: skip
TINY_PPO = ["ppo.num_envs=8", "ppo.num_steps=16", "ppo.channels=[4,8,8]", "ppo.hidden=32",
            "ppo.torch_threads=1", "disc_batch_size=32"]  # fmt: skip


@pytest.fixture(scope="module")
def videos(tmp_path_factory) -> dict[str, VideoDataset]:
    root = tmp_path_factory.mktemp("videos")
    return {t: random_videos(t, root / t, steps=120, max_episode=40)
            for t in ("reacher_easy", "metaworld_reach", "starpilot")}  # fmt: skip


def _cfg(task: str, overrides: list[str]) -> laifo.Config:
    return load_config(laifo.Config, None, overrides, base=laifo.default_config(task))


def _train(tmp_path: Path, task: str, overrides: list[str], videos) -> Harness:
    cfg = _cfg(task, overrides)
    with Harness("laifo", task, 0, config=dataclasses.asdict(cfg), runs_root=tmp_path,
                 budget=cfg.budget, eval_every=cfg.budget, eval_episodes=1,
                 progress=False) as h:  # fmt: skip
        laifo.run(task, 0, cfg, h, videos=videos)
    return h


def test_method_interface_and_config(monkeypatch) -> None:
    monkeypatch.setenv("BCVLR_METHODS", "laifo=baselines.laifo")
    mod = load_method("laifo")
    assert mod is laifo and mod.NEEDS_VIDEOS and set(mod.SUITES) == {"procgen", "dmc", "metaworld"}
    cfg = _cfg("reacher_easy", [])
    # the reference's values (config_lail.yaml, agent/lail.yaml), DrQv2's for the rest
    assert (cfg.disc_lr, cfg.disc_hidden_dim, cfg.grad_penalty) == (4e-4, 1024, 10.0)
    assert (cfg.lr, cfg.batch_size, cfg.nstep, cfg.feature_dim, cfg.hidden_dim) == \
        (1e-4, 256, 3, 50, 1024)  # fmt: skip
    assert (cfg.std_steps, cfg.aug_pad) == (500_000, 4)
    assert _cfg("walker_walk", []).nstep == 1
    assert _cfg("starpilot", []).ppo == ppo.Config(num_envs=64, device="cpu")
    cpu = load_config(laifo.Config, REPO / "config/laifo.yaml", [],
                      base=laifo.default_config("metaworld_reach"))  # fmt: skip
    assert (cpu.batch_size, cpu.disc_hidden_dim, cpu.disc_lr) == (64, 256, 4e-4)
    with pytest.raises(ConfigError, match="pixels"):
        _cfg("reacher_easy", ["obs=states"])
    with pytest.raises(ConfigError, match="disc_lr"):
        _cfg("reacher_easy", ["disc_lr=0"])


def test_discriminator_loss_reward_and_learning() -> None:
    torch.manual_seed(0)
    cfg = laifo.Config(disc_hidden_dim=32)
    disc = laifo.Discriminator(4, cfg, torch.device("cpu"))
    expert, agent = torch.ones(64, 8) * 2, -torch.ones(64, 8) * 2
    with torch.no_grad():
        d_e, d_a = disc.logits(expert), disc.logits(agent)
    logsig = torch.nn.functional.logsigmoid
    bce = -(logsig(d_e).mean() + logsig(-d_a).mean())
    first = disc.update(agent, expert)
    assert first["disc/loss"] == pytest.approx(bce.item(), rel=1e-5)
    assert first["disc/grad_penalty"] >= 0
    for _ in range(100):
        last = disc.update(agent, expert)
    assert last["disc/expert_d"] > 0.75 and last["disc/agent_d"] < 0.25
    pairs = torch.randn(32, 8)
    np.testing.assert_array_equal(disc.reward(pairs), (disc.logits(pairs) > 0).float())
    np.testing.assert_array_equal(disc.reward(torch.cat([expert, agent])),
                                  torch.cat([torch.ones(64), torch.zeros(64)]))  # fmt: skip


def test_missing_or_wrong_videos_fail_clearly(tmp_path: Path, videos) -> None:
    cfg = _cfg("reacher_easy", TINY)
    h = Harness("laifo", "reacher_easy", 0, config=dataclasses.asdict(cfg), runs_root=tmp_path)
    with pytest.raises(ValueError, match="--videos"):
        laifo.run("reacher_easy", 0, cfg, h, videos=None)
    with pytest.raises(TaskMismatchError, match="metaworld_reach"):
        laifo.run("reacher_easy", 0, cfg, h, videos=videos["metaworld_reach"])
    with pytest.raises(TaskMismatchError, match="starpilot"):
        laifo.run("starpilot", 0, _cfg("starpilot", TINY_PPO), h, videos=videos["reacher_easy"])


def test_drqv2_learns_from_the_discriminator_reward_only(tmp_path: Path, videos,
                                                         monkeypatch) -> None:  # fmt: skip
    seen: list[np.ndarray] = []
    update = drqv2.DDPGAgent.update

    def spy(self, batch, step):
        seen.append(batch.reward.copy())
        return update(self, batch, step)

    monkeypatch.setattr(drqv2.DDPGAgent, "update", spy)
    h = _train(tmp_path, "reacher_easy", [*TINY, "budget=400"], videos["reacher_easy"])
    run = load_run(h.path)
    assert run.complete and run.reduced_budget
    rewards = np.concatenate(seen)
    assert len(seen) == (200 - 100) // 2 and set(np.unique(rewards)) <= {0.0, 1.0}
    rows = _rows(h.path)
    for metric in ("disc/loss", "disc/grad_penalty", "disc/expert_d", "disc/agent_d",
                   "train/reward_d", "train/env_reward", "train/critic_loss"):  # fmt: skip
        assert [int(r["step"]) for r in rows if r["metric"] == metric] == [150, 200]
    assert all(np.isfinite(float(r["value"])) for r in rows)
    assert [int(r["frames"]) for r in rows if r["metric"] == "eval/return"] == [400]
    state = torch.load(h.path / "checkpoints/state.pt", weights_only=False)
    assert state["agent"]["updates"] == 50 and "net" in state["agent"]["disc"]


def test_ppo_learns_from_the_discriminator_reward_on_procgen(tmp_path: Path, videos,
                                                             monkeypatch) -> None:  # fmt: skip
    seen: list[tuple[np.ndarray, np.ndarray]] = []
    normalize = ppo.ReturnNormalizer.__call__

    def spy(self, reward, done):
        seen.append((reward.copy(), done.copy()))
        return normalize(self, reward, done)

    monkeypatch.setattr(ppo.ReturnNormalizer, "__call__", spy)
    h = _train(tmp_path, "starpilot", [*TINY_PPO, "budget=384"], videos["starpilot"])
    assert load_run(h.path).complete
    rewards, done = (np.concatenate(x) for x in zip(*seen, strict=True))
    assert len(seen) == 48 and set(np.unique(rewards)) <= {0.0, 1.0}
    assert (rewards[done] == 0).all()  # no last frame from Procgen: no reward from D
    rows = _rows(h.path)
    for metric in ("disc/loss", "disc/expert_d", "disc/agent_d", "train/reward_d", "loss/policy"):
        assert [int(r["step"]) for r in rows if r["metric"] == metric] == [128, 256, 384]
    assert [int(r["step"]) for r in rows if r["metric"] == "eval/return"] == [384]
    state = torch.load(h.path / "checkpoints/state.pt", weights_only=False)
    assert state["hooks"]["updates"] == 3


def _cli(runs: Path, videos: Path) -> list[str]:
    cmd = [sys.executable, "-m", "bcvlr.cli", "run", "--method", "laifo", "--task",
           "metaworld_reach", "--videos", str(videos), "--runs-root", str(runs), "--budget",
           "600", "--eval-every", "300", "--eval-episodes", "1", "--no-progress"]  # fmt: skip
    for s in [*TINY, "checkpoint_every=50"]:
        cmd += ["--set", s]
    return cmd


def _checkpointed_and_went_on(run_dir: Path, after: int) -> bool:
    """A checkpoint at a step >= ``after`` exists and rows were logged past it."""
    try:
        last = json.loads((run_dir / "run.json").read_text())["last_checkpoint"]["step"]
        return last >= after and any(int(r["step"]) > last for r in _rows(run_dir))
    except (FileNotFoundError, KeyError, TypeError, ValueError):
        return False  # not yet: no run.json, no checkpoint, or a row being written


def test_kill_and_resume_through_the_cli(tmp_path: Path, videos) -> None:
    cmd = _cli(tmp_path / "runs", videos["metaworld_reach"].path)
    env = os.environ | {"BCVLR_METHODS": "laifo=baselines.laifo", "OMP_NUM_THREADS": "1"}
    run_dir = tmp_path / "runs/laifo/metaworld_reach/seed0"
    proc = subprocess.Popen(cmd, cwd=REPO, env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE)  # fmt: skip
    try:
        deadline = time.monotonic() + 300
        while proc.poll() is None and not _checkpointed_and_went_on(run_dir, after=150):
            assert time.monotonic() < deadline, "no checkpoint after the first updates in 300 s"
            time.sleep(0.02)
        assert proc.poll() is None, f"finished before the kill: {proc.stderr.read().decode()}"
        proc.kill()  # SIGKILL between two checkpoints: no cleanup runs
        proc.wait()
    finally:
        if proc.poll() is None:
            proc.kill()
    assert json.loads((run_dir / "run.json").read_text())["status"] == "running"

    done = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    info = json.loads((run_dir / "run.json").read_text())
    assert info["status"] == "complete" and len(info["resumes"]) == 1
    assert info["resumes"][0]["checkpoint_step"] >= 150
    rows = _rows(run_dir)
    pairs = Counter((int(r["step"]), r["metric"]) for r in rows)
    assert max(pairs.values()) == 1, [p for p, c in pairs.items() if c > 1]
    for metric in ("disc/loss", "disc/agent_d", "train/reward_d", "train/critic_loss"):
        assert sorted(s for s, m in pairs if m == metric) == list(range(150, 301, 50)), metric
    assert sorted(s for s, m in pairs if m == "eval/success") == [150, 300]
    load_run(run_dir)
    # exact on Metaworld too: the env replayed its actions, so the rows are a straight run's
    straight = subprocess.run(_cli(tmp_path / "straight", videos["metaworld_reach"].path),
                              cwd=REPO, env=env, capture_output=True, text=True, timeout=300)  # fmt: skip
    assert straight.returncode == 0, straight.stderr[-3000:]

    def values(rows: list[dict]) -> dict:
        return {(r["step"], r["metric"]): r["value"] for r in rows
                if r["metric"] != "train/steps_per_s"}  # fmt: skip

    assert values(rows) == values(_rows(tmp_path / "straight/laifo/metaworld_reach/seed0"))
    # the discriminator went on from the checkpoint: one update every 2 steps after step 100
    state = torch.load(run_dir / "checkpoints/state.pt", weights_only=False)
    assert state["agent"]["updates"] == 100
