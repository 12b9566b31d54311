"""Where does D's 0/1 reward fall along expert episodes and along the trained agent's own?
A finished LAIfO run's last checkpoint, no augmentation; frame change: mean |o_t+1 - o_t| of
the newest frame (0-255 scale). python d_along_episodes.py RUN_DIR VIDEOS"""
import sys
import numpy as np
import torch
from baselines import laifo
from bcvlr.config import load_config
from bcvlr.data import VideoDataset
from bcvlr.envs import make
from bcvlr.tasks import get_task

torch.set_num_threads(1)
run, videos = sys.argv[1], sys.argv[2]
vids = VideoDataset(videos)
state = torch.load(f"{run}/checkpoints/state.pt", weights_only=False)
import json
cfg = load_config(laifo.Config, None, None, base=json.load(open(f"{run}/run.json"))["config"] | {"device": "cpu"})
agent = laifo.LAIfOAgent(tuple(vids.stacked_shape), 2, cfg, vids, 0)
agent.load_state_dict(state["agent"])
del state

@torch.no_grad()
def feats(obs):
    return agent.critic.trunk(agent.encoder(agent._layout(agent._tensor(obs))))

@torch.no_grad()
def d_reward(obs):
    z = feats(obs)
    pair = torch.cat([z[:-3], z[3:]], -1)
    return agent.disc.reward(pair).cpu().numpy()

labels = vids.open_labels()
rw_all, d_all = [], []
for ep in range(0, 40, 8):
    obs = vids.episode_obs(ep)
    r = d_reward(obs)
    mv = np.abs(np.diff(obs[:, -3:].astype(np.float32), axis=0)).mean((1, 2, 3))
    print(f"expert ep {ep}: D reward mean {r.mean():.2f}; by quarter",
          [round(float(q.mean()), 2) for q in np.array_split(r, 4)], "; frame change by quarter",
          [round(float(q.mean()), 2) for q in np.array_split(mv, 4)])
task = get_task("reacher_easy")
env = make(task, num_envs=1, seed=7)
for e in range(3):
    obs = env.reset(); frames = [obs[0]]; env_r = []
    for t in range(task.episode_length // task.action_repeat):
        a = agent.act(obs, 50000, deterministic=True)
        s = env.step(a); obs = s.obs; frames.append(obs[0]); env_r.append(float(s.reward[0]))
        if s.done[0]: break
    r = d_reward(np.stack(frames))
    fr = np.stack(frames)
    mv = np.abs(np.diff(fr[:, -3:].astype(np.float32), axis=0)).mean((1, 2, 3))
    print(f"agent ep {e}: env return {sum(env_r):.0f}; D reward mean {r.mean():.2f}; by quarter",
          [round(float(q.mean()), 2) for q in np.array_split(r, 4)],
          "; env reward by quarter", [round(float(q.mean()), 2) for q in np.array_split(np.array(env_r), 4)],
          "; frame change by quarter", [round(float(q.mean()), 2) for q in np.array_split(mv, 4)])
env.close()
