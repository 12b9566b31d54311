"""Read a Procgen game's saved state (``ProcgenVecEnv.get_state``) into its level layout.

The bytes are procgen's own serialisation (procgen 0.10.7: ``Game::serialize`` in game.cpp,
``BasicAbstractGame::serialize`` in basic-abstract-game.cpp, ``Entity::serialize`` in
entity.cpp, then each game's own fields): little-endian 4-byte ints and floats, strings and
vectors prefixed by their length. Every one of the 16 games is a BasicAbstractGame, so the
common part (grid, entities, agent) reads the same for all; the fields a game appends are read
for the games whose planners need them (heist, maze, plunder) and kept as raw bytes otherwise.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field

import numpy as np

SERIALIZE_VERSION = 0
PLAYER = 0  # entity type of the agent in every game
WALL = 51  # grid cell ids shared by the games (object-ids.h)
SPACE = 100
END_OF_BUFFER = struct.unpack("<i", struct.pack("<I", 0xCAFECAFE))[0]  # vecgame.cpp's end marker

ENTITY_DTYPE = np.dtype([
    ("x", "<f4"), ("y", "<f4"), ("vx", "<f4"), ("vy", "<f4"), ("rx", "<f4"), ("ry", "<f4"),
    ("type", "<i4"), ("image_type", "<i4"), ("image_theme", "<i4"), ("render_z", "<i4"),
    ("will_erase", "<i4"), ("collides_with_entities", "<i4"),
    ("collision_margin", "<f4"), ("rotation", "<f4"), ("vrot", "<f4"),
    ("is_reflected", "<i4"), ("fire_time", "<i4"), ("spawn_time", "<i4"), ("life_time", "<i4"),
    ("expire_time", "<i4"), ("use_abs_coords", "<i4"),
    ("friction", "<f4"), ("smart_step", "<i4"), ("avoids_collisions", "<i4"),
    ("auto_erase", "<i4"),
    ("alpha", "<f4"), ("health", "<f4"), ("theta", "<f4"), ("grow_rate", "<f4"),
    ("alpha_decay", "<f4"), ("climber_spawn_x", "<f4"),
])  # fmt: skip


class ProcgenStateError(ValueError):
    """Bytes that are not a procgen 0.10.7 game state."""


@dataclass
class GameLayout:
    """The parts of a saved game a planner reads. ``grid[y, x]`` is the cell at column x, row y
    (procgen's y grows upwards); entity positions are in the same cell units."""

    game: str
    cur_time: int
    timeout: int  # the step at which the game ends the episode
    grid_step: bool  # the agent moves one cell per step (maze) instead of continuously
    maxspeed: float
    grid: np.ndarray
    entities: np.ndarray  # ENTITY_DTYPE records, in the game's order
    extra: dict = field(default_factory=dict)  # the game's own fields (heist, maze, plunder)
    tail: bytes = b""  # the game's own fields, unread (with vecgame's end marker)

    @property
    def agent(self) -> np.void:
        players = np.flatnonzero(self.entities["type"] == PLAYER)
        if len(players) == 0:
            raise ProcgenStateError(f"{self.game}: the saved state has no agent entity")
        return self.entities[players[0]]

    def of_type(self, entity_type: int) -> np.ndarray:
        alive = (self.entities["type"] == entity_type) & (self.entities["will_erase"] == 0)
        return self.entities[alive]


class _Reader:
    def __init__(self, data: bytes):
        self.data, self.offset = data, 0

    def take(self, fmt: str):
        size = struct.calcsize(fmt)
        if self.offset + size > len(self.data):
            raise ProcgenStateError(f"state ends at byte {len(self.data)}, reading byte "
                                    f"{self.offset + size}")  # fmt: skip
        values = struct.unpack_from(fmt, self.data, self.offset)
        self.offset += size
        return values if len(values) > 1 else values[0]

    def int(self) -> int:
        return self.take("<i")

    def float(self) -> float:
        return self.take("<f")

    def string(self) -> bytes:
        n = self.int()
        return self.take(f"<{n}s") if n else b""

    def ints(self) -> np.ndarray:
        n = self.int()
        out = np.frombuffer(self.data, "<i4", n, self.offset)
        self.offset += 4 * n
        return out

    def rand_gen(self) -> None:
        self.int()  # is_seeded
        self.string()  # the mt19937's state, as text


def read_state(data: bytes) -> GameLayout:
    """Parse one game's saved state; raises ``ProcgenStateError`` on bytes of another layout."""
    r = _Reader(bytes(data))
    if (version := r.int()) != SERIALIZE_VERSION:
        raise ProcgenStateError(f"procgen state version {version}, this reader knows "
                                f"{SERIALIZE_VERSION}")  # fmt: skip
    game = r.string().decode()
    r.take("<12i")  # options: paint_vel_info .. physics_mode
    grid_step = bool(r.int())
    r.take("<4i")  # level_seed_low, level_seed_high, game_type, game_n
    r.rand_gen()  # level_seed_rand_gen
    r.rand_gen()  # rand_gen
    r.take("<f2i")  # step reward, done, level_complete
    _, timeout = r.take("<2i")  # action, timeout
    r.take("<4i")  # current/previous level seed, episodes_remaining, episode_done
    r.take("<ifi")  # last_reward_timer, last_reward, default_action
    r.int()  # fixed_asset_seed
    cur_time = r.int()
    r.int()  # is_waiting_for_step
    # BasicAbstractGame
    r.int()  # grid_size
    n_entities = r.int()
    entities = np.frombuffer(r.data, ENTITY_DTYPE, n_entities, r.offset).copy()
    r.offset += n_entities * ENTITY_DTYPE.itemsize
    r.take("<2i2f")  # background: use_procgen_background, index, tile ratio, pct_x
    r.take("<f3i")  # char_dim, last_move_action, move_action, special_action
    _, maxspeed, _ = r.take("<3f")  # mixrate, maxspeed, max_jump
    r.take("<3f")  # action_vx, action_vy, action_vrot
    r.take("<2f")  # center_x, center_y
    r.take("<3i")  # random_agent_start, has_useful_vel_info, step_rand_int
    r.rand_gen()  # asset_rand_gen
    r.take("<3i")  # main_width, main_height, out_of_bounds_object
    r.take("<6f")  # unit, view_dim, x_off, y_off, visibility, min_visibility
    w, h = r.int(), r.int()
    cells = r.ints()
    if len(cells) != w * h:
        raise ProcgenStateError(f"{game}: grid of {len(cells)} cells, expected {w}x{h}")
    layout = GameLayout(game, cur_time, timeout, grid_step, maxspeed, cells.reshape(h, w).copy(),
                        entities)  # fmt: skip
    if game in _GAME_FIELDS:
        layout.extra = _GAME_FIELDS[game](r)
        if r.int() != END_OF_BUFFER or r.offset != len(r.data):
            raise ProcgenStateError(f"{game}: the state does not end after the game's fields")
    layout.tail = r.data[r.offset :]
    return layout


def _heist_fields(r: _Reader) -> dict:
    num_keys, world_dim = r.int(), r.int()
    return {"num_keys": num_keys, "world_dim": world_dim,
            "has_keys": [bool(v > 0) for v in r.ints()]}  # fmt: skip


def _maze_fields(r: _Reader) -> dict:
    maze_dim, world_dim = r.int(), r.int()
    return {"maze_dim": maze_dim, "world_dim": world_dim}


def _plunder_fields(r: _Reader) -> dict:
    out = {"last_fire_time": r.int()}
    out["lane_directions"] = [bool(v > 0) for v in r.ints()]
    out["target_bools"] = [bool(v > 0) for v in r.ints()]
    out["image_permutation"] = r.ints().tolist()
    out["lane_vels"] = r.ints().view("<f4").tolist()
    out["num_lanes"], out["num_current_ship_types"] = r.int(), r.int()
    out["targets_hit"], out["target_quota"] = r.int(), r.int()
    out["juice_left"], out["r_scale"], out["spawn_prob"] = r.float(), r.float(), r.float()
    out["legend_r"], out["min_agent_x"] = r.float(), r.float()
    return out


_GAME_FIELDS = {"heist": _heist_fields, "maze": _maze_fields, "plunder": _plunder_fields}
