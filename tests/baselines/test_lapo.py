"""LAPO and LAPO-BC on real Procgen at a tiny size: the configuration (LAPO's values), the
rescaled schedules, the labelling of the agent's own transitions, the stage-3 agent, both
variants end to end through `bcvlr run`, resume after a kill in each stage, and bad videos."""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from torch import nn

from baselines import lapo, lapo_bc
from bcvlr.config import ConfigError, load_config
from bcvlr.data import TaskMismatchError
from bcvlr.run.harness import Harness
from bcvlr.tasks import get_task
from tests.method.helpers import random_videos
from tests.method.test_bcvlr_e2e import _kill_when

REPO = Path(__file__).resolve().parents[2]
TASK = "starpilot"
# tiny nets and budgets: these tests check the plumbing, not the learning
TINY = ["latent_actions.updates=20", "latent_actions.batch_size=8",
        "latent_actions.idm_channels=[4,8,8]", "latent_actions.idm_hidden=16",
        "latent_actions.wm_base_channels=4", "latent_actions.latent_dim=16",
        "diagnostics.probe_every=10", "diagnostics.probe_windows=64",
        "diagnostics.probe_decoder_updates=32",
        "policy.channels=[4,8,8]", "policy.hidden=16", "policy.updates=20",
        "policy.batch_size=8", "online.num_envs=4", "online.num_steps=16",
        "online.decoder_hidden=[16]", "online.decoder_batch_size=32",
        "online.bc_batch_size=8", "online.bc_steps=2",
        "online.checkpoint_every=1", "checkpoint_every=5",
        "online.schedule=rescaled"]  # fmt: skip  # LAPO's own starts at 25k steps
BUDGET = 4 * 16 * 4  # four iterations of 4 envs x 16 steps
METHODS_ENV = "lapo=baselines.lapo,lapo_bc=baselines.lapo_bc"


@pytest.fixture(scope="module")
def videos(tmp_path_factory):
    return random_videos(TASK, tmp_path_factory.mktemp("videos"), steps=300)


def _cli(method: str, videos_path: Path | None, runs: Path, *sets: str) -> list[str]:
    cmd = [sys.executable, "-m", "bcvlr.cli", "run", "--method", method, "--task", TASK,
           "--seed", "0", "--runs-root", str(runs), "--budget", str(BUDGET),
           "--eval-episodes", "2", "--eval-every", str(BUDGET // 2), "--no-progress"]  # fmt: skip
    if videos_path is not None:
        cmd += ["--videos", str(videos_path)]
    for item in TINY + list(sets):
        cmd += ["--set", item]
    return cmd


def _env() -> dict[str, str]:
    return os.environ | {"BCVLR_METHODS": METHODS_ENV, "OMP_NUM_THREADS": "1"}


# -- configuration and schedules ---------------------------------------------------------------


def test_config_holds_lapo_values_and_the_yaml_restates_them():
    cfg = load_config(lapo.Config, None, [], base=lapo.default_config(TASK))
    la, pc, oc = cfg.latent_actions, cfg.policy, cfg.online
    assert cfg.variant == "rl" and cfg.budget is None
    assert (la.window, la.updates, la.batch_size, la.idm_lr, la.grad_clip) == (3, 50_000, 128,
                                                                              3e-4, 2.0)  # fmt: skip
    assert (la.idm_channels, la.idm_hidden, la.wm_base_channels, la.wm_bounded_output) == (
        (64, 128, 128), 256, 24, True)  # fmt: skip
    assert (la.latent_dim, la.vq_codebooks, la.vq_positions, la.vq_embeddings) == (128, 2, 4, 64)
    assert (la.vq_decay, la.vq_commitment) == (0.999, 0.05)
    assert (pc.channels, pc.hidden, pc.updates, pc.batch_size, pc.lr) == ([64, 128, 128], 256,
                                                                          60_000, 128, 2e-4)  # fmt: skip
    assert (oc.num_envs, oc.num_steps, oc.num_minibatches, oc.update_epochs) == (64, 64, 8, 3)
    assert (oc.ent_coef, oc.gamma, oc.gae_lambda, oc.clip_coef, oc.lr) == (0.0025, 0.999, 0.95,
                                                                           0.2, 1e-2)  # fmt: skip
    assert oc.decoder_hidden == [192, 128, 64] and oc.label_smoothing == 0.05
    assert load_config(lapo.Config, REPO / "config/lapo.yaml", [],
                       base=lapo.default_config(TASK)) == cfg  # fmt: skip
    bc = load_config(lapo_bc.Config, REPO / "config/lapo_bc.yaml", [],
                     base=lapo_bc.default_config(TASK))  # fmt: skip
    assert bc == dataclasses.replace(cfg, variant="bc")
    assert lapo_bc.SUITES == lapo.SUITES == ("procgen",) and lapo_bc.NEEDS_VIDEOS
    with pytest.raises(ConfigError, match="window"):
        load_config(lapo.Config, None, ["latent_actions.window=2"], base=lapo.default_config(TASK))
    with pytest.raises(ConfigError, match="head_lr"):
        load_config(lapo.Config, None, ["online.head_lr=[60000,50000,0.25]"],
                    base=lapo.default_config(TASK))  # fmt: skip
    with pytest.raises(ValueError, match="procgen"):
        lapo.default_config("reacher_easy")


def test_literal_schedules_are_lapos_own():
    """stage3_decoding.py: PLS([0, 35k, 50k, 4M], [0, 0, lr/4, 0]) etc., and the decoder
    retrained when 10k < step < 400k and (step < 50k or update % 20 == 0)."""
    s = lapo.Schedule(lapo.OnlineConfig(), 100_000)
    assert s.lr("head_lr", 35_000) == 0.0 and s.lr("head_lr", 50_000) == pytest.approx(2.5e-3)
    assert s.lr("value_lr", 25_000) == 0.0 and s.lr("fc_lr", 50_000) == 0.0
    assert s.lr("head_lr", 100_000) == pytest.approx(2.5e-3 * (4e6 - 1e5) / (4e6 - 5e4))
    assert s.lr("fc_lr", 100_000) == pytest.approx(1e-3 * 5e4 / 1.5e5)
    assert not s.decoder_due(2, 8_192) and s.decoder_due(3, 12_288) and s.decoder_due(12, 49_152)
    assert not s.decoder_due(13, 53_248) and s.decoder_due(20, 81_920)


@pytest.mark.parametrize(("budget", "schedule", "refused"), [
    (25_600, "literal", True), (35_000, "literal", True), (35_001, "literal", False),
    (25_600, "rescaled", False)])  # fmt: skip
def test_a_literal_schedule_must_reach_the_action_heads_start(budget, schedule, refused):
    cfg = load_config(lapo.Config, None, [f"online.schedule={schedule}"],
                      base=lapo.default_config(TASK))  # fmt: skip
    if refused:
        with pytest.raises(ConfigError, match=f"budget {budget} ends before online.head_lr"):
            lapo.check_run(cfg, get_task(TASK), budget)
    else:
        lapo.check_run(cfg, get_task(TASK), budget)


def test_the_schedule_kind_is_checked():
    with pytest.raises(ConfigError, match="online.schedule must be literal or rescaled"):
        load_config(lapo.Config, None, ["online.schedule=scaled"], base=lapo.default_config(TASK))


def test_schedules_are_lapos_rescaled_to_the_budget():
    oc = lapo.OnlineConfig(schedule="rescaled")
    s = lapo.Schedule(oc, 100_000)  # a quarter of LAPO's 400k decoder phase
    assert s.lr("head_lr", 8_750) == 0.0 and s.lr("value_lr", 6_250) == 0.0
    assert s.lr("head_lr", 12_500) == pytest.approx(0.25 * 1e-2)
    assert s.lr("value_lr", 12_500) == pytest.approx(0.25 * 1e-2)
    assert s.lr("fc_lr", 12_500) == 0.0 and s.lr("fc_lr", 50_000) == pytest.approx(1e-3)
    assert s.lr("fc_lr", 100_000) == 0.0
    assert s.lr("head_lr", 75_000) == pytest.approx(2.5e-3 * 25_000 / 87_500)
    # retrained after each iteration from 2.5k to 12.5k steps, then every 5th until 100k
    assert not s.decoder_due(0, 2_000)
    assert [s.decoder_due(i, 4096 * i) for i in range(1, 7)] == [True, True, True, False, True,
                                                                 False]  # fmt: skip
    assert not s.decoder_due(25, 100_032)


def test_own_transitions_are_labelled_inside_episodes():
    """Frames encode (t, env); windows must be (t-1, t, t+1) of one episode, across rollouts."""

    class Echo(nn.Module):  # "latent" = the three frames' time codes
        def __init__(self):
            super().__init__()
            self.to_latent = nn.Linear(1, 1)

        def latent(self, feats):
            return torch.round((feats[:, :, 0, 0, 0] + 0.5) * 255)

    def frames(ts, n=3):
        out = np.zeros((len(ts), n, 1, 2, 2), np.uint8)
        out[:, :, 0] = np.asarray(ts)[:, None, None, None]
        return out

    data = lapo.Transitions()
    dones = np.zeros((4, 3), bool)
    dones[1, 0] = True  # env 0's episode ends with the action at t=1
    obs = torch.from_numpy(frames([10, 11, 12, 13]))
    actions = torch.arange(12).view(4, 3)
    data.add(Echo(), obs, frames([14])[0], actions, dones)
    z, a = data.tensors()
    # t=0 has no o_t-1; env 0 loses t=1 (o_t+1 is a new episode) and t=2 (o_t-1 is the old one)
    assert len(a) == 3 * 3 - 2
    assert all(int(w[1]) == w[0] + 1 == w[2] - 1 for w in z.tolist())
    env0 = z[a % 3 == 0].tolist()
    assert [w[1] for w in env0] == [13.0]
    # the next rollout continues the windows of the previous one
    data.add(Echo(), torch.from_numpy(frames([14, 15])), frames([16])[0],
             torch.arange(6).view(2, 3), np.zeros((2, 3), bool))  # fmt: skip
    z, _ = data.tensors()
    assert sorted(w[1] for w in z[-6:].tolist()) == [14.0] * 3 + [15.0] * 3
    restored = lapo.Transitions()
    restored.load_state_dict(data.state_dict())
    assert torch.equal(restored.tensors()[0], z)


def test_agent_first_acts_as_the_decoded_latent_policy():
    pc = lapo.PolicyConfig(channels=[4, 8, 8], hidden=16)
    policy = lapo.LatentPolicy((3, 64, 64), pc, latent_dim=16)
    agent = lapo.Agent(policy, num_actions=15, decoder_hidden=[16])
    obs = torch.randint(0, 256, (5, 3, 64, 64), dtype=torch.uint8)
    logits, values = agent(obs)
    decoded = agent.decoder(policy(lapo.PIXELS(obs)))
    torch.testing.assert_close(logits, decoded / 2)
    assert values.shape == (5,) and agent.act(obs.numpy()).shape == (5,)
    trained = {id(p) for g in lapo.param_groups(agent, "rl") for p in g["params"]}
    frozen = [*agent.convs.parameters(), *agent.fc_latent.parameters(),
              *agent.latent_head.parameters()]  # fmt: skip
    assert not any(p.requires_grad for p in frozen) and not trained & {id(p) for p in frozen}
    assert len(lapo.param_groups(agent, "rl")) == 3 and len(lapo.param_groups(agent, "bc")) == 2


# -- end to end --------------------------------------------------------------------------------


def test_lapo_end_to_end_through_the_harness(videos, tmp_path):
    cfg = load_config(lapo.Config, None, TINY, base=lapo.default_config(TASK))
    with Harness("lapo", TASK, 0, config=dataclasses.asdict(cfg), runs_root=tmp_path,
                 budget=BUDGET, eval_episodes=2, progress=False) as h:  # fmt: skip
        lapo.run(TASK, 0, cfg, h, videos=videos)
    info = json.loads((h.path / "run.json").read_text())
    assert info["status"] == "complete" and info["reduced_budget"]
    m = pd.read_csv(h.path / "metrics.csv")
    assert not m.duplicated(["step", "metric"]).any()
    assert list(m[m.metric == "eval/return"].step) == [BUDGET]
    assert {"loss/policy", "loss/value", "decoder/loss", "train/value_lr"} <= set(m.metric)
    assert np.isfinite(m.value).all()
    for stage, artifact in (("dynamics", "dynamics.pt"), ("latent_policy", "latent_policy.pt")):
        assert (h.path / "pretrain" / stage / artifact).exists()
    probe = pd.read_csv(h.path / "pretrain" / "dynamics" / "metrics.csv")
    assert sorted(probe[probe.metric == "probe/action_accuracy"].step) == [10, 20]


def test_lapo_bc_reads_no_reward_and_no_label(videos, tmp_path, monkeypatch):
    """Without the (label-reading) diagnostics, LAPO-BC learns from frames alone: the env it is
    given has no reward and the video labels are never opened."""

    def forbidden(*args, **kwargs):
        raise AssertionError("LAPO-BC touched rewards or labels")

    monkeypatch.setattr(lapo, "make", forbidden)
    monkeypatch.setattr(type(videos), "open_labels", forbidden)
    sets = TINY + ["diagnostics.enabled=false"]
    cfg = load_config(lapo_bc.Config, None, sets, base=lapo_bc.default_config(TASK))
    with Harness("lapo_bc", TASK, 0, config=dataclasses.asdict(cfg), runs_root=tmp_path,
                 budget=BUDGET, eval_episodes=2, progress=False) as h:  # fmt: skip
        lapo_bc.run(TASK, 0, cfg, h, videos=videos)
    m = pd.read_csv(h.path / "metrics.csv")
    assert {"loss/bc", "decoder/accuracy", "eval/return"} <= set(m.metric)
    assert not {"loss/policy", "train/episode_return"} & set(m.metric)
    with pytest.raises(ValueError, match="variant"):
        lapo_bc.run(TASK, 0, dataclasses.replace(cfg, variant="rl"), h, videos=videos)


def test_each_stage_resumes_after_a_kill(videos, tmp_path):
    """One `bcvlr run --method lapo_bc`, SIGKILLed once in each stage after its first
    checkpoint and rerun: every stage resumes once and every row is there exactly once."""
    runs = tmp_path / "runs"
    run = runs / "lapo_bc" / TASK / "seed0"
    cmd = _cli("lapo_bc", videos.path, runs, "latent_actions.updates=40", "policy.updates=40")

    def online_checkpointed() -> bool:
        info = json.loads((run / "run.json").read_text())
        return (info.get("last_checkpoint") or {}).get("step", 0) > 0

    kills = [(run / "pretrain/dynamics/checkpoints/state.pt", lambda: True),
             (run / "pretrain/latent_policy/checkpoints/state.pt", lambda: True),
             (run / "checkpoints/state.pt", online_checkpointed)]  # fmt: skip
    for path, ready in kills:
        proc = subprocess.Popen(cmd, env=_env(), cwd=REPO, stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL)  # fmt: skip
        _kill_when(path, proc, ready, timeout=120)
    done = subprocess.run(cmd, env=_env(), cwd=REPO, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    for stage in ("dynamics", "latent_policy"):
        out = run / "pretrain" / stage
        info = json.loads((out / "stage.json").read_text())
        assert info["status"] == "complete" and info["resumes"] == 1, stage
        m = pd.read_csv(out / "metrics.csv")
        assert not m.duplicated(["step", "metric"]).any() and m.step.max() == 40, stage
    info = json.loads((run / "run.json").read_text())
    assert info["status"] == "complete" and len(info["resumes"]) == 1
    m = pd.read_csv(run / "metrics.csv")
    assert not m.duplicated(["step", "metric"]).any()
    # the first iteration's learning rates are all zero (LAPO's schedules start later): no update
    assert sorted(m[m.metric == "loss/bc"].step) == [128, 192, 256]
    assert sorted(m[m.metric == "eval/return"].step) == [BUDGET // 2, BUDGET]
    # exact: the envs replayed their actions and the video batches kept their stream, so the
    # online rows are those of a run never killed (timings apart)
    straight = tmp_path / "straight"
    once = subprocess.run([str(straight) if a == str(runs) else a for a in cmd], env=_env(),
                          cwd=REPO, capture_output=True, text=True, timeout=300)  # fmt: skip
    assert once.returncode == 0, once.stderr[-3000:]

    def values(frame: pd.DataFrame) -> pd.DataFrame:
        kept = frame[~frame.metric.str.startswith("perf/")].drop(columns="wall_time")
        return kept.reset_index(drop=True)

    other = pd.read_csv(straight / "lapo_bc" / TASK / "seed0" / "metrics.csv")
    pd.testing.assert_frame_equal(values(m), values(other))


def test_bad_videos_fail_before_compute(videos, tmp_path):
    r = subprocess.run(_cli("lapo", None, tmp_path), env=_env(), cwd=REPO, capture_output=True,
                       text=True)  # fmt: skip
    assert r.returncode == 2 and "pass --videos" in r.stderr
    cfg = load_config(lapo.Config, None, TINY, base=lapo.default_config("bigfish"))
    h = Harness("lapo", "bigfish", 0, config={}, runs_root=tmp_path, progress=False)
    with pytest.raises(TaskMismatchError, match="'starpilot', expected 'bigfish'"):
        lapo.run("bigfish", 0, cfg, h, videos=videos)
    with pytest.raises(ValueError, match="expert videos"):
        lapo.run("bigfish", 0, cfg, h, videos=None)
    assert not h.path.exists()  # nothing was computed or written
