"""UPESV on the real simulators with tiny nets and budgets: the labelling model's tasks, the
method interface, its pretraining stage, end to end through the harness on Procgen, DMC and
Metaworld, the frozen variant, and kill-and-resume (BCO's helpers: the loop is shared)."""

from __future__ import annotations

import dataclasses
import json

import pandas as pd
import pytest
import torch

from baselines import bco, upesv
from bcvlr.config import ConfigError, load_config
from bcvlr.nets.augment import RandomShift
from bcvlr.run.harness import Harness
from bcvlr.tasks import get_task
from tests.baselines.test_bco import (
    BUDGETS,
    REPO,
    check_run,
    iterations_of,
    kill_and_resume,
    make_videos,
    run_tiny,
    tiny_config,
)

LABELLER = ["encoder=conv", "feature_channels=4", "strided_layers=2", "latent_dim=8",
            "vq_codebooks=1", "vq_positions=2", "vq_embeddings=8", "wm_base_channels=4",
            "proj_dim=8", "predictor_hidden=8", "pretrain_updates=4",
            "pretrain_checkpoint_every=2"]  # fmt: skip
JOINT = LABELLER + ["freeze_pretrained=false", "labeller_input=pixels"]  # config/upesv_joint.yaml


@pytest.fixture(scope="module")
def videos(tmp_path_factory) -> dict:
    return make_videos(tmp_path_factory.mktemp("videos"))


def test_labeller_tasks_and_gradients():
    task = get_task("reacher_easy")
    cfg = tiny_config(upesv, "reacher_easy", LABELLER)
    learner = upesv.UPESV(task, (9, 64, 64), cfg, torch.device("cpu"))
    lab = learner.idm
    pairs = torch.randint(0, 256, (6, 2, 9, 64, 64), dtype=torch.uint8)
    z, losses = lab.ssl(pairs, RandomShift(4))
    assert z.shape == (6, 8) and set(losses) == {"vsc", "lfr", "vq", "perplexity"}
    assert lab(pairs).shape == (6, 2) and lab(pairs).abs().max() <= 1  # d(z): the action
    upesv.ssl_loss(cfg, losses).backward()
    # VSC and LFR train the shared encoder; the momentum encoder only moves by averaging
    assert lab.encoder.net[0].weight.grad.abs().sum() > 0
    assert all(p.grad is None for p in lab.target_encoder.parameters())
    learner.idm_opt.step()
    before = [p.clone() for p in lab.target_encoder.parameters()]
    lab.update_targets(0.5)
    assert any(not torch.equal(a, b) for a, b in zip(before, lab.target_encoder.parameters(),
                                                     strict=True))  # fmt: skip
    # the policy reads the encoder but is not its owner: BC never trains it
    names = {n for n, _ in learner.policy.named_parameters()}
    assert names and not any(n.startswith("encoder") for n in names)
    lab.zero_grad(set_to_none=True)
    learner.policy(pairs[:, 0]).sum().backward()
    assert all(p.grad is None for p in lab.parameters())  # BC's graph stops at the maps
    assert all(p.grad is not None for p in learner.policy.parameters())


@pytest.mark.parametrize(
    ("labeller_input", "in_channels"), [("pixels", 2 * 9), ("features", 2 * 4)]
)
def test_the_labeller_reads_the_windows_pixels_or_fs_maps(labeller_input, in_channels):
    task = get_task("reacher_easy")
    cfg = tiny_config(upesv, "reacher_easy", LABELLER + [f"labeller_input={labeller_input}"])
    lab = upesv.UPESV(task, (9, 64, 64), cfg, torch.device("cpu")).idm
    pairs = torch.randint(0, 256, (6, 2, 9, 64, 64), dtype=torch.uint8)
    z, losses = lab.ssl(pairs, RandomShift(4))
    assert z.shape == (6, 8) and lab(pairs).shape == (6, 2)
    # pixels: early fusion of the two stacked frames; features: f's 4-channel maps of each
    assert lab.convs.sequences[0].conv.in_channels == in_channels
    losses["lfr"].backward()  # LFR trains p through z_q, and f through the world model's input
    assert lab.convs.sequences[0].conv.weight.grad.abs().sum() > 0
    assert lab.encoder.net[0].weight.grad.abs().sum() > 0


def test_method_interface_and_config():
    assert upesv.SUITES == ("procgen", "dmc", "metaworld") and upesv.NEEDS_VIDEOS
    proc = load_config(upesv.Config, None, [], base=upesv.default_config("starpilot"))
    assert (proc.encoder, proc.feature_channels, proc.shift_pad, proc.aug_pad) == (
        "impala",
        16,
        1,
        0,
    )
    cont = load_config(upesv.Config, None, [], base=upesv.default_config("reacher_easy"))
    assert (cont.encoder, cont.feature_channels, cont.shift_pad, cont.aug_pad) == ("conv", 32, 4, 4)
    # the BCV-LR paper's reading: p on the pretrained f's maps, frozen online but d
    assert (cont.labeller_input, cont.freeze_pretrained, cont.alpha) == ("features", True, 0.5)
    joint = load_config(upesv.Config, REPO / "config/upesv_joint.yaml", [],
                        base=upesv.default_config("starpilot"))  # fmt: skip
    assert (joint.labeller_input, joint.freeze_pretrained, joint.online_ssl) == ("pixels", False, True)
    assert joint.strided_layers == 1  # upesv.yaml's CPU sizes underneath
    cpu = load_config(upesv.Config, REPO / "config/upesv.yaml", [],
                      base=upesv.default_config("starpilot"))  # fmt: skip
    assert cpu.encoder == "conv" and cpu.strided_layers == 1
    with pytest.raises(ConfigError, match="multiple"):
        load_config(upesv.Config, None, ["latent_dim=12"], base=upesv.default_config("starpilot"))


@pytest.mark.parametrize("task_name", list(BUDGETS))
def test_trains_end_to_end_through_the_harness(task_name, videos, tmp_path):
    run = run_tiny(upesv, task_name, videos[task_name], tmp_path, JOINT)
    m = check_run(run, task_name, iterations_of(upesv, task_name))
    for name in ("labeller/vsc", "labeller/lfr", "labeller/perplexity"):
        assert (m.metric == name).sum() == iterations_of(upesv, task_name)
    stage = json.loads((run / "pretrain" / "stage.json").read_text())
    assert stage["status"] == "complete" and stage["step"] == 4
    pre = pd.read_csv(run / "pretrain" / "metrics.csv")
    assert {"pretrain/vsc", "pretrain/lfr"} <= set(pre.metric)


def test_the_default_trains_the_head_alone(videos, tmp_path):
    run = run_tiny(upesv, "metaworld_reach", videos["metaworld_reach"], tmp_path, LABELLER)
    pretrained = torch.load(run / "pretrain" / upesv.ARTIFACT, weights_only=False)["labeller"]
    final = torch.load(run / "checkpoints" / "state.pt", weights_only=False)["learner"]["idm"]
    for name, value in pretrained.items():
        same = torch.equal(value, final[name])
        assert same != name.startswith("head."), name  # only d moved
    check_run(run, "metaworld_reach", iterations_of(upesv, "metaworld_reach"))


def test_pretraining_of_other_settings_is_not_reused(videos, tmp_path):
    run_tiny(upesv, "metaworld_reach", videos["metaworld_reach"], tmp_path, LABELLER)
    cfg = tiny_config(upesv, "metaworld_reach", LABELLER + ["vsc_coef=0.5"])
    harness = Harness("upesv", "metaworld_reach", 0, config=dataclasses.asdict(cfg),
                      runs_root=tmp_path, progress=False)  # fmt: skip
    with harness, pytest.raises(ValueError, match="other settings"):
        upesv.run("metaworld_reach", 0, cfg, harness, videos=videos["metaworld_reach"])


def test_kill_and_resume(videos, tmp_path):
    run = kill_and_resume("upesv", "baselines.upesv", videos["starpilot"], tmp_path, JOINT)
    assert json.loads((run / "pretrain" / "stage.json").read_text())["status"] == "complete"


@pytest.mark.parametrize("task_name", ["starpilot", "reacher_easy", "metaworld_reach"])
def test_the_loop_settings_are_bco_s_per_suite(task_name):
    # without BCO's sticky random I_pre on Procgen, the first labeller stayed at chance
    # (docs/baselines.md) and the policy collapsed to one action
    loop = bco.default_config(task_name)
    ours = upesv.default_config(task_name)
    assert {k: ours[k] for k in loop} == loop
