"""Exact checks of BCV-LR's update steps: which parameters each objective moves."""

import copy
import importlib

import numpy as np
import pytest
import torch

from bcvlr.config import load_config
from bcvlr.data import VideoDataset, VideoDatasetWriter
from bcvlr.diagnostics.config import DiagnosticsConfig
from bcvlr.method import bcvlr
from bcvlr.tasks import get_task
from tests.data.video_helpers import decode, write

TINY = "config/bcvlr/tiny.yaml"


def make_agent(task_name: str, **overrides):
    task = get_task(task_name)
    sets = [f"{k}={v}" for k, v in overrides.items()]
    cfg = load_config(bcvlr.Config, TINY, sets, base=bcvlr.default_config(task))
    shape = (3 * task.frame_stack, 64, 64)
    torch.manual_seed(0)
    agent = bcvlr.Agent(cfg, task, shape)
    return cfg, task, agent, shape


def snapshot(module: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in module.state_dict().items()}


def changed(before: dict, module: torch.nn.Module) -> set[str]:
    return {k for k, v in module.state_dict().items() if not torch.equal(before[k], v)}


def windows(cfg, shape, batch=8):
    g = torch.Generator().manual_seed(1)
    return torch.randint(0, 256, (batch, cfg.latent_actions.window, *shape), generator=g,
                         dtype=torch.uint8)  # fmt: skip


@pytest.mark.parametrize("task_name", ["metaworld_reach", "coinrun"])
def test_finetune_step_moves_exactly_p_and_d(task_name):
    cfg, task, agent, shape = make_agent(task_name, **{"online.wm_ft": "frozen"})
    learner = bcvlr.OnlineLearner(cfg, agent)
    parts = {n: snapshot(getattr(agent, n)) for n in ("encoder", "decoder", "policy")}
    lam = snapshot(agent.lam)
    obs = windows(cfg, shape)
    act = (torch.randint(0, 15, (8,)) if task.action_space.is_discrete
           else torch.rand(8, task.action_space.size) * 2 - 1)  # fmt: skip
    learner.finetune_step(obs, act)
    assert not changed(parts["encoder"], agent.encoder)  # f frozen: bit-identical
    assert not changed(parts["policy"], agent.policy)  # pi is not in eq. 3
    assert changed(parts["decoder"], agent.decoder)  # d trains
    moved = changed(lam, agent.lam)
    assert any(k.startswith("idm.") for k in moved)  # p trains
    assert any(k.startswith("vq.") for k in moved)  # the codebook follows by EMA
    assert not any(k.startswith("world_model.") and "running" not in k and "batches" not in k
                   for k in moved)  # w frozen (only BatchNorm statistics may move)  # fmt: skip


def test_finetune_with_world_model_finetuning_moves_w():
    cfg, task, agent, shape = make_agent("reacher_easy", **{"online.wm_ft": "finetune",
                                                            "online.wm_ft_lr": 1e-2,
                                                            "online.beta": 1.0})  # fmt: skip
    learner = bcvlr.OnlineLearner(cfg, agent)
    before = snapshot(agent.lam.world_model)
    learner.finetune_step(windows(cfg, shape), torch.rand(8, 2) * 2 - 1)
    assert any("weight" in k for k in changed(before, agent.lam.world_model))


def test_finetune_without_the_world_model_term_gives_the_same_update_and_leaves_w_and_vq():
    # beta = 0 skips w and the VQ; its update of f, p and d is the one the full path makes
    # when their terms weigh (next to) nothing
    updated = {}
    for beta in ("0.0", "1.0e-30"):
        cfg, task, agent, shape = make_agent("reacher_easy", encoder_training="ft",
                                             **{"online.beta": beta,
                                                "online.wm_ft": "finetune"})  # fmt: skip
        learner = bcvlr.OnlineLearner(cfg, agent)
        lam = snapshot(agent.lam)
        metrics = learner.finetune_step(windows(cfg, shape), torch.rand(8, 2,
                                        generator=torch.Generator().manual_seed(2)) * 2 - 1)  # fmt: skip
        moved = changed(lam, agent.lam)
        if beta == "0.0":
            assert "loss/ft_world_model" not in metrics
            assert not any(k.startswith(("world_model.", "vq.")) for k in moved)
        else:
            assert any(k.startswith("vq.") for k in moved)  # the full path ran: EMA moved
        assert any(k.startswith("idm.") for k in moved)
        updated[beta] = {n: snapshot(getattr(agent, n)) for n in ("encoder", "decoder")}
        updated[beta]["idm"] = snapshot(agent.lam.idm)
    for part, params in updated["0.0"].items():
        for key, value in params.items():
            torch.testing.assert_close(value, updated["1.0e-30"][part][key], msg=f"{part}.{key}")


def test_wo_ft_trains_only_the_decoder():
    cfg, task, agent, shape = make_agent("reacher_easy", variant="wo_ft")
    learner = bcvlr.OnlineLearner(cfg, agent)
    lam = snapshot(agent.lam)
    dec = snapshot(agent.decoder)
    learner.finetune_step(windows(cfg, shape), torch.rand(8, 2) * 2 - 1)
    assert not changed(lam, agent.lam)  # p, VQ, w and their statistics untouched
    assert changed(dec, agent.decoder)


def test_bc_step_moves_only_the_policy():
    cfg, task, agent, shape = make_agent("reacher_easy")
    learner = bcvlr.OnlineLearner(cfg, agent)
    before = {n: snapshot(getattr(agent, n)) for n in ("encoder", "lam", "decoder", "policy")}
    learner.bc_step(windows(cfg, shape))
    assert not changed(before["encoder"], agent.encoder)
    assert not changed(before["lam"], agent.lam)  # IDM in eval mode: no VQ/BN drift
    assert not changed(before["decoder"], agent.decoder)
    assert changed(before["policy"], agent.policy)


def test_bc_in_train_mode_lets_the_codebook_drift_like_the_authors_code():
    cfg, task, agent, shape = make_agent("reacher_easy", **{"online.idm_mode_in_bc": "train"})
    learner = bcvlr.OnlineLearner(cfg, agent)
    before = snapshot(agent.lam)
    learner.bc_step(windows(cfg, shape))
    assert any(k.startswith("vq.") for k in changed(before, agent.lam))


def test_encoder_finetuned_via_ft_moves():
    cfg, task, agent, shape = make_agent("reacher_easy", encoder_training="ft")
    learner = bcvlr.OnlineLearner(cfg, agent)
    before = snapshot(agent.encoder)
    learner.finetune_step(windows(cfg, shape), torch.rand(8, 2) * 2 - 1)
    assert changed(before, agent.encoder)


@pytest.mark.parametrize("task_name", ["metaworld_reach", "coinrun"])
def test_an_action_lead_pairs_o_t_with_the_latent_of_the_next_transition(task_name):
    """departures.action_lead 1: windows carry one frame more, first. Eq. 3 on them is exactly eq. 3
    of the paper's pairing on the window without that frame; eq. 4 clones the same latent
    from pi of o_t, a frame before the one the paper's pairing would use."""
    cfg, task, agent, shape = make_agent(task_name, **{"departures.action_lead": 1})
    lead_learner = bcvlr.OnlineLearner(cfg, agent)
    twin = copy.deepcopy(agent)
    plain_cfg = copy.deepcopy(cfg)
    plain_cfg.departures.action_lead = 0
    plain_learner = bcvlr.OnlineLearner(plain_cfg, twin)
    g = torch.Generator().manual_seed(3)
    obs = torch.randint(0, 256, (8, cfg.latent_actions.window + 1, *shape), generator=g,
                        dtype=torch.uint8)  # fmt: skip
    act = (torch.randint(0, 15, (8,), generator=g) if task.action_space.is_discrete
           else torch.rand(8, task.action_space.size, generator=g) * 2 - 1)  # fmt: skip
    assert lead_learner.finetune_step(obs, act) == plain_learner.finetune_step(obs[:, 1:], act)
    for name, value in twin.state_dict().items():
        assert torch.equal(agent.state_dict()[name], value), name
    agent.lam.eval()
    with torch.no_grad():
        feats = bcvlr.encode_windows(agent.encoder, obs, False)
        # o_t is the third frame from the end (a window of 3 starts at o_t-1 for p)
        expected = torch.nn.functional.mse_loss(agent.policy(feats[:, -3]),
                                                agent.lam.latent(feats[:, 1:]))  # fmt: skip
    assert lead_learner.bc_step(obs)["loss/bc"] == pytest.approx(expected.item(), rel=1e-5)


def test_acting_is_in_the_action_space():
    g = torch.Generator().manual_seed(0)
    _, _, agent, shape = make_agent("coinrun")
    obs = torch.randint(0, 256, (5, *shape), dtype=torch.uint8).numpy()
    a = agent.act(obs, explore=True, generator=g)
    assert a.shape == (5,) and a.min() >= 0 and a.max() < 15
    _, _, agent, shape = make_agent("reacher_easy")
    obs = torch.randint(0, 256, (3, *shape), dtype=torch.uint8).numpy()
    a = agent.act(obs, explore=True, generator=g)
    assert a.shape == (3, 2) and abs(a).max() <= 1.0
    det1 = agent.act(obs, explore=False, generator=g)
    det2 = agent.act(copy.deepcopy(obs), explore=False, generator=g)
    assert (det1 == det2).all()


@pytest.mark.parametrize("training", [True, False])
def test_acting_runs_in_eval_mode_and_leaves_the_modes_as_they_were(training):
    _, _, agent, shape = make_agent("coinrun")
    agent.train(training)
    seen = []  # the mode of every module that computes the action
    for m in agent.modules():
        m.register_forward_hook(lambda mod, args, out: seen.append(mod.training))
    obs = torch.randint(0, 256, (2, *shape), dtype=torch.uint8).numpy()
    agent.act(obs, explore=False, generator=torch.Generator().manual_seed(0))
    assert seen and not any(seen)
    assert all(m.training == training for m in agent.modules())


class _FixedBatches:
    """Stands in for VideoBatches (pure logic: the windows are given)."""

    def __init__(self, batch: torch.Tensor):
        self.batch = batch

    def sample(self, device):
        return self.batch.to(device)

    def sample_features(self, encoder, device):
        return bcvlr.encode_windows(encoder, self.sample(device), grad=False)


def test_latent_standardisation_whitens_the_videos_latents_and_keeps_eq3_eq4_consistent():
    cfg, task, agent, shape = make_agent(
        "reacher_easy", **{"departures.latent_norm": "standardize", "departures.latent_norm_batches": 1}
    )
    learner = bcvlr.OnlineLearner(cfg, agent)
    obs = windows(cfg, shape, batch=32)
    learner.standardize_latents(_FixedBatches(obs), torch.device("cpu"))
    agent.lam.eval()
    with torch.no_grad():
        u = agent.normalize(agent.lam.latent(bcvlr.encode_windows(agent.encoder, obs, False)))
    assert torch.allclose(u.mean(0), torch.zeros_like(u[0]), atol=1e-3)
    assert torch.allclose(u.std(0), torch.ones_like(u[0]), atol=1e-3)
    # the buffers travel with the agent's checkpoint
    assert {"z_mean", "z_std"} <= set(agent.state_dict())


def test_robust_latent_statistics_ignore_a_few_huge_latents():
    g = torch.Generator().manual_seed(0)
    z = torch.randn(4000, 3, generator=g) * torch.tensor([0.05, 1.0, 3.0]) + 2.0
    z[:4] = 1e5  # 0.1 % of the windows, as on attempt 13's videos
    mean, std = bcvlr.latent_statistics(z, robust=True)
    torch.testing.assert_close(mean, torch.full((3,), 2.0), atol=0.1, rtol=0)
    torch.testing.assert_close(std, torch.tensor([0.05, 1.0, 3.0]), rtol=0.1, atol=0)
    _, plain_std = bcvlr.latent_statistics(z, robust=False)
    assert (plain_std > 1000).all()  # what the plain statistics make of the same latents


def test_robust_latent_norm_clips_the_bc_targets():
    cfg, _, agent, shape = make_agent("reacher_easy", **{"departures.latent_norm": "robust"})
    learner = bcvlr.OnlineLearner(cfg, agent)
    obs = windows(cfg, shape)
    agent.z_std.fill_(1e-9)  # every standardised target is far beyond the clip
    with torch.no_grad():
        pred = agent.policy(bcvlr.encode_windows(agent.encoder, obs, False)[:, -2])
        z = agent.normalize(agent.lam.latent(bcvlr.encode_windows(agent.encoder, obs, False)))
    expected = torch.nn.functional.mse_loss(pred, z.clamp(-bcvlr.LATENT_CLIP, bcvlr.LATENT_CLIP))
    assert learner.bc_step(obs)["loss/bc"] == pytest.approx(expected.item(), rel=1e-5)


def test_without_latent_standardisation_the_latent_space_is_p_s_own():
    _, _, agent, _ = make_agent("reacher_easy")
    z = torch.randn(4, agent.z_mean.numel())
    assert torch.equal(agent.normalize(z), z)


@pytest.mark.parametrize("task_name", ["metaworld_reach", "coinrun"])
def test_residual_world_model_starts_as_the_copy_of_the_last_features(task_name):
    cfg, _, agent, shape = make_agent(task_name, **{"departures.wm_residual": "true"})
    feats = bcvlr.encode_windows(agent.encoder, windows(cfg, shape), grad=False)
    _, wm_loss, _ = agent.lam.losses(feats)
    assert torch.equal(wm_loss, torch.nn.functional.mse_loss(feats[:, -2], feats[:, -1]))
    _, plain_loss, _ = make_agent(task_name)[2].lam.losses(feats)
    assert not torch.equal(plain_loss, wm_loss)


@pytest.mark.parametrize("scale", [1.0, 1e-4])
def test_latent_action_probe_does_not_depend_on_the_latents_scale(scale):
    """A latent that is the action, times any scale, decodes it (R^2 ~1): the ridge penalty
    acts on standardised latents."""

    class Latents(torch.nn.Module):  # z = scale * (first 4 pixels of the last frame)
        def latent(self, feats):
            return scale * feats[:, -1, 0, 0, :4].float() / 255

    g = torch.Generator().manual_seed(0)
    obs = torch.randint(0, 256, (400, 2, 1, 2, 4), generator=g, dtype=torch.uint8).numpy()
    acts = (obs[:, -1, 0, 0, :2] / 255).astype("float32")
    probe = bcvlr.LatentActionProbe((obs[::2], acts[::2]), (obs[1::2], acts[1::2]),
                                    discrete=False, num_actions=2)  # fmt: skip
    scores = probe.score(torch.nn.Identity(), Latents(), torch.device("cpu"))
    assert scores["probe/action_r2"] > 0.99


def test_latent_action_probe_scores_about_zero_on_latents_that_carry_nothing():
    """128 latents unrelated to the action, 512 fit windows: the old fixed penalty (1e-3 per
    window) overfit to R^2 -0.36 here; the penalty chosen on the fit set keeps it near zero.
    So does the MLP's update count: its first version (a random start, the count chosen in
    tenths of 1,536) memorised them, R^2 -0.51. Without decoder updates, no MLP keys."""

    class Latents(torch.nn.Module):
        def latent(self, feats):
            return feats[:, -1].flatten(1).float() / 255

    g = torch.Generator().manual_seed(0)
    obs = torch.randint(0, 256, (1024, 2, 1, 8, 16), generator=g, dtype=torch.uint8).numpy()
    acts = torch.rand(1024, 3, generator=g).numpy()
    probe = bcvlr.LatentActionProbe((obs[::2], acts[::2]), (obs[1::2], acts[1::2]),
                                    discrete=False, num_actions=3, decoder_updates=512)  # fmt: skip
    args = (torch.nn.Identity(), Latents(), torch.device("cpu"))
    scores = probe.score(*args)
    assert -0.05 < scores["probe/action_r2"] < 0.05
    assert -0.05 < scores["probe/mlp_action_r2"] < 0.05
    probe.decoder_updates = 0
    ridge_only = probe.score(*args)
    assert not any("mlp" in k for k in ridge_only)
    assert ridge_only["probe/action_r2"] == scores["probe/action_r2"]


def test_latent_action_probe_separates_what_z_adds_to_the_scene():
    """Action = (a pixel of o_t, its change to o_t+1) and z = that pixel in o_t+1: the scene
    (o_t) reads the first dimension and half of the second's variance (R^2 2/3); z alone 1/3;
    both together all of it, so z adds 1/3 beyond the scene."""

    class Latents(torch.nn.Module):
        def latent(self, feats):
            return feats[:, -1, 0, 0, :1].double()

    g = torch.Generator().manual_seed(0)
    obs = torch.randint(0, 256, (2000, 2, 1, 4, 4), generator=g, dtype=torch.uint8).numpy()
    now, after = obs[:, 0, 0, 0, 0] / 255, obs[:, 1, 0, 0, 0] / 255
    acts = np.stack([now, after - now], 1).astype("float32")
    probe = bcvlr.LatentActionProbe((obs[::2], acts[::2]), (obs[1::2], acts[1::2]),
                                    discrete=False, num_actions=2)  # fmt: skip
    scores = probe.score(torch.nn.Identity(), Latents(), torch.device("cpu"))
    assert scores["probe/action_r2"] == pytest.approx(1 / 3, abs=0.05)
    assert scores["probe/scene_action_r2"] == pytest.approx(2 / 3, abs=0.05)
    assert scores["probe/scene_latent_action_r2"] > 0.99
    assert scores["probe/beyond_scene_action_r2"] == pytest.approx(1 / 3, abs=0.05)


def test_latent_action_probe_mlp_decodes_what_a_linear_probe_cannot():
    """The authors' decoder is an MLP: an action that is a nonlinear function of z (its
    distance from the middle) is read by it (R^2 ~1) and not by the ridge (~0)."""

    class Latents(torch.nn.Module):
        def latent(self, feats):
            return feats[:, -1, 0, 0, :1].double() / 255

    g = torch.Generator().manual_seed(0)
    obs = torch.randint(0, 256, (1000, 2, 1, 2, 2), generator=g, dtype=torch.uint8).numpy()
    acts = np.abs(obs[:, -1, 0, 0, :1] / 255 - 0.5).astype("float32")
    probe = bcvlr.LatentActionProbe((obs[::2], acts[::2]), (obs[1::2], acts[1::2]),
                                    discrete=False, num_actions=1, decoder_updates=512)  # fmt: skip
    scores = probe.score(torch.nn.Identity(), Latents(), torch.device("cpu"))
    assert scores["probe/action_r2"] < 0.05
    assert scores["probe/mlp_action_r2"] > 0.9
    assert {"probe/mlp_scene_action_r2", "probe/mlp_beyond_scene_action_r2"} <= scores.keys()


@pytest.mark.parametrize("lag", [0, 1, 2])
def test_video_probe_targets_the_action_lag_steps_before_the_last_transition(tmp_path, lag):
    """Frames encode (episode, t) and actions episode * 1000 + t: every probe window is the
    last `window` frames of one episode and its target is a_(t - lag), where a_t moves
    o_t to o_t+1 (the window's last two frames)."""
    write(tmp_path / "ds", [12, 9, 15, 11])
    diag = DiagnosticsConfig(probe_windows=64, probe_action_lag=lag)
    probe = bcvlr.LatentActionProbe.from_videos(VideoDataset(tmp_path / "ds"), 2, diag, seed=0)
    for obs, acts in (probe.fit_set, probe.eval_set):
        episode, t = decode(obs)  # (windows, 2)
        assert (episode[:, 0] == episode[:, 1]).all() and (t[:, 1] == t[:, 0] + 1).all()
        assert (acts == episode[:, 0] * 1000 + t[:, 0] - lag).all()
        assert (t[:, 0] >= lag).all()


def test_latent_action_probe_refits_the_scene_only_when_it_changes(monkeypatch):
    """f is frozen through latent-action pretraining: a second probe point with new latents
    but the same scene refits z and scene+z only, and scores the scene exactly as a fresh
    probe does; a changed scene is refitted."""

    class Latents(torch.nn.Module):
        def __init__(self, pixel):
            super().__init__()
            self.pixel = pixel

        def latent(self, feats):
            return feats[:, -1, 0, 0, self.pixel : self.pixel + 1].double()

    g = torch.Generator().manual_seed(0)
    obs = torch.randint(0, 256, (600, 2, 1, 8, 8), generator=g, dtype=torch.uint8).numpy()
    acts = (obs[:, -1, 0, 0, :2] / 255).astype("float32")
    sets = (obs[::2], acts[::2]), (obs[1::2], acts[1::2])
    probe = bcvlr.LatentActionProbe(*sets, discrete=False, num_actions=2, decoder_updates=64)
    fits = []
    real_fit = probe._fit_and_score
    monkeypatch.setattr(probe, "_fit_and_score", lambda *a: fits.append(a[0].shape) or real_fit(*a))
    cpu = torch.device("cpu")
    first = probe.score(torch.nn.Identity(), Latents(0), cpu)
    assert len(fits) == 6  # z, scene, scene+z; ridge and MLP
    second = probe.score(torch.nn.Identity(), Latents(1), cpu)
    assert len(fits) == 10  # the scene's two fits reused
    fresh = bcvlr.LatentActionProbe(*sets, discrete=False, num_actions=2, decoder_updates=64)
    assert second == fresh.score(torch.nn.Identity(), Latents(1), cpu)
    assert second["probe/action_r2"] != first["probe/action_r2"]
    for name in ("scene_action_r2", "mlp_scene_action_r2"):
        assert second[f"probe/{name}"] == first[f"probe/{name}"]
    probe.score(lambda x: x.flip(-1), Latents(1), cpu)  # another encoder: another scene
    assert len(fits) == 16


@pytest.mark.parametrize("mlp", [False, True])
def test_latent_action_probe_does_not_extrapolate_a_nearly_dead_input(mlp):
    """An input that barely varies in the fit set (std 3e-7) and is far out on one held-out
    window (a near-dead feature channel): it scored the scene at R^2 -3 before held-out
    inputs were clipped to the fit set's range."""
    g = torch.Generator().manual_seed(0)
    signal = torch.rand(1000, 1, generator=g, dtype=torch.float64)
    dead = 1e-6 * (signal + 0.1 * torch.randn(1000, 1, generator=g, dtype=torch.float64))
    dead[1] = 0.1  # held out (odd), ~3e5 stds out
    x, y = torch.cat([signal, dead], 1), signal
    probe = bcvlr.LatentActionProbe((None, None), (None, None), discrete=False, num_actions=1,
                                    decoder_updates=256)  # fmt: skip
    scores = probe._fit_and_score(x[::2], x[1::2], y[::2], y[1::2], mlp)
    assert scores["action_r2"] > 0.9


def test_idm_input_standardisation_whitens_each_feature_channel_over_the_batches():
    cfg, _, agent, shape = make_agent("metaworld_reach")
    # an untrained encoder's features: small variation around a mean, as on the mini config
    feats = [bcvlr.encode_windows(agent.encoder, windows(cfg, shape, batch=8), grad=False)
             for _ in range(2)]  # fmt: skip
    with torch.no_grad():
        plain = agent.lam.latent(feats[0])
    metrics = agent.lam.fit_input_norm(iter(feats))
    assert set(metrics) == {"idm_input/mean", "idm_input/std"}
    frames = torch.cat(feats).flatten(0, 1)  # (N, C, H, W)
    seen = (frames - agent.lam.input_mean) / agent.lam.input_std
    assert torch.allclose(seen.mean((0, 2, 3)), torch.zeros(seen.shape[1]), atol=1e-4)
    spread = seen.std((0, 2, 3), correction=0)
    live = frames.std((0, 2, 3)) > 0  # a ReLU channel that is zero everywhere stays zero
    assert live.any() and torch.allclose(spread[live], torch.ones_like(spread[live]), atol=1e-4)
    assert torch.equal(spread[~live], torch.zeros_like(spread[~live]))
    with torch.no_grad():
        assert not torch.allclose(agent.lam.latent(feats[0]), plain)  # p reads the whitened input
    assert {"input_mean", "input_std"} <= set(agent.lam.state_dict())


def test_latent_action_artifacts_without_the_input_standardisation_still_load():
    _, _, agent, _ = make_agent("metaworld_reach")
    old = {k: v for k, v in agent.lam.state_dict().items() if not k.startswith("input_")}
    agent.lam.input_std.fill_(3.0)
    agent.lam.load_state_dict(old)  # strict: the missing buffers fall back to the identity
    assert torch.equal(agent.lam.input_std, torch.ones_like(agent.lam.input_std))
    assert torch.equal(agent.lam.input_mean, torch.zeros_like(agent.lam.input_mean))


@pytest.mark.parametrize("task_name", ["reacher_easy", "coinrun"])
def test_restandardising_changes_neither_what_d_decodes_nor_what_pi_predicts(task_name):
    _, _, agent, shape = make_agent(task_name)
    g = torch.Generator().manual_seed(3)
    dim = agent.z_mean.numel()
    agent.restandardize(torch.randn(dim, generator=g), torch.rand(dim, generator=g) + 0.5)
    z = torch.randn(16, dim, generator=g) * 3
    feats = agent.encoder(torch.randint(0, 256, (4, *shape), generator=g, dtype=torch.uint8))
    with torch.no_grad():
        before = (agent.decoder(agent.normalize(z)),
                  agent.policy(feats) * agent.z_std + agent.z_mean)  # fmt: skip
    mean, std = torch.randn(dim, generator=g), torch.rand(dim, generator=g) * 4 + 0.1
    agent.restandardize(mean, std)
    assert torch.equal(agent.z_mean, mean) and torch.equal(agent.z_std, std)
    with torch.no_grad():
        after = (agent.decoder(agent.normalize(z)),
                 agent.policy(feats) * agent.z_std + agent.z_mean)  # fmt: skip
    torch.testing.assert_close(after[0], before[0], rtol=1e-4, atol=1e-4)
    torch.testing.assert_close(after[1], before[1], rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("task_name", ["metaworld_reach", "coinrun"])
def test_cached_frame_features_give_the_updates_that_encoding_each_window_gives(tmp_path,
                                                                               task_name):
    """Where f is frozen, eq. 2 and eq. 4 read f's features from a table computed once: the
    same batches and the same updates as encoding each sampled window."""
    cfg, task, agent, shape = make_agent(task_name)
    rng = np.random.default_rng(0)
    writer = VideoDatasetWriter(tmp_path / "ds", task_name, (3, 64, 64), task.frame_stack,
                                {"size": 64, "camera": "test"}, expert={"checkpoint": "x.pt"},
                                chunk_frames=30)  # fmt: skip
    for length in (17, 25, 12, 30):
        writer.add_episode(rng.integers(0, 256, (length, 3, 64, 64), np.uint8), None, None)
    writer.close()
    videos, cpu = [VideoDataset(tmp_path / "ds")], torch.device("cpu")
    learner = bcvlr.OnlineLearner(cfg, agent)
    twin = copy.deepcopy(learner)
    plain, cached = (bcvlr.VideoBatches(videos, learner.window, 8, seed=3) for _ in range(2))
    assert cached.cache_features(agent.encoder, cpu, limit_mb=64)["feature_cache/mb"] > 0
    for _ in range(3):
        obs = plain.sample(cpu)
        feats = cached.sample_features(twin.agent.encoder, cpu)
        torch.testing.assert_close(feats, bcvlr.encode_windows(agent.encoder, obs, False),
                                   rtol=1e-5, atol=1e-6)  # fmt: skip
        want = learner.bc_step(obs)["loss/bc"]
        assert twin.bc_step_on_features(feats)["loss/bc"] == pytest.approx(want, rel=1e-5)
    for mine, theirs in zip(twin.agent.policy.parameters(), agent.policy.parameters(),
                            strict=True):  # fmt: skip
        torch.testing.assert_close(mine, theirs, rtol=1e-5, atol=1e-6)
    la = bcvlr.LatentActionLearner(cfg, agent.encoder, cpu)
    la_twin = copy.deepcopy(la)
    obs = plain.sample(cpu)[:, : cfg.latent_actions.window]
    want = la.update(obs)
    got = la_twin.update_on_features(bcvlr.encode_windows(agent.encoder, obs, False))
    assert got == pytest.approx(want, rel=1e-5)
    # p's latents of every transition, gathered by row: eq. 4's targets as p labels windows
    labels = cached.features[0].of_windows(agent.lam.eval().latent, cfg.latent_actions.window)
    for _ in range(3):
        index = cached.samplers[0].sample_index()
        rows = torch.from_numpy(cached.features[0].rows(index))
        feats = cached.features[0].gather(index, learner.window)
        agent.lam.eval()
        want = agent.lam.latent(feats[:, learner.lead :])
        torch.testing.assert_close(labels[rows + learner.lead], want, rtol=1e-4, atol=1e-5)
        before = copy.deepcopy(twin)
        got = twin.bc_step_on_latents(feats[:, -2 - learner.lead], labels[rows + learner.lead])
        assert got["loss/bc"] == pytest.approx(before.bc_step_on_features(feats)["loss/bc"],
                                               rel=1e-4)  # fmt: skip
    # a table over the limit is not built: every window is encoded
    assert cached.cache_features(agent.encoder, cpu, limit_mb=1e-3) == {"feature_cache/mb": 0.0}
    assert cached.features is None


def test_table_10s_sampler_holds_only_the_labelled_transitions_chunks(tmp_path):
    """Offline decoding's N labelled transitions are the videos' first N: its sampler holds
    only their chunks (drawn from all, a long dataset's labelled windows were found only while
    their chunk happened to be cached), and its batches are windows among them."""
    online_stage = importlib.import_module("bcvlr.method.bcvlr.online")
    lengths = [12] * 40  # 11 transitions an episode, 20 frames a chunk: 24 chunks
    write(tmp_path / "ds", lengths, chunk_frames=20)
    ds = VideoDataset(tmp_path / "ds")
    limit = 30  # the first 30 transitions: episodes 0-2, in chunks 0 and 1
    sampler = online_stage.labelled_sampler(ds, window=2, batch_size=16, seed=0, limit=limit)
    try:
        assert set(sampler.held_chunks()) == {0, 1}
        obs, actions = online_stage._labelled_batch(sampler, ds.open_labels(), limit, 16,
                                                    online_stage.transitions_before(ds))  # fmt: skip
        episode, step = decode(obs[:, -1, -3:])  # the window's last frame
        assert (episode * 11 + step - 1 < limit).all()  # its transition is a labelled one
        assert len(actions) == 16
    finally:
        sampler.close()
