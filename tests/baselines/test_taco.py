"""TACO: its config, the replay's action sequences, the agent's losses and state, end to end on
real dm_control and Metaworld (tiny budgets), and kill-and-resume through `bcvlr run`."""

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

from baselines import taco
from bcvlr.config import ConfigError, load_config
from bcvlr.data.replay import ReplayBuffer
from bcvlr.methods import load_method
from bcvlr.results import load_run
from bcvlr.run.harness import Harness
from tests.baselines.test_drqv2 import _rows

REPO = Path(__file__).resolve().parents[2]
METHODS_ENV = {"BCVLR_METHODS": "taco=baselines.taco"}  # until bcvlr/methods.py lists it
# tiny nets and budgets: these tests check the plumbing, not the learning
TINY = ["hidden_dim=32", "feature_dim=16", "batch_size=16", "channels=8", "threads=1"]


def test_method_interface_and_config(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BCVLR_METHODS", METHODS_ENV["BCVLR_METHODS"])
    mod = load_method("taco")
    assert mod.SUITES == ("dmc", "metaworld") and not mod.NEEDS_VIDEOS
    cfg = load_config(taco.Config, None, [], base=taco.default_config("reacher_easy"))
    # TACO's cfgs: agent/taco.yaml over DrQv2's config.yaml and task files
    assert (cfg.batch_size, cfg.lr, cfg.encoder_lr, cfg.multistep, cfg.nstep) == (
        1024, 1e-4, 1e-4, 3, 3)  # fmt: skip
    assert (cfg.feature_dim, cfg.hidden_dim, cfg.std_steps, cfg.seed_frames) == (
        50, 1024, 500_000, 4000)  # fmt: skip
    assert cfg.curl and cfg.reward_head and cfg.latent_action_dim is None
    walker = load_config(taco.Config, None, [], base=taco.default_config("walker_walk"))
    assert (walker.nstep, walker.batch_size) == (1, 1024)  # TACO's batch wins over walker's 512
    assert load_config(taco.Config, REPO / "config/taco.yaml", [],
                       base=taco.default_config("reacher_easy")) == cfg  # fmt: skip
    with pytest.raises(ConfigError, match="pixels"):
        load_config(taco.Config, None, ["obs=states"], base=taco.default_config("reacher_easy"))
    with pytest.raises(ConfigError, match="multistep"):
        load_config(taco.Config, None, ["multistep=0"], base=taco.default_config("reacher_easy"))


def test_replay_action_sequences_stay_inside_their_episode() -> None:
    # Each write's observation is a global counter (slot = counter % capacity); the action that
    # led to it is the same counter. Episodes of 2..9 steps, half of them ending at a terminal,
    # in a buffer that wraps around several times.
    K, cap = 3, 40
    buf = ReplayBuffer(cap, (1,), 1, obs_dtype=np.float32, nstep=2)
    rng, episode = np.random.default_rng(0), {}
    counter = 0
    for ep in range(30):
        length, terminal = int(rng.integers(2, 10)), bool(rng.random() < 0.5)
        for t in range(length + 1):
            episode[counter] = ep
            obs = np.array([counter], np.float32)
            if t == 0:
                buf.add_first(obs)
            else:
                buf.add(obs, 0.0, 0.0 if terminal and t == length else 1.0, obs)
            counter += 1
        for seed in range(3):  # sample while the buffer fills and wraps
            plain = buf.sample(64, np.random.default_rng(seed))
            batch = buf.sample(64, np.random.default_rng(seed), seq_len=K)
            t0 = batch.obs[:, 0].astype(int)
            np.testing.assert_array_equal(batch.action_seq[:, :, 0], t0[:, None] + 1 + np.arange(K))
            np.testing.assert_array_equal(batch.future_obs[:, 0], t0 + K)
            assert all(episode[a] == episode[a + K] for a in t0)
            np.testing.assert_array_equal(batch.action, batch.action_seq[:, 0])
            # the same first draw: only starts without K more steps were redrawn
            slots = plain.obs[:, 0].astype(int) % cap
            keep = buf._spans(slots, K)
            np.testing.assert_array_equal(batch.obs[keep], plain.obs[keep])
    # every start with K more steps in its episode is drawn, uniformly
    eligible = np.flatnonzero(buf.valid)
    eligible = eligible[buf._spans(eligible, K)]
    drawn = buf.sample(20_000, np.random.default_rng(1), seq_len=K).obs[:, 0]
    expect = np.sort(buf.frames[eligible, 0])
    assert 0 < len(expect) < len(np.flatnonzero(buf.valid))  # some were excluded
    np.testing.assert_array_equal(np.unique(drawn), expect)
    counts = np.array(list(Counter(drawn.tolist()).values()))
    assert counts.min() > 0.7 * 20_000 / len(expect)
    # without seq_len the batch is what DrQv2 always got
    plain = buf.sample(8, np.random.default_rng(2))
    assert plain.action_seq is None and plain.future_obs is None


def test_agent_losses_train_the_encoders_and_state_roundtrips() -> None:
    cfg = load_config(taco.Config, None, TINY, base=taco.default_config("reacher_easy"))
    torch.manual_seed(0)
    agent = taco.TACOAgent((9, 64, 64), 2, cfg)
    assert agent.action_encoder.one[-1].out_features == int(2 * 1.25) + 1
    # the action encoder is shared by both critics and not Polyak-averaged
    assert not any(p is q for p in agent.critic.parameters()
                   for q in agent.action_encoder.parameters())  # fmt: skip
    assert len(list(agent.critic.parameters())) == len(list(agent.critic_target.parameters()))
    buf = ReplayBuffer(100, (9, 64, 64), 2, frame_stack=3, nstep=3)
    rng = np.random.default_rng(0)
    buf.add_first(rng.integers(0, 256, (9, 64, 64), dtype=np.uint8))
    for _ in range(30):
        buf.add(rng.uniform(-1, 1, 2), rng.random(), 1.0,
                rng.integers(0, 256, (9, 64, 64), dtype=np.uint8))  # fmt: skip
    batch = agent.sample(buf, rng)
    assert batch.action_seq.shape == (16, 3, 2) and batch.future_obs.shape == (16, 9, 64, 64)
    before = {n: p.detach().clone() for n, p in agent.heads.named_parameters()}
    enc = [p.detach().clone() for p in agent.action_encoder.parameters()]
    metrics = agent.update_taco(batch)
    assert set(metrics) == {"train/taco_loss", "train/curl_loss", "train/reward_loss"}
    assert all(np.isfinite(v) for v in metrics.values())
    assert all(not torch.equal(before[n], p) for n, p in agent.heads.named_parameters())
    assert all(not torch.equal(a, b) for a, b in zip(enc, agent.action_encoder.parameters(),
                                                     strict=True))  # fmt: skip
    metrics = agent.update(batch, step=0)
    assert {"train/critic_loss", "train/taco_loss"} <= set(metrics)

    # a fresh agent loaded from the state acts and scores the same, heads included
    with torch.random.fork_rng():
        torch.manual_seed(1)
        other = taco.TACOAgent((9, 64, 64), 2, cfg)
    other.load_state_dict(agent.state_dict())
    obs = batch.obs[:4]
    np.testing.assert_array_equal(agent.act(obs, 0, True), other.act(obs, 0, True))
    h = agent.encoder(torch.as_tensor(obs).float())
    a = torch.as_tensor(batch.action[:4])
    for x, y in zip(agent.critic_target(h, a), other.critic_target(h, a), strict=True):
        torch.testing.assert_close(x, y)
    torch.testing.assert_close(agent.heads.W, other.heads.W)
    assert len(other.taco_opt.state_dict()["state"]) == len(agent.taco_opt.state_dict()["state"])
    with pytest.raises(ValueError, match="seq_len"):
        agent.update_taco(buf.sample(4, rng))


@pytest.mark.parametrize("task", ["reacher_easy", "metaworld_reach"])
def test_trains_end_to_end_through_the_harness(tmp_path: Path, task: str) -> None:
    cfg = load_config(taco.Config, None, TINY + ["budget=300", "seed_frames=100", "log_every=25"],
                      base=taco.default_config(task))  # fmt: skip
    with Harness("taco", task, 0, config=dataclasses.asdict(cfg), runs_root=tmp_path,
                 budget=cfg.budget, eval_every=300, eval_episodes=1, progress=False) as h:  # fmt: skip
        taco.run(task, 0, cfg, h)
    run = load_run(h.path)
    assert run.complete and run.budget == 300 and run.reduced_budget
    rows = _rows(h.path)
    metric = "eval/success" if task.startswith("metaworld") else "eval/return"
    assert [int(r["frames"]) for r in rows if r["metric"] == metric] == [300]
    for m in ("train/taco_loss", "train/curl_loss", "train/reward_loss", "train/critic_loss"):
        # updates start after 50 policy steps; rows every 25
        assert [int(r["step"]) for r in rows if r["metric"] == m] == [75, 100, 125, 150], m
    assert all(np.isfinite(float(r["value"])) for r in rows)


def _cmd(runs: Path) -> list[str]:
    cmd = [sys.executable, "-m", "bcvlr.cli", "run", "--method", "taco", "--task", "reacher_easy",
           "--seed", "0", "--runs-root", str(runs), "--budget", "600", "--eval-every", "600",
           "--eval-episodes", "1", "--no-progress"]  # fmt: skip
    for s in TINY + ["seed_frames=200", "log_every=25", "checkpoint_every=50"]:
        cmd += ["--set", s]
    return cmd


def test_kill_and_resume_has_no_duplicate_or_missing_rows(tmp_path: Path) -> None:
    run_dir = tmp_path / "taco" / "reacher_easy" / "seed0"
    env = os.environ | METHODS_ENV | {"MUJOCO_GL": "egl", "OMP_NUM_THREADS": "1"}
    proc = subprocess.Popen(_cmd(tmp_path), cwd=REPO, env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE)  # fmt: skip
    try:
        # SIGKILL between two checkpoints, once TACO has updated the checkpointed state
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline and proc.poll() is None:
            info_path = run_dir / "run.json"
            if info_path.exists() and (run_dir / "metrics.csv").exists():
                last = (json.loads(info_path.read_text()).get("last_checkpoint") or {}).get("step")
                if last and last > 100 and any(int(r["step"]) > last for r in _rows(run_dir)):
                    break
            time.sleep(0.05)
        assert proc.poll() is None, f"finished before the kill: {proc.stderr.read().decode()}"
        proc.kill()
        proc.wait()
    finally:
        if proc.poll() is None:
            proc.kill()
    done = subprocess.run(_cmd(tmp_path), cwd=REPO, env=env, capture_output=True, text=True,
                          timeout=120)  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    info = json.loads((run_dir / "run.json").read_text())
    assert info["status"] == "complete" and len(info["resumes"]) == 1
    assert info["resumes"][0]["checkpoint_step"] > 100  # resumed with TACO's trained state
    rows = _rows(run_dir)
    pairs = Counter((int(r["step"]), r["metric"]) for r in rows)
    assert max(pairs.values()) == 1, [p for p, n in pairs.items() if n > 1]
    assert sorted(int(r["frames"]) for r in rows if r["metric"] == "eval/return") == [600]
    for m in ("train/taco_loss", "train/curl_loss", "train/reward_loss"):
        assert sorted(s for s, name in pairs if name == m) == list(range(125, 301, 25)), m
    # exact: the env replayed its actions, so the rows are those of a run never killed
    straight = tmp_path / "straight"
    once = subprocess.run(_cmd(straight), cwd=REPO, env=env, capture_output=True, text=True,
                          timeout=120)  # fmt: skip
    assert once.returncode == 0, once.stderr[-3000:]

    def values(rows: list[dict]) -> dict:
        return {(r["step"], r["metric"]): r["value"] for r in rows
                if r["metric"] != "train/steps_per_s"}  # fmt: skip

    assert values(rows) == values(_rows(straight / "taco" / "reacher_easy" / "seed0"))
