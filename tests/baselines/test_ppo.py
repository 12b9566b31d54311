"""PPO on real Procgen with tiny budgets and nets: GAE, reward normalisation, the method
interface, an end-to-end run through the harness, and kill-and-resume of the expert trainer."""

from __future__ import annotations

import csv
import dataclasses
import json
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
import torch

from baselines import ppo
from bcvlr.config import ConfigError, load_config
from bcvlr.experts.train import load_expert
from bcvlr.methods import load_method
from bcvlr.results import load_run
from bcvlr.run.harness import Harness
from bcvlr.tasks import get_task

TASK = "starpilot"  # random-policy episodes are short, so evaluations end quickly
REPO = Path(__file__).resolve().parents[2]
# tiny nets and rollouts: these tests check the plumbing, not the learning
TINY = dict(num_envs=8, num_steps=16, channels=[4, 8, 8], hidden=32, eval_episodes=4,
            torch_threads=1)  # fmt: skip


def _rows(run_dir: Path) -> list[dict]:
    with open(run_dir / "metrics.csv", newline="") as f:
        return list(csv.DictReader(f))


# -- pieces ------------------------------------------------------------------------------------


def _direct_gae(r, v, d, v_next, gamma, lam):
    """A_t = sum_k (gamma lam)^k delta_{t+k}, stopping after the step that ends the episode."""
    T = len(r)
    out = []
    for t in range(T):
        total, coef = 0.0, 1.0
        for k in range(t, T):
            following = v_next if k == T - 1 else v[k + 1]
            total += coef * (r[k] + gamma * following * (1 - d[k]) - v[k])
            if d[k]:
                break
            coef *= gamma * lam
        out.append(total)
    return np.array(out)


def test_gae_equals_direct_computation():
    rewards = torch.tensor([[1.0, 0.0], [0.0, 2.0], [3.0, -1.0], [0.5, 0.0], [0.0, 1.0]])
    values = torch.tensor([[0.2, 0.1], [0.4, -0.3], [1.0, 0.0], [0.3, 0.7], [-0.2, 0.5]])
    # env 0: an episode ends at t=1; env 1: at t=2 and at the last step
    dones = torch.tensor([[0.0, 0.0], [1.0, 0.0], [0.0, 1.0], [0.0, 0.0], [0.0, 1.0]])
    next_value = torch.tensor([0.9, -0.4])
    gamma, lam = 0.9, 0.8
    adv = ppo.gae(rewards, values, dones, next_value, gamma, lam)
    for i in range(2):
        expected = _direct_gae(rewards[:, i].tolist(), values[:, i].tolist(),
                               dones[:, i].tolist(), float(next_value[i]), gamma, lam)  # fmt: skip
        np.testing.assert_allclose(adv[:, i].numpy(), expected, rtol=1e-6, atol=1e-6)
    # lambda = 1 without episode ends: A_0 + V_0 is the discounted return bootstrapped at the end
    r, v = rewards[:, :1], values[:, :1]
    adv1 = ppo.gae(r, v, torch.zeros_like(r), next_value[:1], gamma, 1.0)
    target = sum(gamma**k * float(r[k, 0]) for k in range(5)) + gamma**5 * float(next_value[0])
    assert float(adv1[0, 0] + v[0, 0]) == pytest.approx(target, rel=1e-6)


def test_return_normalizer_tracks_discounted_return_std():
    rng = np.random.default_rng(0)
    norm = ppo.ReturnNormalizer(num_envs=4, gamma=0.9, clip=10.0)
    returns, seen = np.zeros(4), []
    for _ in range(300):
        reward = rng.normal(2.0, 1.0, 4)
        done = rng.random(4) < 0.05
        scaled = norm(reward, done)
        returns = returns * 0.9 + reward
        seen.append(returns.copy())
        returns[done] = 0.0
        # the reward is divided by the std of every return seen so far, this step's included
        assert scaled == pytest.approx(np.clip(reward / np.concatenate(seen).std(), -10, 10),
                                       rel=1e-3)  # fmt: skip
    state = norm.state_dict()
    other = ppo.ReturnNormalizer(num_envs=4, gamma=0.9, clip=10.0)
    other.load_state_dict(state)
    assert other.state_dict() == state
    # clipping
    assert norm(np.full(4, 1e6), np.zeros(4, bool)).max() == 10.0


def test_agent_shapes_and_actions():
    agent = ppo.Agent((3, 64, 64), 15)
    assert agent.encoder.out_dim == 256 and agent.encoder.feature_shape == (32, 8, 8)
    obs = np.random.default_rng(0).integers(0, 256, (5, 3, 64, 64), dtype=np.uint8)
    logits, values = agent(torch.from_numpy(obs))
    assert logits.shape == (5, 15) and values.shape == (5,)
    greedy = agent.act(obs, deterministic=True)
    assert greedy.dtype == np.int64 and greedy.shape == (5,)
    np.testing.assert_array_equal(greedy, logits.argmax(-1).numpy())
    sampled = agent.act(obs)
    assert ((sampled >= 0) & (sampled < 15)).all()


def test_method_interface_and_config():
    mod = load_method("ppo")
    assert mod is ppo and mod.SUITES == ("procgen",)
    cfg = load_config(ppo.Config, None, [], base=ppo.default_config(TASK))
    # cleanrl's ppo_procgen values
    assert (cfg.num_envs, cfg.num_steps, cfg.learning_rate, cfg.num_minibatches) == (
        64,
        256,
        5e-4,
        8,
    )
    assert (cfg.update_epochs, cfg.gamma, cfg.gae_lambda, cfg.clip_coef) == (3, 0.999, 0.95, 0.2)
    assert (cfg.ent_coef, cfg.vf_coef, cfg.max_grad_norm) == (0.01, 0.5, 0.5)
    assert cfg.channels == [16, 32, 32] and cfg.hidden == 256 and cfg.budget is None
    # config/ppo.yaml restates the defaults and leaves the run length alone
    assert (
        load_config(ppo.Config, REPO / "config/ppo.yaml", [], base=ppo.default_config(TASK)) == cfg
    )
    expert = load_config(ppo.Config, REPO / "config/ppo.yaml", [], base=ppo.expert_config(TASK))
    assert expert.budget == 25_000_000
    with pytest.raises(ConfigError, match="num_minibatches"):
        load_config(ppo.Config, None, ["num_minibatches=0"], base=ppo.default_config(TASK))
    with pytest.raises(ValueError, match="procgen"):
        ppo.default_config("reacher_hard")


# -- end to end --------------------------------------------------------------------------------


def test_trains_end_to_end_through_the_harness(tmp_path: Path):
    cfg = ppo.Config(**TINY, budget=8 * 16 * 3, eval_every=8 * 16 * 2)
    with Harness("ppo", TASK, 0, config=dataclasses.asdict(cfg), runs_root=tmp_path,
                 budget=cfg.budget, progress=False) as h:  # fmt: skip
        trained = ppo.run(TASK, 0, cfg, h)
    assert trained.env_steps == 384 and trained.score is not None
    run = load_run(h.path)  # the results schema's check of a complete run
    assert run.complete and run.budget == 384 and run.reduced_budget
    rows = _rows(h.path)
    steps_of = lambda m: [int(r["step"]) for r in rows if r["metric"] == m]  # noqa: E731
    assert steps_of("loss/policy") == [128, 256, 384]
    assert steps_of("perf/sps") == [128, 256, 384]
    assert steps_of("eval/return") == [256, 384]  # every 256 and at the end of the budget
    assert all(np.isfinite(float(r["value"])) for r in rows if r["metric"].startswith("loss/p"))
    assert run.scores()["value"].iloc[-1] == pytest.approx(trained.score)


def test_budget_that_is_not_a_multiple_of_the_rollout(tmp_path: Path):
    # the last rollout is shortened: ceil(200 / 8) = 25 steps per env = 16 + 9
    cfg = ppo.Config(**TINY, budget=200, eval_every=10_000)
    with Harness("ppo", TASK, 0, config=dataclasses.asdict(cfg), runs_root=tmp_path,
                 budget=cfg.budget, progress=False) as h:  # fmt: skip
        trained = ppo.run(TASK, 0, cfg, h)
    assert trained.env_steps == 200
    assert [int(r["step"]) for r in _rows(h.path) if r["metric"] == "eval/return"] == [200]


def _expert_cmd(out: Path) -> list[str]:
    sets = ["budget=2560", "num_envs=8", "num_steps=16", "channels=[4,8,8]", "hidden=32",
            "checkpoint_every=3", "eval_every=1280", "eval_episodes=4", "torch_threads=1"]  # fmt: skip
    cmd = [sys.executable, "-m", "bcvlr.cli", "train-expert", "--task", TASK, "--seed", "0",
           "--out", str(out), "--no-progress"]  # fmt: skip
    for s in sets:
        cmd += ["--set", s]
    return cmd


def test_expert_kill_and_resume(tmp_path: Path):
    out = tmp_path / "expert"
    run_dir = out / ppo.EXPERT_METHOD / TASK / "seed0"
    ckpt = run_dir / "checkpoints" / "state.pt"
    proc = subprocess.Popen(_expert_cmd(out), cwd=REPO, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE)  # fmt: skip
    try:
        # kill between two checkpoints: once one exists and rows were logged after it
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline and proc.poll() is None:
            if ckpt.exists():
                info = json.loads((run_dir / "run.json").read_text())
                last = (info.get("last_checkpoint") or {}).get("step", 0)
                if any(int(r["step"]) > last for r in _rows(run_dir)):
                    break
            time.sleep(0.02)
        assert proc.poll() is None, f"finished before the kill: {proc.stderr.read().decode()}"
        proc.kill()  # SIGKILL: no cleanup runs
        proc.wait()
    finally:
        if proc.poll() is None:
            proc.kill()
    assert not (out / "expert.json").exists()
    killed_at = max(int(r["step"]) for r in _rows(run_dir))

    done = subprocess.run(_expert_cmd(out), cwd=REPO, capture_output=True, text=True,
                          timeout=120)  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]

    info = json.loads((run_dir / "run.json").read_text())
    assert info["status"] == "complete" and len(info["resumes"]) == 1
    resumed = info["resumes"][0]
    assert resumed["checkpoint_step"] % (3 * 128) == 0 and resumed["checkpoint_step"] > 0
    if killed_at > resumed["checkpoint_step"]:
        assert resumed["rows_dropped"] > 0  # rows after the checkpoint were dropped, then redone
    rows = _rows(run_dir)
    pairs = Counter((int(r["step"]), r["metric"]) for r in rows)
    assert max(pairs.values()) == 1, [p for p, c in pairs.items() if c > 1]
    # exact: the games in progress were saved with the checkpoint, so the resumed run logs
    # what a run never killed logs (wall-clock apart)
    straight = subprocess.run(_expert_cmd(tmp_path / "straight"), cwd=REPO, capture_output=True,
                              text=True, timeout=120)  # fmt: skip
    assert straight.returncode == 0, straight.stderr[-3000:]

    def values(rows):
        return {(r["step"], r["metric"]): r["value"] for r in rows
                if not r["metric"].startswith("perf/")}  # fmt: skip

    expected = values(_rows(tmp_path / "straight" / ppo.EXPERT_METHOD / TASK / "seed0"))
    assert values(rows) == expected
    updates = list(range(128, 2561, 128))
    for metric in ("loss/policy", "loss/value", "train/lr", "perf/sps"):
        assert sorted(s for s, m in pairs if m == metric) == updates, metric
    assert sorted(s for s, m in pairs if m == "eval/return") == [1280, 2560]
    load_run(run_dir)

    meta = json.loads((out / "expert.json").read_text())
    assert meta["kind"] == "ppo" and meta["module"] == "baselines.ppo"
    assert meta["env_steps"] == 2560 and meta["budget"] == 2560
    final = [float(r["value"]) for r in rows if r["metric"] == "eval/return"][-1]
    assert meta["score"] == pytest.approx(final)
    expert = load_expert(out, get_task(TASK))
    assert expert.inputs == "frames"
    obs = np.random.default_rng(0).integers(0, 256, (6, 3, 64, 64), dtype=np.uint8)
    actions = expert.act(obs, deterministic=True)
    assert actions.shape == (6,) and ((actions >= 0) & (actions < 15)).all()
    np.testing.assert_array_equal(actions, expert.act(obs, deterministic=True))

    # rerunning a finished command re-exports the same expert and trains nothing
    before = (run_dir / "metrics.csv").read_text()
    again = subprocess.run(_expert_cmd(out), cwd=REPO, capture_output=True, text=True,
                           timeout=120)  # fmt: skip
    assert again.returncode == 0, again.stderr[-3000:]
    assert (run_dir / "metrics.csv").read_text() == before
    assert json.loads((out / "expert.json").read_text())["score"] == meta["score"]


def test_the_device_setting_places_the_agent_and_rollouts_stay_in_host_memory(tmp_path):
    from baselines.ppo import Agent, Config, collect, ppo_update
    from bcvlr.envs import make
    from bcvlr.run.device import resolve_device

    cfg = Config(num_envs=2, num_steps=4, channels=[4], hidden=8, num_minibatches=2,
                 update_epochs=1, device="cpu")  # fmt: skip
    agent = Agent((3, 64, 64), 15, (4,), 8).to(resolve_device(cfg.device))
    env = make("starpilot", num_envs=2, seed=0)
    try:
        rollout, _, _ = collect(agent, env, env.reset(), 4, None, cfg)
    finally:
        env.close()
    assert all(t.device.type == "cpu" for t in (rollout.obs, rollout.values, rollout.advantages))
    assert set(ppo_update(agent, torch.optim.Adam(agent.parameters()), rollout, cfg)) >= {
        "loss/policy", "loss/value"}  # fmt: skip
