"""Planning experts for Procgen: they act from the simulator's saved state instead of being
trained, so a CPU can make expert videos in minutes (issue #28).

- ``maze``: the level's grid is read from the state (``bcvlr.envs.procgen_state``); the agent
  moves one cell a step, so the first move of a breadth-first path to the cheese is the action.
- ``heist``: a path on the grid (locked doors are walls until their key is held): to the gem if
  it is reachable, else to the nearest reachable key. The agent moves continuously, so each of
  the nine moves is tried in a copy of the simulator and the one whose result lies nearest the
  target along the path is taken.
- every other game: simulator lookahead. Each action is tried in copies of the game, followed
  by short rollouts (one repeating it, the rest random); the action with the best rollout is
  taken. It sees the simulator's own future randomness, which a policy acting from frames
  cannot.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from bcvlr.envs.procgen_state import WALL, GameLayout, read_state
from bcvlr.tasks import Task

KIND = "planner"
MOVES = np.arange(9)  # procgen's combos 0-8: every (vx, vy) in {-1, 0, 1}^2
STEPS = ((1, 0), (-1, 0), (0, 1), (0, -1))
HEIST_DOOR, HEIST_KEY, HEIST_GEM = 1, 2, 9  # heist.cpp's entity types
MAZE_CHEESE = 2  # maze.cpp's goal cell


@dataclass(frozen=True)
class Goal:
    """Where a game's reward waits, for the lookahead's distance term (ids from the game's
    .cpp): the grid cells of ``cells``, or when none is left the entities of type ``entity``.
    The distance is a path around the ``blocked`` cells (None: a straight line; ``vertical``:
    rows only)."""

    entity: int | None = None
    cells: tuple[int, ...] = ()
    blocked: tuple[int, ...] | None = None
    vertical: bool = False


GOALS = {
    "coinrun": Goal(cells=(1,), blocked=(15, 16, 17, 18, 20)),  # GOAL; walls, lava, crates
    "ninja": Goal(entity=1, blocked=(6, 14, 20)),  # GOAL; bombs, fire, walls
    "jumper": Goal(entity=1, blocked=(6, 7)),  # GOAL; cave walls
    "caveflyer": Goal(entity=1, blocked=(8,)),  # GOAL; cave walls
    "climber": Goal(entity=1, blocked=(15, 16)),  # COIN; walls
    "leaper": Goal(entity=5, vertical=True),  # FINISH_LINE
    "dodgeball": Goal(entity=7),  # DOOR_OPEN, once every enemy is hit
    "miner": Goal(cells=(2, 4), entity=6, blocked=(1, 3, 10)),  # DIAMONDs, then EXIT
    "chaser": Goal(cells=(1002,), blocked=(5,)),  # ORBs, around MAZE_WALL
}  # fmt: skip


@dataclass
class PlannerConfig:
    horizon: int = 16  # lookahead planner: steps of each rollout (its first action included)
    rollouts: int = 4  # lookahead planner: rollouts per action
    death_penalty: float = 10.0  # lookahead planner: value of an episode lost in a rollout
    goal_weight: float = 0.1  # lookahead planner: value of each unit of distance to the goal
    score_episodes: int = 64  # train-expert scores the planner (task protocol); 0: not


def move_action(dx: int, dy: int) -> int:
    """The procgen action that moves by (dx, dy): set_action_xy reads vx = a // 3 - 1,
    vy = a % 3 - 1."""
    return (dx + 1) * 3 + (dy + 1)


def distances_to(blocked: np.ndarray, *goals: tuple[int, int]) -> np.ndarray:
    """Breadth-first path length (4-connected cells) from every cell to the nearest of
    ``goals`` (x, y); ``inf`` where blocked or unreachable. ``blocked[y, x]``."""
    h, w = blocked.shape
    dist = np.full((h, w), np.inf)
    queue = deque()
    for gx, gy in goals:
        if 0 <= gx < w and 0 <= gy < h and not blocked[gy, gx]:
            dist[gy, gx] = 0
            queue.append((gx, gy))
    while queue:
        x, y = queue.popleft()
        for dx, dy in STEPS:
            nx, ny = x + dx, y + dy
            if 0 <= nx < w and 0 <= ny < h and not blocked[ny, nx] and dist[ny, nx] == np.inf:
                dist[ny, nx] = dist[y, x] + 1
                queue.append((nx, ny))
    return dist


def _cell(x: float, y: float) -> tuple[int, int]:
    return int(np.floor(x)), int(np.floor(y))


class _Simulator:
    """Copies of one game, for trying actions from a saved state."""

    def __init__(self, game: str, copies: int, seed: int):
        from procgen import ProcgenGym3Env

        self.copies = copies
        self._env = ProcgenGym3Env(num=copies, env_name=game, distribution_mode="easy",
                                   num_levels=0, start_level=0, rand_seed=seed)  # fmt: skip

    def load(self, state: bytes) -> None:
        self._env.callmethod("set_state", [state] * self.copies)

    def step(self, actions: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Rewards, episode ends, and which of those ends completed the level."""
        self._env.act(np.asarray(actions, dtype=np.int32))
        reward, _, first = self._env.observe()
        done = first.astype(bool)
        won = done & np.array([i["prev_level_complete"] for i in self._env.get_info()], bool)
        return reward, done, won

    def states(self) -> list[bytes]:
        return list(self._env.callmethod("get_state"))


class MazePlanner:
    def plan(self, state: bytes, slot: int = 0) -> int:
        layout = read_state(state)
        goal = np.argwhere(layout.grid == MAZE_CHEESE)
        if len(goal) == 0:  # the cheese was just eaten: the level is over
            return move_action(0, 0)
        dist = distances_to(layout.grid == WALL, (int(goal[0][1]), int(goal[0][0])))
        x, y = _cell(layout.agent["x"], layout.agent["y"])
        best = min(STEPS, key=lambda d: _dist_at(dist, x + d[0], y + d[1]))
        return move_action(*best)


class HeistPlanner:
    def __init__(self, seed: int):
        self._sim = _Simulator("heist", len(MOVES), seed)

    def plan(self, state: bytes, slot: int = 0) -> int:
        layout = read_state(state)
        dist, target = self._route(layout)
        self._sim.load(state)
        _, _, won = self._sim.step(MOVES)
        if won.any():
            return int(MOVES[np.flatnonzero(won)[0]])
        after = [read_state(s).agent for s in self._sim.states()]
        cost = [_path_cost(dist, target, float(a["x"]), float(a["y"])) for a in after]
        return int(MOVES[int(np.argmin(cost))])

    @staticmethod
    def _route(layout: GameLayout) -> tuple[np.ndarray, tuple[float, float]]:
        """Distances to the gem if the agent can reach it, else to its nearest reachable key."""
        has_keys = layout.extra["has_keys"]
        blocked = layout.grid == WALL
        for door in layout.of_type(HEIST_DOOR):
            if not has_keys[door["image_theme"]]:
                x, y = _cell(door["x"], door["y"])
                blocked[y, x] = True
        ax, ay = _cell(layout.agent["x"], layout.agent["y"])
        options = []
        for kind in (HEIST_GEM, HEIST_KEY):
            for ent in layout.of_type(kind):
                target = (float(ent["x"]), float(ent["y"]))
                dist = distances_to(blocked, _cell(*target))
                if dist[ay, ax] < np.inf:
                    options.append((kind != HEIST_GEM, dist[ay, ax], dist, target))
        if not options:
            raise RuntimeError("heist: neither the gem nor a key is reachable")
        _, _, dist, target = min(options, key=lambda o: (o[0], o[1]))
        return dist, target


def _dist_at(dist: np.ndarray, x: int, y: int) -> float:
    h, w = dist.shape
    return float(dist[y, x]) if 0 <= x < w and 0 <= y < h else np.inf


def _path_cost(dist: np.ndarray, target: tuple[float, float], x: float, y: float) -> float:
    """Distance left along the path from the point (x, y): through the best of its cell and
    that cell's neighbours, to the target's own position in the target's cell."""
    cx, cy = _cell(x, y)
    best = np.inf
    for dx, dy in ((0, 0), *STEPS):
        d = _dist_at(dist, cx + dx, cy + dy)
        if d == np.inf:
            continue
        px, py = target if d == 0 else (cx + dx + 0.5, cy + dy + 0.5)
        best = min(best, d + float(np.hypot(x - px, y - py)))
    return best


# The share of its life an agent has left, in the games where it drains (plunder's juice).
LIFE = {"plunder": lambda layout: layout.extra["juice_left"]}


class LookaheadPlanner:
    """Each action is tried by ``rollouts`` action sequences of ``horizon`` steps: one repeats
    it, one continues the plan kept from the last step, the others are random. A rollout's
    value: its return, less ``death_penalty`` if its episode ended without completing the
    level (the agent died, or ran out of time), where the game has a goal (``GOALS``), less
    ``goal_weight`` x the distance left to it, and where its life drains (``LIFE``), less
    ``death_penalty`` x the share of it used."""

    def __init__(self, game: str, num_actions: int, cfg: PlannerConfig, seed: int):
        self.num_actions, self.cfg = num_actions, cfg
        self.game, self.goal = game, GOALS.get(game)
        self._sim = _Simulator(game, num_actions * cfg.rollouts, seed)
        self._first = np.repeat(np.arange(num_actions), cfg.rollouts)
        self._repeats = np.tile(np.arange(cfg.rollouts) == 0, num_actions)
        self._rng = np.random.default_rng(seed)
        self._plans: dict[int, np.ndarray] = {}

    def plan(self, state: bytes, slot: int = 0) -> int:
        """The best first action from ``state``; ``slot`` names the game being played, whose
        best plan so far is tried again (deterministic, so it scores as before or better)."""
        copies, horizon = self._sim.copies, self.cfg.horizon
        sequences = self._rng.integers(0, self.num_actions, (horizon, copies))
        sequences[0] = self._first
        sequences[:, self._repeats] = self._first[self._repeats]
        kept = self._plans.get(slot)
        if kept is not None and len(kept) and self.cfg.rollouts > 1:
            copy = kept[0] * self.cfg.rollouts + 1
            sequences[: len(kept), copy] = kept
        self._sim.load(state)
        value = np.zeros(copies)
        alive = np.ones(copies, bool)
        for actions in sequences:
            reward, done, won = self._sim.step(actions)
            value += reward * alive
            value -= self.cfg.death_penalty * (alive & done & ~won)
            alive &= ~done  # after an episode ends its copy plays another level: not counted
        if self.goal is not None or self.game in LIFE:
            distance = goal_distance(read_state(state), self.goal) if self.goal else None
            for i, data in enumerate(self._sim.states()):
                if alive[i]:
                    end = read_state(data)
                    if distance is not None:
                        value[i] -= self.cfg.goal_weight * distance(end.agent)
                    if self.game in LIFE:  # a life running out ends the episode: a death
                        value[i] -= self.cfg.death_penalty * (1 - LIFE[self.game](end))
        # The simulator is deterministic from a saved state: the best rollout is a plan.
        per_action = value.reshape(self.num_actions, self.cfg.rollouts).max(1)
        action = int(self._rng.choice(np.flatnonzero(per_action == per_action.max())))
        first = action * self.cfg.rollouts  # the action's rollouts are copies first..first+K-1
        best = first + int(np.argmax(value[first : first + self.cfg.rollouts]))
        self._plans[slot] = sequences[1:, best]
        return action


def goal_distance(root: GameLayout, goal: Goal):
    """The distance left to ``goal`` from an agent (a function of the agent's entity record),
    the targets read from ``root``, the state the lookahead starts from."""
    cells = np.argwhere(np.isin(root.grid, goal.cells))[:, ::-1] + 0.5  # (x, y) centres
    if len(cells) == 0 and goal.entity is not None:
        ends = root.of_type(goal.entity)
        cells = np.stack([ends["x"], ends["y"]], 1)
    if len(cells) == 0:
        return lambda agent: 0.0
    if goal.blocked is None:
        if goal.vertical:
            return lambda agent: float(np.abs(cells[:, 1] - agent["y"]).min())
        return lambda agent: float(np.hypot(*(cells - [agent["x"], agent["y"]]).T).min())
    dist = distances_to(np.isin(root.grid, goal.blocked), *[_cell(x, y) for x, y in cells])
    far = dist[np.isfinite(dist)].max(initial=0) + 1  # unreachable: worse than any path
    return lambda agent: min(_dist_at(dist, *_cell(agent["x"], agent["y"])), far)


class PlanningExpert:
    """Acts for every game of a ``ProcgenVecEnv`` from its saved states."""

    inputs = "simulator"

    def __init__(self, task: Task, cfg: PlannerConfig, seed: int):
        if task.suite != "procgen":
            raise ValueError(f"planning experts are for Procgen games, not {task.name!r}")
        self.planner_name = planner_name(task)
        if task.sim_id == "maze":
            self._planner = MazePlanner()
        elif task.sim_id == "heist":
            self._planner = HeistPlanner(seed)
        else:
            self._planner = LookaheadPlanner(task.sim_id, task.action_space.size, cfg, seed)

    def act(self, env, deterministic: bool = True) -> np.ndarray:
        games = env.game_states()
        return np.array([self._planner.plan(s, i) for i, s in enumerate(games)], dtype=np.int64)


def planner_name(task: Task) -> str:
    return {"maze": "maze_path", "heist": "heist_path"}.get(task.sim_id, "lookahead")


def train_expert(task: Task, *, kind: str, seed: int, out, config_file=None, overrides=(),
                 progress: bool = True) -> None:  # fmt: skip
    """Nothing to train: record the planner and its settings, and score it with the task's
    evaluation protocol (``--set score_episodes=0`` skips that)."""
    import dataclasses

    from bcvlr.config import load_config
    from bcvlr.experts.train import write_expert_json
    from bcvlr.run.evaluate import evaluate

    if kind != KIND:
        raise ValueError(f"{__name__} records {KIND!r} experts, not {kind!r}")
    cfg = load_config(PlannerConfig, config_file, list(overrides))
    expert = PlanningExpert(task, cfg, seed)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    extra = {}
    if cfg.score_episodes:
        result = evaluate(task, expert.act, episodes=cfg.score_episodes, seed=seed,
                          inputs="simulator")  # fmt: skip
        extra = {"score": result.score(task), "score_metric": f"eval/{task.eval.metric}",
                 "score_std": float(result.returns.std()), "eval_episodes": len(result.returns),
                 "eval_steps": int(result.lengths.sum())}  # fmt: skip
    write_expert_json(out, task, kind, __name__, seed, planner=expert.planner_name,
                      config=dataclasses.asdict(cfg), **extra)  # fmt: skip


def load_expert(path, meta: dict) -> PlanningExpert:
    from bcvlr.config import from_dict
    from bcvlr.tasks import get_task

    cfg = from_dict(PlannerConfig, meta.get("config", {}), where=f"{path}/expert.json config")
    return PlanningExpert(get_task(meta["task"]), cfg, int(meta["seed"]))
