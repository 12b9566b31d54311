"""Where does D's 0/1 reward fall along expert episodes and along the trained agent's own?
A finished LAIfO run's last checkpoint, no augmentation; frame change: mean |o_t+1 - o_t| of
the newest frame (0-255 scale); env return on the evaluation's scale (1 per frame on target).

    python d_along_episodes.py RUN_DIR VIDEOS
"""

import json
import sys
from pathlib import Path

import numpy as np
import torch

from baselines import laifo
from bcvlr.config import load_config
from bcvlr.data import VideoDataset
from bcvlr.envs import make
from bcvlr.tasks import get_task


def quarters(x: np.ndarray) -> list[float]:
    return [round(float(q.mean()), 2) for q in np.array_split(x, 4)]


def frame_change(obs: np.ndarray) -> np.ndarray:
    return np.abs(np.diff(obs[:, -3:].astype(np.float32), axis=0)).mean((1, 2, 3))


def main() -> None:
    torch.set_num_threads(1)
    run, videos = sys.argv[1], VideoDataset(sys.argv[2])
    config = json.loads(Path(run, "run.json").read_text())["config"] | {"device": "cpu"}
    agent = laifo.LAIfOAgent(tuple(videos.stacked_shape), 2,
                             load_config(laifo.Config, base=config), videos, 0)  # fmt: skip
    agent.load_state_dict(torch.load(f"{run}/checkpoints/state.pt", weights_only=False)["agent"])

    @torch.no_grad()
    def d_reward(obs: np.ndarray) -> np.ndarray:
        z = agent.critic.trunk(agent.encoder(agent._layout(agent._tensor(obs))))
        n = agent.cfg.nstep  # D's pairs are (o_t, o_t+n), as in training
        return agent.disc.reward(torch.cat([z[:-n], z[n:]], -1)).cpu().numpy()

    for ep in range(0, 40, 8):
        obs = videos.episode_obs(ep)
        r = d_reward(obs)
        print(f"expert ep {ep}: D reward mean {r.mean():.2f}; by quarter {quarters(r)}; "
              f"frame change by quarter {quarters(frame_change(obs))}")  # fmt: skip
    task = get_task("reacher_easy")
    env = make(task, num_envs=1, seed=7)
    for ep in range(3):
        obs = env.reset()
        frames, env_r = [obs[0]], []
        for _ in range(task.episode_length // task.action_repeat):
            step = env.step(agent.act(obs, 50_000, deterministic=True))
            obs = step.obs
            frames.append(obs[0])
            env_r.append(float(step.reward[0]))
            if step.done[0]:
                break
        r = d_reward(np.stack(frames))
        print(f"agent ep {ep}: env return {sum(env_r):.0f}; D reward mean {r.mean():.2f}; by "
              f"quarter {quarters(r)}; env reward by quarter {quarters(np.array(env_r))}; "
              f"frame change by quarter {quarters(frame_change(np.stack(frames)))}")  # fmt: skip
    env.close()


if __name__ == "__main__":
    main()
