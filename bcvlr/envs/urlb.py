"""The URLB task families that ``dm_control.suite`` lacks: cheetah run_backward and jaco reach.

Both follow the definitions in URLB (rll-research/url_benchmark, ``custom_dmc_tasks/``) and are
built from dm_control's own models and manipulation building blocks, so no assets are vendored.

* ``cheetah/run_backward``: the suite cheetah, rewarded for running at ``-speed``; 10 s at the
  model's 0.01 s timestep = 1000 control steps, action dim 6 in [-1, 1].
* ``jaco/reach_<corner>``: a composer task, the Jaco arm and hand reaching a Duplo brick placed at
  a fixed corner (x, y = +-0.09); control step 0.04 s (20 physics steps of 0.002 s), 10 s =
  250 control steps, action dim 9 (6 arm joint velocities, 3 finger velocities) in physical
  units, *not* [-1, 1]: rescale with the action spec.

Pixels are not part of the observations; render with ``env.physics.render(h, w,
camera_id=camera_for(task))``. The composer env recompiles its physics on every reset (as URLB's
does), so ``env.physics`` is a new object after each ``reset()``: never cache it across resets.
"""

from __future__ import annotations

import collections

import numpy as np
from dm_control import composer
from dm_control.composer import initializers
from dm_control.composer.variation import distributions
from dm_control.entities import props
from dm_control.manipulation.shared import (
    arenas,
    cameras,
    constants,
    observations,
    robots,
    workspaces,
)
from dm_control.rl import control
from dm_control.suite import cheetah
from dm_control.utils import rewards

# --- cheetah/run_backward ---------------------------------------------------------------------

# Same speed threshold and time limit as suite cheetah run (and URLB's run_backward).
_CHEETAH_RUN_SPEED = 10.0
_CHEETAH_TIME_LIMIT = 10.0

# dm_control's floor spans x in [-2, 198]: a cheetah running backwards leaves it after ~2 m and
# the renderer then shows only the skybox. URLB's copy of the XML doubles the plane (x in
# [-102, 298]); collisions are unaffected either way (MuJoCo planes are infinite for contacts).
_SUITE_GROUND = 'size="100 .8 .5"'
_URLB_GROUND = 'size="200 .8 .5"'


class CheetahRunBackward(cheetah.Cheetah):
    """Suite cheetah task whose run reward is on the negated horizontal speed."""

    def get_reward(self, physics: cheetah.Physics) -> float:
        return float(
            rewards.tolerance(
                -physics.speed(),
                bounds=(_CHEETAH_RUN_SPEED, float("inf")),
                margin=_CHEETAH_RUN_SPEED,
                value_at_margin=0,
                sigmoid="linear",
            )
        )


def _cheetah_model() -> tuple[str, dict]:
    xml, assets = cheetah.get_model_and_assets()
    xml = xml.decode() if isinstance(xml, bytes) else xml
    if xml.count(_SUITE_GROUND) != 1:
        raise RuntimeError("dm_control's cheetah.xml changed: cannot widen the ground plane")
    return xml.replace(_SUITE_GROUND, _URLB_GROUND), assets


def load_cheetah_run_backward(seed: int | None) -> control.Environment:
    """The URLB cheetah run_backward task (1000 steps of 0.01 s, action dim 6 in [-1, 1])."""
    physics = cheetah.Physics.from_xml_string(*_cheetah_model())
    task = CheetahRunBackward(random=seed)
    return control.Environment(physics, task, time_limit=_CHEETAH_TIME_LIMIT)


# --- jaco/reach_* -----------------------------------------------------------------------------

_Workspace = collections.namedtuple("_Workspace", ["target_bbox", "tcp_bbox", "arm_offset"])

# The brick starts 1 mm above the table so that it does not touch it before settling.
_PROP_Z = 0.001
_CORNER = 0.09
_TARGET_RADIUS = 0.05
_JACO_TIME_LIMIT = 10.0

# (x, y) of the brick for each URLB target; x grows to the right of the front_close camera.
JACO_TARGETS: dict[str, tuple[float, float]] = {
    "top_left": (-_CORNER, _CORNER),
    "top_right": (_CORNER, _CORNER),
    "bottom_left": (-_CORNER, -_CORNER),
    "bottom_right": (_CORNER, -_CORNER),
}

# dm_control manipulation's Duplo reach workspace, which URLB keeps for the hand's spawn box.
_DUPLO_WORKSPACE = _Workspace(
    target_bbox=workspaces.BoundingBox(lower=(-0.1, -0.1, _PROP_Z), upper=(0.1, 0.1, _PROP_Z)),
    tcp_bbox=workspaces.BoundingBox(lower=(-0.1, -0.1, 0.2), upper=(0.1, 0.1, 0.4)),
    arm_offset=robots.ARM_OFFSET,
)


class FixedTargetReach(composer.Task):
    """Move the Jaco hand's pinch site close to a Duplo brick placed at a fixed position."""

    def __init__(self, target: str, obs_settings: observations.ObservationSettings) -> None:
        x, y = JACO_TARGETS[target]
        workspace = _DUPLO_WORKSPACE
        self._arena = arenas.Standard()
        self._arm = robots.make_arm(obs_settings=obs_settings)
        self._hand = robots.make_hand(obs_settings=obs_settings)
        self._arm.attach(self._hand)
        self._arena.attach_offset(self._arm, offset=workspace.arm_offset)
        self.control_timestep = constants.CONTROL_TIMESTEP

        self._tcp_initializer = initializers.ToolCenterPointInitializer(
            self._hand,
            self._arm,
            position=distributions.Uniform(*workspace.tcp_bbox),
            quaternion=workspaces.DOWN_QUATERNION,
        )
        # Adds the front_close camera to the model; with obs_settings' camera disabled it is
        # never rendered as an observation, only by explicit physics.render calls.
        self._task_observables = cameras.add_camera_observables(
            self._arena, obs_settings, cameras.FRONT_CLOSE
        )

        self._prop = props.Duplo(
            observable_options=observations.make_options(
                obs_settings, observations.FREEPROP_OBSERVABLES
            )
        )
        # An invisible site on the brick, kept for parity with URLB's model (same geometry,
        # hence the same compiled physics and rendering).
        workspaces.add_target_site(
            body=self._prop.mjcf_model.worldbody,
            radius=_TARGET_RADIUS,
            visible=False,
            rgba=constants.RED,
            name="target_site",
        )
        self._target = self._arena.add_free_entity(self._prop)
        # A degenerate box: the placer's uniform draw always returns the fixed corner.
        self._prop_placer = initializers.PropPlacer(
            props=[self._prop],
            position=distributions.Uniform((x, y, _PROP_Z), (x, y, _PROP_Z)),
            quaternion=workspaces.uniform_z_rotation,
            settle_physics=True,
        )

        # Spawn-area sites sit in the invisible task-site group: no effect on rendered pixels.
        worldbody = self.root_entity.mjcf_model.worldbody
        workspaces.add_bbox_site(
            body=worldbody,
            lower=workspace.tcp_bbox.lower,
            upper=workspace.tcp_bbox.upper,
            rgba=constants.GREEN,
            name="tcp_spawn_area",
        )
        workspaces.add_bbox_site(
            body=worldbody,
            lower=workspace.target_bbox.lower,
            upper=workspace.target_bbox.upper,
            rgba=constants.BLUE,
            name="target_spawn_area",
        )

    @property
    def root_entity(self) -> composer.Entity:
        return self._arena

    @property
    def arm(self):
        return self._arm

    @property
    def hand(self):
        return self._hand

    @property
    def prop(self) -> props.Duplo:
        """The Duplo brick that marks the target."""
        return self._prop

    @property
    def task_observables(self):
        return self._task_observables

    def target_position(self, physics) -> np.ndarray:
        """World position of the brick (the reach target)."""
        return np.array(physics.bind(self._target).xpos, dtype=np.float64)

    def hand_position(self, physics) -> np.ndarray:
        """World position of the hand's tool centre point (the pinch site)."""
        return np.array(physics.bind(self._hand.tool_center_point).xpos, dtype=np.float64)

    def get_reward(self, physics) -> float:
        distance = np.linalg.norm(self.hand_position(physics) - self.target_position(physics))
        return float(rewards.tolerance(distance, bounds=(0, _TARGET_RADIUS), margin=_TARGET_RADIUS))

    def initialize_episode(self, physics, random_state: np.random.RandomState) -> None:
        # Same order of random draws as URLB: grasp, hand pose, then brick placement.
        self._hand.set_grasp(physics, close_factors=random_state.uniform())
        self._tcp_initializer(physics, random_state)
        self._prop_placer(physics, random_state)


def load_jaco_reach(target: str, seed: int | None) -> composer.Environment:
    """URLB's jaco reach_<target> (250 steps of 0.04 s, action dim 9, physical action bounds)."""
    if target not in JACO_TARGETS:
        raise ValueError(
            f"unknown jaco reach target {target!r}; expected one of {sorted(JACO_TARGETS)}"
        )
    # PERFECT_FEATURES = proprioception + brick pose, with every camera observable disabled.
    task = FixedTargetReach(target, obs_settings=observations.PERFECT_FEATURES)
    return composer.Environment(task, time_limit=_JACO_TIME_LIMIT, random_state=seed)


# --- entry point ------------------------------------------------------------------------------

# DrQ-v2 / URLB render DMC tasks from camera 0; URLB's jaco pixels come from front_close.
CHEETAH_CAMERA: int = 0
JACO_CAMERA: str = cameras.FRONT_CLOSE.name

_JACO_PREFIX = "jaco/reach_"
TASKS: tuple[str, ...] = ("cheetah/run_backward",) + tuple(_JACO_PREFIX + t for t in JACO_TARGETS)

Env = control.Environment | composer.Environment


def _check(task_name: str) -> None:
    if task_name not in TASKS:
        raise ValueError(f"unknown URLB task {task_name!r}; known: {list(TASKS)}")


def load(task_name: str, seed: int | None) -> Env:
    """Build a URLB task from its registry ``sim_id`` (e.g. ``"jaco/reach_top_right"``)."""
    _check(task_name)
    if task_name == "cheetah/run_backward":
        return load_cheetah_run_backward(seed)
    return load_jaco_reach(task_name.removeprefix(_JACO_PREFIX), seed)


def camera_for(task_name: str) -> int | str:
    """The ``camera_id`` to pass to ``physics.render`` for a task."""
    _check(task_name)
    return CHEETAH_CAMERA if task_name.startswith("cheetah/") else JACO_CAMERA
