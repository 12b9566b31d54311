"""The online stage of Algorithm 1 (Section 3.2, lines 12-36): the latent-BC warm-up, then cycles
of collection with d(pi(f(o))), eq. 3 on the replay and eq. 4 on the videos; and Table 10's
offline decoding."""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from bcvlr.data import VideoDataset, WindowSampler
from bcvlr.data.video_batches import VideoBatches
from bcvlr.data.window_replay import WindowReplay
from bcvlr.diagnostics.probe import LatentActionProbe
from bcvlr.envs import make_reward_free
from bcvlr.envs.action_log import ActionLog
from bcvlr.method.bcvlr.config import Config
from bcvlr.method.bcvlr.model import LATENT_CLIP, Agent, action_loss, latent_statistics
from bcvlr.method.bcvlr.pretrain import fit_idm_input_norm
from bcvlr.nets import module_device
from bcvlr.nets.features import encode_windows
from bcvlr.run.device import autocast, resolve_device
from bcvlr.run.seeding import seeded
from bcvlr.tasks import Task


# ---------------------------------------------------------------------------------------------
# 3. Online stage (Section 3.2, Algorithm 1 lines 12-36)
# ---------------------------------------------------------------------------------------------
class OnlineLearner:
    """Optimisers and update steps of the online stage; the loop lives in ``online``."""

    def __init__(self, cfg: Config, agent: Agent):
        oc = cfg.online
        self.cfg, self.agent = cfg, agent
        # windows carry `lead` frames more than p reads: o_t, which a_t and pi belong to, first
        self.lead = cfg.departures.action_lead
        self.window = cfg.latent_actions.window + self.lead  # the frames eq. 3 and eq. 4 read
        self.train_encoder = cfg.encoder_training == "ft" or cfg.variant == "wo_lf"
        self.train_idm = cfg.variant != "wo_ft"
        # w/o ft keeps the pretrained latent-action model whole; w/o la must learn w online
        self.train_wm = (oc.wm_ft == "finetune" and self.train_idm) or cfg.variant == "wo_la"
        agent.encoder.requires_grad_(self.train_encoder)
        lam = agent.lam
        groups = [{"params": agent.decoder.parameters(), "lr": oc.decoder_lr}]
        if self.train_idm:
            idm = list(lam.idm.parameters()) + list(lam.to_latent.parameters())
            groups.append({"params": idm, "lr": oc.idm_ft_lr})
        if self.train_encoder:
            groups.append({"params": agent.encoder.parameters(), "lr": oc.idm_ft_lr})
        lam.world_model.requires_grad_(self.train_wm)
        self.ft_optim = torch.optim.Adam(groups)
        self.wm_optim = (torch.optim.Adam(lam.world_model.parameters(), lr=oc.wm_ft_lr)
                         if self.train_wm else None)  # fmt: skip
        self.bc_optim = torch.optim.Adam(agent.policy.parameters(), lr=oc.policy_lr)
        # the warm-up has its own: both of the authors' codes start the online BC afresh
        self.warmup_optim = torch.optim.Adam(agent.policy.parameters(), lr=oc.policy_lr)

    def autocast(self):
        """The forward passes' precision (``Config.precision``) on the agent's device."""
        return autocast(self.cfg.precision, module_device(self.agent))

    def finetune_step(self, obs: torch.Tensor, actions: torch.Tensor) -> dict[str, float]:
        """Eq. 3 on replay windows: d(p(f(o))) -> a, plus beta * (world model + VQ)."""
        agent, oc = self.agent, self.cfg.online
        agent.lam.train(self.train_idm)  # VQ codebooks and BatchNorm move only when p trains
        # beta = 0 (Fig. 7) gives w and the VQ no gradient and nothing to pass on to p or f, so
        # neither is run: on a CPU w's U-Net is most of an update's cost (docs/fidelity.md)
        with_wm = oc.beta != 0
        with self.autocast():
            feats = encode_windows(agent.encoder, obs[:, self.lead :], grad=self.train_encoder)
            if with_wm:
                z, wm_loss, vq_loss = agent.lam.losses(feats)
            else:
                z = agent.lam.latent(feats)
            if not self.train_idm:
                z = z.detach()
            act_loss = action_loss(agent, z, actions)
            loss = act_loss + oc.beta * (wm_loss + vq_loss) if with_wm else act_loss
        wm_optim = self.wm_optim if with_wm else None
        self.ft_optim.zero_grad(set_to_none=True)
        if wm_optim is not None:
            wm_optim.zero_grad(set_to_none=True)
        loss.backward()
        self.ft_optim.step()
        if wm_optim is not None:
            wm_optim.step()
        metrics = {"loss/action": act_loss.item()}
        if with_wm:
            metrics["loss/ft_world_model"] = wm_loss.item()
        return metrics

    def bc_step(self, video_obs: torch.Tensor, warmup: bool = False) -> dict[str, float]:
        """Eq. 4: pi(f(o_t)) regresses the (unquantised) latent action p labels the video
        transition with (``warmup``: the latent-BC warm-up's optimiser)."""
        with self.autocast():
            feats = encode_windows(self.agent.encoder, video_obs, grad=False)
        return self.bc_step_on_features(feats, warmup)

    def bc_step_on_features(self, feats: torch.Tensor, warmup: bool = False) -> dict[str, float]:
        """``bc_step`` on f's features of the video windows (f is never trained by eq. 4)."""
        agent = self.agent
        code_mode = self.cfg.online.idm_mode_in_bc == "train"
        agent.lam.train(code_mode)
        with torch.no_grad(), self.autocast():
            target = agent.lam.latent(feats[:, self.lead :])
            if code_mode:  # the authors' IDM always quantises too, moving the EMA codebook
                agent.lam.vq(target)
        return self.bc_step_on_latents(feats[:, -2 - self.lead], target, warmup)

    def bc_step_on_latents(self, obs_feats: torch.Tensor, latents: torch.Tensor,
                           warmup: bool = False) -> dict[str, float]:  # fmt: skip
        """``bc_step`` given f(o_t) and p's latent action of the video transition."""
        agent = self.agent
        target = agent.normalize(latents)
        if self.cfg.departures.latent_norm == "robust":
            target = target.clamp(-LATENT_CLIP, LATENT_CLIP)
        with self.autocast():
            loss = F.mse_loss(agent.policy(obs_feats), target)
        optim = self.warmup_optim if warmup else self.bc_optim
        optim.zero_grad(set_to_none=True)
        loss.backward()
        optim.step()
        return {"loss/bc": loss.item()}

    @torch.no_grad()
    def standardize_latents(self, video_batches: VideoBatches, device: torch.device,
                            keep_functions: bool = False) -> dict:  # fmt: skip
        """Set the agent's latent standardisation from p's latents of video windows; with
        ``keep_functions``, d and pi are re-parametrised so that they compute the same."""
        agent = self.agent
        agent.lam.eval()
        z = torch.cat([agent.lam.latent(video_batches.sample_features(agent.encoder,
                                                                      device)[:, self.lead :])
                       for _ in range(self.cfg.departures.latent_norm_batches)])  # fmt: skip
        mean, std = latent_statistics(z, robust=self.cfg.departures.latent_norm == "robust")
        if keep_functions:
            agent.restandardize(mean, std.clamp_min(1e-6))
        else:
            agent.z_mean.copy_(mean)
            agent.z_std.copy_(std.clamp_min(1e-6))
        return {"latent/mean_abs": mean.abs().mean().item(), "latent/std": std.mean().item()}

    def state_dict(self) -> dict:
        return {"ft": self.ft_optim.state_dict(), "bc": self.bc_optim.state_dict(),
                "wm": None if self.wm_optim is None else self.wm_optim.state_dict()}  # fmt: skip

    def load_state_dict(self, state: dict) -> None:
        self.ft_optim.load_state_dict(state["ft"])
        self.bc_optim.load_state_dict(state["bc"])
        if self.wm_optim is not None:
            self.wm_optim.load_state_dict(state["wm"])


def label_once(updates: int, batch_size: int, windows: int) -> bool:
    """Whether labelling all ``windows`` video windows at once costs no more p passes than
    labelling the phase's ``updates`` batches (the same labels either way)."""
    return updates * batch_size >= windows


def pretrained_idm(cfg: Config, latent_actions: Path | None) -> bool:
    """Whether the online stage starts from a pretrained p and w (w/o la starts them fresh)."""
    return latent_actions is not None and cfg.variant != "wo_la"


def load_pretrained(agent: Agent, cfg: Config, latent_actions: Path | None,
                    features: Path | None) -> None:  # fmt: skip
    """Pretrained f and p/w into the agent, per the variant (w/o la starts p and w fresh)."""
    if pretrained_idm(cfg, latent_actions):
        state = torch.load(latent_actions, map_location="cpu", weights_only=False)
        agent.lam.load_state_dict(state["model"])
        agent.encoder.load_state_dict(state["encoder"])
    elif features is not None and cfg.variant != "wo_lf":
        state = torch.load(features, map_location="cpu", weights_only=False)
        agent.encoder.load_state_dict(state["encoder"])


def online(task: Task, seed: int, cfg: Config, harness, videos: VideoDataset,
           latent_actions: Path | None, features: Path | None = None) -> None:  # fmt: skip
    """Algorithm 1, online stage, driven by the harness (evaluation, checkpoints, results)."""
    oc, la = cfg.online, cfg.latent_actions
    device = resolve_device(cfg.device)
    with seeded(seed):  # d and pi (and p, w without pretraining): the same in every process
        agent = Agent(cfg, task, videos.stacked_shape)
    load_pretrained(agent, cfg, latent_actions, features)
    agent.to(device)
    learner = OnlineLearner(cfg, agent)
    n_envs = oc.num_envs
    frames_per_step = n_envs * task.action_repeat
    # whole vectorised steps up to or past the budget, so its last point is reached and evaluated
    total_steps = math.ceil(harness.budget / frames_per_step)
    replay = WindowReplay(oc.replay_capacity, n_envs, videos.stacked_shape, task.action_space,
                          seed=seed, frame_stack=task.frame_stack)  # fmt: skip
    gen = torch.Generator().manual_seed(seed)

    state = harness.start()
    step, cycle = 0, 0
    if state is not None:
        # checkpoints written before the latent standardisation existed lack its buffers
        agent.load_state_dict({"z_mean": agent.z_mean, "z_std": agent.z_std} | state["agent"])
        learner.load_state_dict(state["learner"])
        replay.load_state_dict(state["replay"])
        gen.set_state(state["generator"])
        step, cycle = state["step"], state["cycle"]
    if device.type == "cuda":  # eq. 3's windows gathered on the GPU (the same windows)
        replay.hold_on(device, cfg.feature_cache_mb)
    # every action the online envs took, so that a resumed run can replay its envs to here
    env_log = ActionLog.resume(state)
    video_batches = VideoBatches([videos], learner.window, oc.bc_batch_size, seed + 2000)
    if state is not None and "video_batches" in state:  # older checkpoints lack it
        video_batches.load_state_dict(state["video_batches"])
    if not learner.train_encoder:
        t0 = time.perf_counter()
        table = video_batches.cache_features(agent.encoder, device, cfg.feature_cache_mb)
        harness.run.add_timing("feature_cache", time.perf_counter() - t0)
        if state is None:  # rebuilt on resume, logged once as a fresh run does
            harness.log(0, 0, table)

    # p's latent of every video transition, while p is fixed (the warm-up, each eq.-4 phase):
    # where f's table exists and p labels in eval mode, eq. 4 gathers its targets from it
    labels: list[torch.Tensor] | None = None

    def label_videos(updates: int) -> None:
        """Before a phase of ``updates`` BC updates (Table 9's phases have 2: p labels their
        256 windows, not the videos' 100k)."""
        nonlocal labels
        labels = None
        tables = video_batches.features
        if tables is None or oc.idm_mode_in_bc != "eval":
            return
        if not label_once(updates, oc.bc_batch_size, sum(len(t.table) for t in tables)):
            return
        agent.lam.eval()
        labels = [table.of_windows(agent.lam.latent, la.window) for table in tables]

    def bc_step(warmup: bool = False) -> dict[str, float]:
        if labels is not None:
            rows = [torch.from_numpy(r).to(device) for r in video_batches.sample_rows()]
            tables = video_batches.features or []
            feats = torch.cat([t.table[r] for t, r in zip(tables, rows, strict=True)])
            target = torch.cat([z[r + learner.lead] for z, r in zip(labels, rows, strict=True)])
            return learner.bc_step_on_latents(feats, target, warmup)
        if learner.train_encoder:
            return learner.bc_step(video_batches.sample(device), warmup)
        return learner.bc_step_on_features(video_batches.sample_features(agent.encoder, device),
                                           warmup)  # fmt: skip

    def checkpoint(extra: dict | None = None) -> None:
        harness.checkpoint(step, {"agent": agent.state_dict(), "learner": learner.state_dict(),
                                  "replay": replay.state_dict(), "generator": gen.get_state(),
                                  "video_batches": video_batches.state_dict(),
                                  "env_actions": env_log.state(),
                                  "step": step, "cycle": cycle, **(extra or {})})  # fmt: skip


    def evaluate_if_due() -> None:
        if harness.eval_due(step * frames_per_step):
            harness.evaluate(lambda o: agent.act(o, explore=False, generator=gen), step,
                             step * frames_per_step)  # fmt: skip

    fresh_idm = not pretrained_idm(cfg, latent_actions)
    dep = cfg.departures
    if state is None and dep.idm_input_norm == "standardize" and fresh_idm:
        harness.log(0, 0, fit_idm_input_norm(agent.lam, agent.encoder, video_batches,
                                             dep.idm_input_norm_batches, device))  # fmt: skip
    if state is None and dep.latent_norm != "none":
        harness.log(0, 0, learner.standardize_latents(video_batches, device))
    # Line 15-17: latent BC warm-up before any interaction (skipped without pretrained p).
    if state is None and cfg.variant != "wo_la":
        t0 = time.perf_counter()
        label_videos(oc.bc_warmup_updates)
        for i in range(oc.bc_warmup_updates):
            metrics = bc_step(warmup=True)
            if (i + 1) % 500 == 0 or i + 1 == oc.bc_warmup_updates:
                harness.log(0, 0, {"warmup/" + k: v for k, v in metrics.items()})
        harness.run.add_timing("bc_warmup", time.perf_counter() - t0)
        checkpoint()

    if oc.offline_labelled:

        def checkpoint_cycle(done: int, extra: dict) -> None:
            nonlocal step, cycle
            step = cycle = done  # no env steps here: the harness counts cycles, as its log does
            checkpoint(extra)

        offline_decoding(task, cfg, agent, learner, videos, harness, video_batches, device, gen,
                         start_cycle=cycle, checkpoint=checkpoint_cycle,
                         sampler_state=None if state is None else state.get("offline_sampler"),
                         bc_step=bc_step, label_videos=label_videos)  # fmt: skip
        return

    # an inexact resume plays another level sequence (17 * (cycle + 1), as it always has)
    env = make_reward_free(task, num_envs=n_envs,
                           seed=seed + 17 + env_log.seed_offset(17 * cycle))  # fmt: skip
    obs = env_log.start(env)  # a resumed run's envs, back where its checkpoint left them
    if state is None:
        replay.start(obs)
    elif not env_log.exact or not np.array_equal(obs, replay.pending):
        replay.restart(obs)  # not exact: new episodes
    bar = harness.progress_bar(total_steps * frames_per_step, step * frames_per_step)
    try:
        while step < total_steps:
            # Lines 19-25: collect one cycle (random actions in the first one).
            t0 = time.perf_counter()
            cycle_end = step + min(oc.cycle_steps, total_steps - step)
            while step < cycle_end:
                # without pretrained latent actions the policy means nothing yet: random too
                if cycle == 0 and (oc.random_first_cycle or cfg.variant == "wo_la"):
                    actions = random_actions(task, n_envs, gen)
                else:
                    actions = agent.act(obs, explore=True, generator=gen)
                out = env.step(actions)
                env_log.add(actions)
                replay.add(actions, out.obs, out.done, out.final_obs)
                obs = out.obs
                step += 1
                bar.update(frames_per_step)
                if step < cycle_end:  # a point at the cycle's end: after its updates, below
                    evaluate_if_due()
            harness.run.add_timing("collect", time.perf_counter() - t0)
            diag = cfg.diagnostics
            probing = diag.enabled and diag.replay_probe_windows and cfg.variant != "wo_la"
            probed = {}
            if probing:  # this cycle's transitions, before eq. 3 has seen them
                probed |= _probe_replay(replay, task, cfg, agent, device, harness, "probe_new",
                                        newest=oc.cycle_steps)  # fmt: skip
            # Lines 26-30: finetune p (and w) and train d on the replay (eq. 3).
            t0 = time.perf_counter()
            n_ft = (
                oc.ft_updates
                if oc.ft_updates is not None
                else max(1, math.ceil(oc.ft_epochs * replay.stored_transitions / oc.ft_batch_size))
            )
            for _ in range(n_ft):
                o, a = replay.sample_on(device, oc.ft_batch_size, learner.window,
                                        action_lead=learner.lead)  # fmt: skip
                ft = learner.finetune_step(o, a)
            if dep.latent_norm_refit:  # eq. 3 moved p: eq. 4's targets get p's current scale
                probed |= learner.standardize_latents(video_batches, device, keep_functions=True)
            # Lines 31-36: behaviour-clone pi on the videos (eq. 4).
            label_videos(oc.bc_updates)  # eq. 3 moved p
            for _ in range(oc.bc_updates):
                bc = bc_step()
            harness.run.add_timing("update", time.perf_counter() - t0)
            cycle += 1
            frames = step * frames_per_step
            if probing:  # the whole replay, which eq. 3 has trained p on
                probed |= _probe_replay(replay, task, cfg, agent, device, harness, "probe_replay")
            harness.log(step, frames, ft | bc | probed | {
                "train/ft_updates": n_ft, "train/replay": replay.stored_transitions})  # fmt: skip
            evaluate_if_due()
            if cycle % oc.checkpoint_every_cycles == 0 or step >= total_steps:
                checkpoint()
    finally:
        env.close()
        video_batches.close()
    harness.finish()


def _probe_replay(replay: WindowReplay, task: Task, cfg: Config, agent: Agent,
                  device: torch.device, harness, prefix: str,
                  newest: int | None = None) -> dict:  # fmt: skip
    """The online latent-action probe; its seconds go to run.json's ``probe`` phase."""
    t0 = time.perf_counter()
    diag = cfg.diagnostics
    probe = LatentActionProbe.from_replay(replay, cfg.latent_actions.window,
                                          diag.replay_probe_windows, task, prefix, newest,
                                          diag.replay_probe_decoder_updates,
                                          cfg.departures.action_lead)  # fmt: skip
    scores = probe.score(agent.encoder, agent.lam, device)
    harness.run.add_timing("probe", time.perf_counter() - t0)
    return scores


def random_actions(task: Task, n: int, gen: torch.Generator) -> np.ndarray:
    if task.action_space.is_discrete:
        return torch.randint(0, task.action_space.size, (n,), generator=gen).numpy()
    return (torch.rand((n, task.action_space.size), generator=gen) * 2 - 1).numpy()


def offline_decoding(task: Task, cfg: Config, agent: Agent, learner: OnlineLearner,
                     videos: VideoDataset, harness, video_batches: VideoBatches,
                     device: torch.device, gen: torch.Generator, start_cycle: int,
                     checkpoint: Callable[[int, dict], None], sampler_state: dict | None,
                     bc_step: Callable[[], dict], label_videos: Callable[[int], None]) -> None:  # fmt: skip
    """Table 10: eq. 3 and eq. 4 on N action-labelled expert transitions, no interaction. The
    cycle count equals the online stage's so both see the same number of updates.
    ``checkpoint(cycles_done, extra)`` saves the agent and ``extra``; a resumed run starts at
    ``start_cycle`` with its labelled sampler's ``sampler_state``. ``bc_step`` and
    ``label_videos`` are the online stage's eq. 4 and its per-phase labelling."""
    oc = cfg.online
    labels = videos.open_labels()
    # checkpoints written before the sampler's state was saved resume with a reseeded one
    seed = harness.seed + 3000 + (start_cycle if sampler_state is None else 0)
    limit = oc.offline_labelled
    sampler = labelled_sampler(videos, learner.window, oc.ft_batch_size, seed, limit)
    if sampler_state is not None:
        sampler.load_state_dict(sampler_state)
    before = transitions_before(videos)
    cycles = math.ceil(harness.budget / (oc.cycle_steps * oc.num_envs * task.action_repeat))
    for cycle in range(start_cycle, cycles):
        for _ in range(1 if oc.ft_updates is None else oc.ft_updates):
            batch = _labelled_batch(sampler, labels, limit, oc.ft_batch_size, before, learner.lead)
            ft = learner.finetune_step(torch.from_numpy(batch[0]).to(device),
                                       torch.from_numpy(batch[1]).to(device))  # fmt: skip
        if cfg.departures.latent_norm_refit:  # as online: eq. 3 moved p, eq. 4's targets get its scale
            ft |= learner.standardize_latents(video_batches, device, keep_functions=True)
        label_videos(oc.bc_updates)  # eq. 3 moved p
        for _ in range(oc.bc_updates):
            bc = bc_step()
        harness.log(cycle + 1, 0, ft | bc)
        if (cycle + 1) % oc.checkpoint_every_cycles == 0 or cycle + 1 == cycles:
            checkpoint(cycle + 1, {"offline_sampler": sampler.state_dict()})
    harness.evaluate(lambda o: agent.act(o, explore=False, generator=gen), cycles, harness.budget)
    sampler.close()
    harness.finish()


def labelled_sampler(videos: VideoDataset, window: int, batch_size: int, seed: int,
                     limit: int) -> WindowSampler:  # fmt: skip
    """A sampler of the chunks that hold the first ``limit`` transitions (Table 10's labelled
    ones): drawn from every chunk, the labelled windows of a long dataset (fruitbot's 8M
    transitions, ~1,000 chunks) would be found only while their chunk is in the cache."""
    first = [videos.first_episode(c) for c in range(videos.num_chunks)]
    return WindowSampler(videos, window=window, batch_size=batch_size, seed=seed,
                         chunks=np.flatnonzero(transitions_before(videos)[first] < limit))  # fmt: skip


def transitions_before(videos: VideoDataset) -> np.ndarray:
    """Transitions before each episode of ``videos``, in episode order (the last entry: all)."""
    per_episode = np.concatenate([videos.episode_lengths(c) for c in range(videos.num_chunks)])
    return np.concatenate([[0], np.cumsum(per_episode - 1)])


def _labelled_batch(sampler: WindowSampler, labels, limit: int, size: int, before: np.ndarray,
                    action_lead: int = 0):  # fmt: skip
    """Windows whose (last) transition lies among the first ``limit`` transitions of the
    dataset, in episode order: the N action-labelled expert transitions of Table 10; each
    with the action of its last transition, or of the one ``action_lead`` steps before.
    ``before``: ``transitions_before`` of the sampler's dataset."""
    obs, acts, have = [], [], 0
    for _ in range(10_000):
        b = sampler.sample_with_labels(labels)
        last = before[b.index.episode] + b.index.step + b.obs.shape[1] - 2
        keep = last < limit
        obs.append(b.obs[keep])
        acts.append(b.actions[keep][:, -1 - action_lead])
        have += int(keep.sum())
        if have >= size:
            return np.concatenate(obs)[:size], np.concatenate(acts)[:size]
    raise ValueError(f"could not draw {size} windows among the first {limit} transitions")
