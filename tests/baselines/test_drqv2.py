"""The DDPG/DrQv2 agent end to end on real dm_control (tiny budgets), and kill-and-resume."""

from __future__ import annotations

import csv
import dataclasses
import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
import torch

from baselines import drqv2
from bcvlr.config import load_config
from bcvlr.data.replay import Batch
from bcvlr.methods import load_method
from bcvlr.run.harness import Harness

TASK = "reacher_easy"
# tiny nets and budgets: the test checks the plumbing, not the learning
TINY = ["hidden_dim=32", "feature_dim=16", "batch_size=32", "log_every=50", "threads=1"]


def _values(rows: list[dict]) -> dict:
    """(step, metric) -> value, timings apart: what two runs of one seed must share."""
    return {(r["step"], r["metric"]): r["value"] for r in rows
            if r["metric"] != "train/steps_per_s"}  # fmt: skip


def _rows(run_dir: Path) -> list[dict]:
    with open(run_dir / "metrics.csv", newline="") as f:
        return list(csv.DictReader(f))


def _train(tmp_path: Path, overrides: list[str]) -> Harness:
    cfg = load_config(drqv2.Config, None, TINY + overrides, base=drqv2.default_config(TASK))
    with Harness("drqv2", TASK, 0, config=dataclasses.asdict(cfg), runs_root=tmp_path,
                 budget=cfg.budget, eval_every=cfg.eval_every, eval_episodes=1,
                 progress=False) as h:  # fmt: skip
        drqv2.run(TASK, 0, cfg, h)
    return h


def test_method_interface() -> None:
    mod = load_method("drqv2")
    assert mod is drqv2 and mod.SUITES == ("dmc", "metaworld")
    cfg = load_config(mod.Config, None, [], base=mod.default_config(TASK))
    # DrQv2's values; reacher is one of its "medium" tasks
    assert (cfg.lr, cfg.batch_size, cfg.nstep, cfg.gamma, cfg.tau) == (1e-4, 256, 3, 0.99, 0.01)
    assert (cfg.std_steps, cfg.seed_frames, cfg.hidden_dim, cfg.aug_pad) == (500_000, 4000, 1024, 4)
    assert load_config(mod.Config, None, [], base=mod.default_config("finger_spin")).std_steps \
        == 100_000  # fmt: skip
    yaml_cfg = load_config(mod.Config, "config/drqv2.yaml", [], base=mod.default_config(TASK))
    assert yaml_cfg == cfg


@pytest.mark.parametrize("obs, budget", [("states", 800), ("pixels", 400)])
def test_trains_end_to_end_through_the_harness(tmp_path: Path, obs: str, budget: int) -> None:
    h = _train(tmp_path, [f"obs={obs}", f"budget={budget}", "seed_frames=200",
                          f"eval_every={budget // 2}", "batch_size=16"])  # fmt: skip
    info = json.loads((h.path / "run.json").read_text())
    assert info["status"] == "complete" and info["config"]["obs"] == obs
    rows = _rows(h.path)
    evals = [r for r in rows if r["metric"] == "eval/return"]
    assert [int(r["frames"]) for r in evals] == [budget // 2, budget]
    assert all(0.0 <= float(r["value"]) <= 1000.0 for r in evals)
    assert any(r["metric"] == "train/critic_loss" for r in rows)
    assert all(np.isfinite(float(r["value"])) for r in rows)
    assert (h.path / "checkpoints/state.pt").exists()


SCRIPT = """
import sys
from baselines.drqv2 import train_expert
train_expert("reacher_easy", kind="ddpg_states", seed=0, out=sys.argv[1], progress=False,
             overrides=sys.argv[2:])
"""


def test_expert_kill_and_resume_has_no_duplicate_or_missing_rows(tmp_path: Path) -> None:
    out = tmp_path / "expert"
    overrides = TINY + ["budget=2000", "seed_frames=200", "eval_every=400", "eval_episodes=1",
                        "checkpoint_every=100"]  # fmt: skip
    cmd = [sys.executable, "-c", SCRIPT, str(out), *overrides]
    env = os.environ | {"MUJOCO_GL": "egl", "OMP_NUM_THREADS": "1"}
    run_dir = out / "expert_ddpg_states" / TASK / "seed0"
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        # Kill once a checkpoint exists and rows were logged after it may be.
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline and proc.poll() is None:
            csv_path = run_dir / "metrics.csv"
            if (run_dir / "checkpoints/state.pt").exists() and csv_path.exists() \
                    and "eval/return" in csv_path.read_text():  # fmt: skip
                break
            time.sleep(0.05)
        assert proc.poll() is None, f"finished before the kill: {proc.stderr.read().decode()}"
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    finally:
        if proc.poll() is None:
            proc.kill()
    assert json.loads((run_dir / "run.json").read_text())["status"] == "running"
    assert not (out / "expert.json").exists()

    done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    info = json.loads((run_dir / "run.json").read_text())
    assert info["status"] == "complete" and len(info["resumes"]) == 1
    rows = _rows(run_dir)
    dup = [k for k, n in Counter((r["step"], r["metric"]) for r in rows).items() if n > 1]
    assert not dup, f"duplicate rows: {dup}"
    evals = [int(r["frames"]) for r in rows if r["metric"] == "eval/return"]
    assert evals == [400, 800, 1200, 1600, 2000]
    steps = [int(r["step"]) for r in rows]
    assert steps == sorted(steps)
    # training metrics every log_every steps once updates started, none missing
    logged = sorted(int(r["step"]) for r in rows if r["metric"] == "train/critic_loss")
    assert logged == list(range(150, 1001, 50))  # updates start after step 100
    # exact: the env replayed its actions, so the rows are those of a run never killed
    straight = tmp_path / "straight"
    once = subprocess.run([*cmd[:3], str(straight), *cmd[4:]], env=env, capture_output=True,
                          text=True, timeout=600)  # fmt: skip
    assert once.returncode == 0, once.stderr[-3000:]
    assert _values(rows) == _values(_rows(straight / "expert_ddpg_states" / TASK / "seed0"))

    # the expert is written and acts on states
    meta = json.loads((out / "expert.json").read_text())
    final = [float(r["value"]) for r in rows if r["metric"] == "eval/return"][-1]
    assert meta["kind"] == "ddpg_states" and meta["final_score"] == final
    from bcvlr.experts.train import load_expert

    expert = load_expert(out)
    assert expert.inputs == "states"
    action = expert.act(np.zeros((3, *meta["obs_shape"]), np.float32))
    assert action.shape == (3, 2) and np.all(np.abs(action) <= 1.0)
    # a finished expert is not trained again
    again = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    assert again.returncode == 0 and len(_rows(run_dir)) == len(rows)


@pytest.mark.parametrize("actor_trunk", ["own", "critic"])
def test_the_actor_reads_its_own_trunk_or_the_critics(actor_trunk: str) -> None:
    """LAIfO's reference actor reads the critic-trained trunk (detached); DrQv2's its own."""
    cfg = load_config(drqv2.Config, None, TINY + ["channels=4", "device=cpu",
                                                  f"actor_trunk={actor_trunk}"],
                      base=drqv2.default_config(TASK))  # fmt: skip
    agent = drqv2.DDPGAgent((9, 64, 64), 2, cfg)
    obs = np.random.default_rng(0).integers(0, 255, (3, 9, 64, 64), dtype=np.uint8)
    before = agent.act(obs, 0, deterministic=True)
    with torch.no_grad():
        agent.critic.trunk[0].weight.add_(1.0)
    moved = not np.allclose(agent.act(obs, 0, deterministic=True), before)
    assert moved == (actor_trunk == "critic")
    own = {n.split(".")[0] for n, _ in agent.actor.named_parameters()}
    assert own == ({"trunk", "policy"} if actor_trunk == "own" else {"policy"})
    if actor_trunk == "critic":  # the action reads the trunk without training it
        h = agent.encoder(agent._tensor(obs)).detach()
        agent.actor(agent._actor_input(h), 0.1).mean.sum().backward()
        assert all(p.grad is None for p in agent.critic.trunk.parameters())
        assert all(p.grad is not None for p in agent.actor.parameters())


@pytest.mark.parametrize("actor_trunk", ["own", "critic"])
def test_the_actor_learns_on_trunk_features_from_before_or_after_the_critic_step(
        actor_trunk: str) -> None:  # fmt: skip
    """LAIfO's reference encodes once (its trunk inside the encoder) and gives the actor those
    features after the critic's step; DrQv2's actor update runs the critic's updated trunk."""
    cfg = load_config(drqv2.Config, None, TINY + ["channels=4", "device=cpu", "batch_size=4",
                                                  f"actor_trunk={actor_trunk}"],
                      base=drqv2.default_config(TASK))  # fmt: skip
    agent = drqv2.DDPGAgent((9, 64, 64), 2, cfg)
    rng = np.random.default_rng(0)
    batch = Batch(obs=rng.integers(0, 255, (4, 9, 64, 64), dtype=np.uint8),
                  action=rng.uniform(-1, 1, (4, 2)).astype(np.float32),
                  reward=np.ones(4, np.float32), discount=np.full(4, 0.99, np.float32),
                  next_obs=rng.integers(0, 255, (4, 9, 64, 64), dtype=np.uint8))  # fmt: skip
    seen: list[torch.Tensor] = []
    heads = agent.critic.q
    agent.critic.q = lambda z, a: seen.append(z.detach().clone()) or heads(z, a)
    agent.update(batch, 0)
    critic_z, actor_z = seen[0], seen[-1]  # the critic loss's call, then the actor loss's
    assert len(seen) == 2 and critic_z.shape == actor_z.shape == (4, cfg.feature_dim)
    assert torch.equal(critic_z, actor_z) == (actor_trunk == "critic")
