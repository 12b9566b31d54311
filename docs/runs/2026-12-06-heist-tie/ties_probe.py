import numpy as np, sys
from bcvlr.experts import planning as P
from bcvlr.envs import make
from bcvlr.tasks import get_task
task = get_task("heist")
env = make(task, num_envs=1, seed=3)
env.reset()
pl = P.HeistPlanner(0)
gaps, acts, pos = [], [], []
orig = P.HeistPlanner.plan
costs_seen = []
def plan(self, state, slot=0):
    layout = P.read_state(state)
    dist, target = self._route(layout)
    self._sim.load(state)
    _, _, won = self._sim.step(P.MOVES)
    if won.any():
        return int(P.MOVES[np.flatnonzero(won)[0]])
    after = [P.read_state(s).agent for s in self._sim.states()]
    cost = np.array([P._path_cost(dist, target, float(a["x"]), float(a["y"])) for a in after])
    xy = np.array([[float(a["x"]), float(a["y"])] for a in after])
    costs_seen.append((cost, xy))
    return int(np.argmin(cost))
for t in range(400):
    s = env.game_states()[0]
    a = plan(pl, s)
    acts.append(a)
    env.step(np.array([a]))
c = np.array([c for c, _ in costs_seen])
srt = np.sort(c, 1)
g = srt[:, 1] - srt[:, 0]
print("steps", len(c), "gap quantiles", np.quantile(g, [0.1, 0.25, 0.5, 0.75, 0.9]).round(4))
# how many moves end at (nearly) the same spot as the chosen one
same = [int((np.abs(xy - xy[np.argmin(cc)]).sum(1) < 1e-4).sum()) for cc, xy in costs_seen]
print("moves landing at the chosen spot:", np.bincount(same))
print("action histogram", np.bincount(acts, minlength=9))
for tol in (0.01, 0.05, 0.1, 0.2):
    print(tol, "near-ties per step", np.bincount((c <= c.min(1, keepdims=True) + tol).sum(1), minlength=10)[1:])
