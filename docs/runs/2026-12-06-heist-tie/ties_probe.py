"""How often the heist planner's moves tie: one env (seed 3) played by the planner for 400
steps; per step, the gap between the best and next-best move's path cost, how many moves land
where the chosen one does, and how many moves lie within a tolerance of the best.

    python docs/runs/2026-12-06-heist-tie/ties_probe.py      # from the repository root
"""

import numpy as np

from bcvlr.envs import make
from bcvlr.experts import planning as P
from bcvlr.tasks import get_task

env = make(get_task("heist"), num_envs=1, seed=3)
env.reset()
planner = P.HeistPlanner(0)
actions, seen = [], []
for _ in range(400):
    state = env.game_states()[0]
    layout = P.read_state(state)
    dist, target = planner._route(layout)
    planner._sim.load(state)
    _, _, won = planner._sim.step(P.MOVES)
    if won.any():
        action = int(P.MOVES[np.flatnonzero(won)[0]])
    else:
        after = [P.read_state(s).agent for s in planner._sim.states()]
        cost = np.array([P._path_cost(dist, target, float(a["x"]), float(a["y"])) for a in after])
        seen.append((cost, np.array([[float(a["x"]), float(a["y"])] for a in after])))
        action = int(np.argmin(cost))
    actions.append(action)
    env.step(np.array([action]))
costs = np.array([c for c, _ in seen])
gaps = np.diff(np.sort(costs, 1)[:, :2], axis=1)[:, 0]
print("steps", len(costs), "gap quantiles", np.quantile(gaps, [0.1, 0.25, 0.5, 0.75, 0.9]).round(4))
same = [int((np.abs(xy - xy[np.argmin(c)]).sum(1) < 1e-4).sum()) for c, xy in seen]
print("moves landing at the chosen spot:", np.bincount(same))
print("action histogram", np.bincount(actions, minlength=9))
for tol in (0.01, 0.05, 0.1, 0.2):
    near = (costs <= costs.min(1, keepdims=True) + tol).sum(1)
    print(tol, "near-ties per step", np.bincount(near, minlength=10)[1:])
