"""The task registry: one row per task, the single place that names tasks.

Budgets are counted the way the paper counts them: Procgen in environment steps summed over the
parallel envs, DMC and Metaworld in environment *frames* (policy steps x action repeat).
Expert scores are the "Expert Videos" columns of the paper's Tables 1, 2 and 6 (``None`` where
the paper prints none: walker_walk only appears in Figures 8/9).
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from typing import Literal

from bcvlr.errors import UserError

Suite = Literal["procgen", "dmc", "metaworld"]
SUITES: tuple[Suite, ...] = ("procgen", "dmc", "metaworld")


@dataclass(frozen=True)
class ActionSpace:
    kind: Literal["discrete", "continuous"]
    # number of discrete actions, or the dimension of the continuous box [-1, 1]^dim
    size: int

    @property
    def is_discrete(self) -> bool:
        return self.kind == "discrete"


@dataclass(frozen=True)
class EvalProtocol:
    episodes: int
    # points (in the task's budget unit) at which the paper's tables read the score
    report_at: tuple[int, ...]
    # how often learning curves are evaluated, in the budget unit
    every: int
    deterministic: bool
    metric: Literal["return", "success"]


@dataclass(frozen=True)
class Task:
    name: str
    suite: Suite
    # identifier inside the simulator: procgen game, "domain/task" for DMC, Metaworld v3 env name
    sim_id: str
    budget: int
    budget_unit: Literal["env_steps", "frames"]
    action_space: ActionSpace
    # maximal episode length in *policy* steps (after action repeat)
    episode_length: int
    frame_stack: int
    action_repeat: int
    num_envs: int
    eval: EvalProtocol
    expert_score: float | None
    # tables in the paper that report this task
    paper_tables: tuple[int, ...] = ()
    # the MuJoCo camera Metaworld frames are rendered from (None for the other suites); a
    # "<task>@<camera>" name asks for another one (see get_task)
    camera: str | None = None

    @property
    def base_name(self) -> str:
        """The registry's name: a camera variant's task without its camera."""
        return self.name.split(CAMERA_SEPARATOR, 1)[0]

    @property
    def policy_steps(self) -> int:
        """The interaction budget in policy steps (what a learner actually calls step() for)."""
        if self.budget_unit == "frames":
            return self.budget // self.action_repeat
        return self.budget

    def to_dict(self) -> dict:
        d = dataclasses.asdict(self)
        d["policy_steps"] = self.policy_steps
        return d


PROCGEN_ACTIONS = 15
_PROCGEN_EXPERT = {  # Table 1, "Expert Videos"
    "bigfish": 36.3, "maze": 10.0, "heist": 9.7, "coinrun": 9.9, "plunder": 11.5,
    "dodgeball": 13.5, "jumper": 8.5, "climber": 10.2, "fruitbot": 29.9, "starpilot": 67.0,
    "ninja": 9.5, "miner": 11.9, "caveflyer": 9.2, "leaper": 7.4, "chaser": 10.0,
    "bossfight": 11.6,
}  # fmt: skip
# Procgen's per-game episode cap: game.cpp's timeout of 1000 unless the game's own .cpp sets
# another (tests/envs/test_procgen_state.py reads it from each saved game).
_PROCGEN_MAX_EPISODE = {"bigfish": 6000, "bossfight": 4000, "plunder": 4000, "leaper": 500,
                        "maze": 500}  # fmt: skip

# (name, domain/task, action dim, expert score from Table 2, tables)
_DMC = [
    ("point_mass_easy", "point_mass/easy", 2, 885.0, (2, 4, 5)),
    ("reacher_easy", "reacher/easy", 2, 975.0, (2, 4, 5)),
    ("reacher_hard", "reacher/hard", 2, 967.0, (2, 4, 5, 8, 9, 10)),
    ("finger_spin", "finger/spin", 2, 981.0, (2, 4, 5, 8, 9, 10)),
    ("ball_in_cup_catch", "ball_in_cup/catch", 2, 986.0, (2, 4, 5)),
    ("cheetah_run_backward", "cheetah/run_backward", 6, 389.0, (2, 4, 5)),
    ("jaco_reach_top_right", "jaco/reach_top_right", 9, 198.0, (2, 4, 5)),
    ("jaco_reach_bottom_left", "jaco/reach_bottom_left", 9, 203.0, (2, 4, 5)),
    ("walker_walk", "walker/walk", 6, None, ()),
]
# DMC suite episodes are 1000 physics-control steps; URLB's jaco reach is 10 s at 40 ms = 250.
_DMC_EPISODE_FRAMES = {"jaco": 250}

_METAWORLD = [  # Table 6: every scripted/RL expert reaches 1.00 success
    ("metaworld_reach", "reach-v3"),
    ("metaworld_faucet_open", "faucet-open-v3"),
    ("metaworld_faucet_close", "faucet-close-v3"),
    ("metaworld_drawer_open", "drawer-open-v3"),
]
_METAWORLD_MAX_PATH = 500  # metaworld v3's max_path_length
# The cameras metaworld v3's scene defines. The paper does not say which one it rendered;
# "corner" shows arm, object and goal large enough at 64x64 (corner2 leaves them a few pixels
# wide). behindGripper changes ~3x more pixels per action but did not help any learner we ran
# (docs/experiments.md); "<task>@<camera>" selects another camera per task.
METAWORLD_CAMERAS = ("corner", "corner2", "corner3", "topview", "behindGripper", "gripperPOV")
METAWORLD_CAMERA = "corner"
CAMERA_SEPARATOR = "@"


def _build() -> dict[str, Task]:
    tasks: list[Task] = []
    for game, score in _PROCGEN_EXPERT.items():
        tables = (1,) + ((7,) if game in {"fruitbot", "heist", "bossfight", "chaser"} else ())
        tables += (3,) if game in {"bigfish", "maze", "starpilot", "bossfight", "dodgeball"} else ()
        tables += (10,) if game == "fruitbot" else ()
        tasks.append(
            Task(
                name=game, suite="procgen", sim_id=game, budget=100_000,
                budget_unit="env_steps",
                action_space=ActionSpace("discrete", PROCGEN_ACTIONS),
                episode_length=_PROCGEN_MAX_EPISODE.get(game, 1000), frame_stack=1, action_repeat=1,
                num_envs=64,
                # A held-out evaluation of 64 parallel episodes on the training distribution,
                # at the 100k-step budget (the authors' code logs training returns only).
                eval=EvalProtocol(episodes=64, report_at=(100_000,), every=25_600,
                                  deterministic=False, metric="return"),
                expert_score=score, paper_tables=tuple(sorted(tables)),
            )
        )  # fmt: skip
    for name, sim_id, adim, score, tables in _DMC:
        domain = sim_id.split("/")[0]
        frames = _DMC_EPISODE_FRAMES.get(domain, 1000)
        tasks.append(
            Task(
                name=name, suite="dmc", sim_id=sim_id, budget=100_000, budget_unit="frames",
                action_space=ActionSpace("continuous", adim), episode_length=frames // 2,
                frame_stack=3, action_repeat=2, num_envs=1,
                # authors' DMC code: 10 deterministic episodes every 1000 policy steps
                eval=EvalProtocol(episodes=10, report_at=(20_000, 50_000, 100_000), every=2_000,
                                  deterministic=True, metric="return"),
                expert_score=score, paper_tables=tables,
            )
        )  # fmt: skip
    for name, sim_id in _METAWORLD:
        tasks.append(
            Task(
                name=name, suite="metaworld", sim_id=sim_id, budget=50_000, budget_unit="frames",
                action_space=ActionSpace("continuous", 4),
                episode_length=_METAWORLD_MAX_PATH // 2, frame_stack=3, action_repeat=2,
                num_envs=1,
                eval=EvalProtocol(episodes=10, report_at=(50_000,), every=2_000,
                                  deterministic=True, metric="success"),
                expert_score=1.0, paper_tables=(6,), camera=METAWORLD_CAMERA,
            )
        )  # fmt: skip
    return {t.name: t for t in tasks}


TASKS: dict[str, Task] = _build()


def eval_points(task: Task, budget: int, every: int) -> list[int]:
    """Frames (the budget's unit) at which a run of ``budget`` evaluating every ``every``
    evaluates: every ``every`` and the tables' points, within the budget, and the budget's
    end (the harness's schedule; the workflow prices the evaluations from it)."""
    pts = set(range(every, budget + 1, every))
    pts |= {p for p in task.eval.report_at if p <= budget}
    pts.add(budget)
    return sorted(pts)


class UnknownTaskError(UserError, KeyError):
    def __str__(self) -> str:  # KeyError quotes its message; keep it readable
        return str(self.args[0])


def get_task(name: str) -> Task:
    """The registry's task; "metaworld_reach@corner" is that Metaworld task rendered from
    another camera (its own task name, so its videos, runs and results stay apart)."""
    if CAMERA_SEPARATOR in name:
        return _camera_variant(name)
    try:
        return TASKS[name]
    except KeyError:
        import difflib

        close = difflib.get_close_matches(name, TASKS, n=3)
        hint = f" Did you mean: {', '.join(close)}?" if close else ""
        raise UnknownTaskError(
            f"unknown task {name!r}.{hint} `bcvlr tasks` lists the {len(TASKS)} tasks."
        ) from None


def _camera_variant(name: str) -> Task:
    base_name, camera = name.split(CAMERA_SEPARATOR, 1)
    base = get_task(base_name)
    if base.suite != "metaworld":
        raise UnknownTaskError(f"task {name!r}: only Metaworld tasks take a camera "
                               f"({base_name!r} is a {base.suite} task)")  # fmt: skip
    if camera not in METAWORLD_CAMERAS:
        raise UnknownTaskError(f"task {name!r}: unknown camera {camera!r}; Metaworld's cameras "
                               f"are {', '.join(METAWORLD_CAMERAS)}")  # fmt: skip
    if camera == base.camera:
        return base
    return dataclasses.replace(base, name=name, camera=camera)


def tasks_of(suite: Suite | None = None) -> list[Task]:
    if suite is not None and suite not in SUITES:
        raise ValueError(f"unknown suite {suite!r}; expected one of {', '.join(SUITES)}")
    return [t for t in TASKS.values() if suite is None or t.suite == suite]


def registry_json(suite: Suite | None = None) -> str:
    return json.dumps([t.to_dict() for t in tasks_of(suite)], indent=2)
