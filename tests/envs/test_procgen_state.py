"""The Procgen state reader on the real simulator: the layout it reads is the one the game
plays (the agent where a step moved it, heist's keys and doors, maze's cheese)."""

import numpy as np
import pytest

from bcvlr.envs import make
from bcvlr.envs.procgen_state import WALL, ProcgenStateError, read_state
from bcvlr.tasks import TASKS, get_task

PROCGEN = sorted(t.name for t in TASKS.values() if t.suite == "procgen")


@pytest.mark.parametrize("name", PROCGEN)
def test_every_game_reads_to_its_end(name):
    env = make(get_task(name), num_envs=2, seed=5)
    env.step(np.zeros(2, dtype=np.int64))
    for data in env.get_state().games:
        layout = read_state(data)
        assert layout.game == get_task(name).sim_id
        assert layout.grid.ndim == 2 and layout.grid.size > 0
        assert np.isfinite(layout.agent["x"]) and np.isfinite(layout.agent["y"])
        # the registry's episode cap is the game's own (plunder and bossfight: 4000)
        assert layout.timeout == get_task(name).episode_length
        # the games read to their end (heist, maze) or their own fields kept, then the end marker
        assert layout.extra or layout.tail.endswith(bytes.fromhex("fecafeca"))
    env.close()


def test_maze_layout_and_a_move_read_back():
    """Maze moves one cell a step: stepping toward an open neighbour moves the agent there."""
    env = make(get_task("maze"), num_envs=1, seed=3)
    layout = read_state(env.get_state().games[0])
    assert layout.grid_step and layout.extra["world_dim"] == layout.grid.shape[0] == 15
    assert (layout.grid == 2).sum() == 1  # one cheese
    x, y = int(layout.agent["x"]), int(layout.agent["y"])
    moves = {(1, 0): 7, (-1, 0): 1, (0, 1): 5, (0, -1): 3}  # procgen's RIGHT, LEFT, UP, DOWN
    dx, dy = next(d for d in moves if layout.grid[y + d[1], x + d[0]] != WALL)
    env.step(np.array([moves[dx, dy]]))
    after = read_state(env.get_state().games[0]).agent
    assert (int(after["x"]), int(after["y"])) == (x + dx, y + dy)


def test_heist_keys_doors_and_gem():
    env = make(get_task("heist"), num_envs=8, seed=1)
    for data in env.get_state().games:
        layout = read_state(data)
        keys, doors = layout.of_type(2), layout.of_type(1)
        assert layout.extra["num_keys"] == len(keys) == len(doors) == len(layout.extra["has_keys"])
        assert len(layout.of_type(9)) == 1  # the gem
        assert not any(layout.extra["has_keys"])
        ax, ay = int(layout.agent["x"]), int(layout.agent["y"])
        assert layout.grid[ay, ax] != WALL
    env.close()


def test_bytes_of_another_layout_are_refused():
    data = make(get_task("heist"), num_envs=1, seed=0).get_state().games[0]
    with pytest.raises(ProcgenStateError, match="version"):
        read_state(b"\x07" + data[1:])
    with pytest.raises(ProcgenStateError, match="ends at byte"):
        read_state(data[:200])
