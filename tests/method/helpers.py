"""Small real video datasets for BCV-LR tests: real simulators, random or scripted actions."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from bcvlr.data import VideoDataset, VideoDatasetWriter
from bcvlr.envs import make
from bcvlr.tasks import get_task


def random_videos(task_name: str, out: Path, steps: int, seed: int = 0,
                  max_episode: int = 60) -> VideoDataset:  # fmt: skip
    """Roll random actions and write episodes of at most ``max_episode`` steps (with actions)."""
    task = get_task(task_name)
    env = make(task, num_envs=1, seed=seed)
    rng = np.random.default_rng(seed)
    with VideoDatasetWriter(out, task.name, (3, 64, 64), task.frame_stack, env.render_settings,
                            chunk_frames=100) as writer:  # fmt: skip
        written = 0
        while written < steps:
            obs = env.reset()
            frames, actions = [obs[0, -3:]], []
            for _ in range(max_episode):
                if task.action_space.is_discrete:
                    a = rng.integers(0, task.action_space.size, 1)
                else:
                    a = rng.uniform(-1, 1, (1, task.action_space.size)).astype(np.float32)
                s = env.step(a)
                actions.append(a[0])
                if s.done[0] and s.final_obs is None:
                    actions.pop()
                    break
                frames.append((s.final_obs if s.done[0] else s.obs)[0, -3:])
                if s.done[0]:
                    break
            writer.add_episode(np.stack(frames), np.stack(actions), np.zeros(len(actions)))
            written += len(actions)
    env.close()
    return VideoDataset(out)
