"""`bcvlr collect-videos`: roll an expert out with the suite's render settings and write an
expert-video dataset. Resumes after a kill: the dataset writer keeps what was flushed, and the
collector continues until the requested number of transitions is reached."""

from __future__ import annotations

import argparse
import math
from pathlib import Path

import numpy as np
from tqdm import tqdm

from bcvlr.envs import make
from bcvlr.experts.train import load_expert
from bcvlr.run.evaluate import policy_inputs
from bcvlr.tasks import Task, get_task

# Paper defaults: Procgen 8M steps (LAPO's data), DMC 100k transitions (Table 12: 200k video
# frames at action repeat 2); Metaworld shares DMC's settings (Appendix B.2), so 100k too.
DEFAULT_STEPS = {"procgen": 8_000_000, "dmc": 100_000, "metaworld": 100_000}


class _EpisodeBuffer:
    def __init__(self, first_frame: np.ndarray):
        self.frames = [first_frame]
        self.actions: list[np.ndarray] = []
        self.rewards: list[float] = []
        self.success = False


def collect(task: Task, expert_dir: Path, steps: int, out: Path, seed: int = 0,
            chunk_frames: int | None = None, progress: bool = True,
            action_noise: float = 0.0) -> dict:  # fmt: skip
    """``action_noise``: std of Gaussian noise added to a continuous expert's actions (then
    clipped to [-1, 1]); the dataset stores the actions the env received. A deterministic
    expert in deterministic dynamics makes every next frame a function of the current one, so a
    latent-action model has no motion left to explain (docs/experiments.md)."""
    from bcvlr.data import DEFAULT_CHUNK_FRAMES, VideoDatasetWriter

    if problem := action_noise_problem(task, action_noise):
        raise ValueError(problem)
    expert = load_expert(expert_dir, task)
    env = make(task, seed=seed)
    c = 3  # one raw RGB frame per step; stacking is rebuilt by the sampler
    writer = VideoDatasetWriter(
        out, task.name, frame_shape=(c, 64, 64), frame_stack=task.frame_stack,
        render=env.render_settings,
        expert={"path": str(expert_dir)} | ({"action_noise": action_noise} if action_noise else {}),
        chunk_frames=chunk_frames or DEFAULT_CHUNK_FRAMES, resume=True,
    )  # fmt: skip
    if writer.complete:
        env.close()
        return writer.manifest["expert"]
    stats = dict(writer.manifest["expert"])
    n_eps, total, total_sq = stats.get("episodes", 0), stats.get("return_sum", 0.0), 0.0
    total_sq, successes = stats.get("return_sumsq", 0.0), stats.get("successes", 0)
    done_steps = writer.transitions_written
    # A resumed collection must not replay the episodes it already has: shift the env seed.
    if writer.episodes_written:
        env.close()
        env = make(task, seed=seed + 7919 * writer.episodes_written)
    noise_rng = np.random.default_rng([seed, writer.episodes_written])
    obs = env.reset()
    current = [_EpisodeBuffer(obs[i, -c:]) for i in range(env.num_envs)]
    bar = tqdm(total=steps, initial=done_steps, unit="step", desc=f"videos/{task.name}",
               disable=not progress, dynamic_ncols=True)  # fmt: skip
    while done_steps < steps:
        inputs = policy_inputs(expert.inputs, env, obs)
        actions = expert.act(inputs, deterministic=task.suite != "procgen")
        if action_noise:
            noise = noise_rng.normal(0.0, action_noise, np.shape(actions))
            actions = np.clip(actions + noise, -1.0, 1.0).astype(np.float32)
        step = env.step(actions)
        for i in range(env.num_envs):
            ep = current[i]
            ep.actions.append(np.asarray(actions[i]))
            ep.rewards.append(float(step.reward[i]))
            ep.success |= bool(step.success[i])
            if not step.done[i]:
                ep.frames.append(step.obs[i, -c:])
                continue
            ret = sum(ep.rewards)  # the episode's return, its last reward included
            if step.final_obs is not None:
                ep.frames.append(step.final_obs[i, -c:])
            else:  # procgen: the terminal frame is never shown, so the last action has no target
                ep.actions.pop()
                ep.rewards.pop()
            n_eps, total, total_sq = n_eps + 1, total + ret, total_sq + ret * ret
            successes += int(ep.success)
            # Stats go in before the episode so that they are saved with the chunk holding it.
            writer.update_provenance(expert={"episodes": n_eps, "return_sum": total,
                                             "return_sumsq": total_sq, "successes": successes,
                                             "mean_score": total / n_eps,
                                             "std_score": _std(n_eps, total, total_sq),
                                             "success_rate": successes / n_eps,
                                             "score": successes / n_eps
                                             if task.eval.metric == "success"
                                             else total / n_eps})  # fmt: skip
            # A one-step procgen episode keeps no action: an empty array of the actions' dtype.
            writer.add_episode(np.stack(ep.frames), np.stack(ep.actions) if ep.actions else
                               np.zeros((0, *np.shape(actions[i])), np.asarray(actions).dtype),
                               np.array(ep.rewards))  # fmt: skip
            done_steps += len(ep.actions)
            bar.update(len(ep.actions))
            current[i] = _EpisodeBuffer(step.obs[i, -c:])
        obs = step.obs
    bar.close()
    writer.close()
    env.close()
    return writer.manifest["expert"]


def action_noise_problem(task: Task, std: float) -> str | None:
    if std < 0 or (std > 0 and task.action_space.is_discrete):
        return (f"--action-noise must be >= 0 and applies to continuous actions only; "
                f"got {std} for {task.name}")  # fmt: skip
    return None


def _std(n: int, total: float, total_sq: float) -> float:
    mean = total / n
    return math.sqrt(max(total_sq / n - mean * mean, 0.0))


def main(args: argparse.Namespace) -> None:
    from bcvlr.errors import CliError

    task = get_task(args.task)
    steps = DEFAULT_STEPS[task.suite] if args.steps is None else args.steps  # >= 1: its type
    if problem := action_noise_problem(task, args.action_noise):
        raise CliError(problem)
    expert_dir = Path(args.expert)
    if not (expert_dir / "expert.json").exists():
        raise CliError(f"{expert_dir}: no expert.json; train one with `bcvlr train-expert`")
    stats = collect(task, expert_dir, steps, Path(args.out), seed=args.seed,
                    chunk_frames=args.chunk_frames, progress=not args.no_progress,
                    action_noise=args.action_noise)  # fmt: skip
    print(f"{args.out}: {stats['episodes']} episodes, expert return {stats['mean_score']:.3f} "
          f"± {stats['std_score']:.3f}, success rate {stats['success_rate']:.2f}")  # fmt: skip
