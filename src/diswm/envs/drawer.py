"""DrawerWorld: Drawer Open / Drawer Close with table-top texture variations, on current MuJoCo.

The official DrawerWorld (paper Supp. C.2, Table B; released ``env/drawerworld`` and
``env/metaworld_wrappers.py``, ``MetaWorldWrapper``) vendors Meta-World v1's Sawyer drawer tasks on mujoco-py
and MuJoCo 2.1, which cannot be installed today, and Meta-World 3.x pins ``mujoco==3.3.0`` while
dm_control 1.0.50 needs ``mujoco>=3.17``: no single resolve holds both. So the scene is our own MJCF,
built for the MuJoCo the rest of the project uses, following Meta-World v1's task definition:

* the end effector is a mocap-driven two-finger hand (Meta-World also drives the Sawyer's hand by a
  mocap weld: ``action[:3] / 100`` moves the mocap, clipped to the hand bounds; ``action[3]`` closes the
  fingers). The Sawyer's kinematic chain is not modelled (in Meta-World it only follows the hand): one
  visual forearm link rigid with the hand, pointing back and up towards the robot's base, stands in for
  it in the images;
* a drawer in a fixed case at a random x in [-0.1, 0.1] each episode (Meta-World's 50 MT1 tasks);
  the drawer slides out towards the robot by up to ``MAX_OPENING``;
* Meta-World v1's drawer geometry (a case open at the front, a drawer on a 0.2 m slide, a handle bar on
  two arms 0.1 m in front of it), targets (open: 0.35 m in front of the drawer's origin, i.e. 0.15 m
  beyond the closed handle; close: the closed handle), rewards (minus the fingertip-handle distance, plus
  a pull term once the fingertips are within 0.05 m of the handle) and ``info["success"]`` (the handle
  within 0.08 m (open) or 0.06 m (close) of the target along the slide; any step counts for the
  episode), as in the DisWM/VAI copy of Meta-World v1;
* 5 simulation steps of 2.5 ms per control step, 200 control steps per episode, a 64x64 top-down camera
  (azimuth 180, elevation -90, distance 0.96, look-at (0, 0.6, 0)).

Distraction is the table-top texture, not colour: the ``train`` set is ``grid`` and ``test`` is
``wood`` (the paper's two training phases), and evaluation uses the held-out ``metal`` (set ``eval``);
``none`` is ``grid``. ``info["factors"]["texture"]`` is the index of the texture in
:data:`~diswm.envs.textures.TEXTURE_NAMES`.
"""

from __future__ import annotations

import mujoco
import numpy as np

from diswm.envs.base import DistractedEnv, EnvSpec
from diswm.envs.dmc import make_fast_render
from diswm.envs.textures import TEXTURE_NAMES, texture

DRAWER_TASKS = ("drawer_open", "drawer_close")
#: Distractor set -> table-top texture (released ``dreamer.py``, ``make_env`` and ``main``: train_1 grid, train_2 wood,
#: eval metal).
TEXTURE_SETS = {"none": "grid", "train": "grid", "test": "wood", "eval": "metal"}
TEXTURE_DISTRACTORS = tuple(TEXTURE_SETS)

ACTION_SCALE = 1.0 / 100  # metres of mocap motion per control step at |action| = 1
FRAME_SKIP = 5
HAND_LOW, HAND_HIGH = np.array([-0.5, 0.40, 0.05]), np.array([0.5, 1.0, 0.5])
HAND_INIT = np.array([0.0, 0.6, 0.2])
DRAWER_X_RANGE = (-0.1, 0.1)
CASE_Y = 0.9  # drawer case centre (Meta-World's obj_init_pos y); the closed handle is at CASE_Y - 0.2
MAX_OPENING = 0.2  # metres the drawer slides out (the joint range; v1's maxPullDist / maxDist)
OPEN_GOAL_OFFSET = 0.35  # v1 drawer-open target: obj_init_pos - (0, 0.35, 0), i.e. 0.15 beyond the closed handle
#: v1 success: pull distance (handle to target along y) <= 0.08 (open; the drawer out by >= 0.07) or
#: <= 0.06 (close; the drawer within 0.06 of closed).
SUCCESS_DISTANCE = {"drawer_open": 0.08, "drawer_close": 0.06}
CAMERA = {"azimuth": 180.0, "elevation": -90.0, "distance": 0.96, "lookat": (0.0, 0.6, 0.0)}

_SCENE = """
<mujoco model="drawerworld">
  <compiler angle="radian"/>
  <option timestep="0.0025" gravity="0 0 -9.81" solver="Newton" cone="elliptic" iterations="50"/>
  <visual>
    <global offwidth="640" offheight="640"/>
    <quality shadowsize="2048"/>
    <headlight ambient="0.3 0.3 0.3" diffuse="0.3 0.3 0.3"/>
  </visual>
  <asset>
    <material name="drawer" rgba="0.62 0.45 0.28 1"/>
    <material name="cover" rgba="0.50 0.34 0.20 1"/>
    <material name="handle" rgba="0.12 0.12 0.12 1"/>
    <material name="hand" rgba="0.55 0.10 0.10 1"/>
    <material name="finger" rgba="0.20 0.20 0.22 1"/>
  </asset>
  <default>
    <geom friction="1 0.005 0.0001" solref="0.02 1"/>
    <default class="drawer"><geom material="drawer" contype="2" conaffinity="1" mass="0.2"/></default>
    <default class="cover"><geom material="cover" contype="4" conaffinity="1"/></default>
    <default class="hand"><geom contype="1" conaffinity="7"/></default>
  </default>
  <worldbody>
    <light pos="1 1 4" dir="-0.25 -0.1 -1" diffuse="0.5 0.5 0.5" specular="0.1 0.1 0.1" castshadow="true"/>
    <light pos="-3 -3 4" dir="0.6 0.8 -1" diffuse="0.3 0.3 0.3" specular="0.1 0.1 0.1" castshadow="false"/>
    <geom name="table_top" type="box" pos="0 0.6 -0.02" size="0.7 0.6 0.02"/>
    <!-- Meta-World v1 drawer: the case ("drawer_cover") is open at the front, the drawer slides out -->
    <body name="case" pos="0 0.9 0">
      <geom class="cover" type="box" pos="0 0 0.22" size="0.105 0.105 0.001"/>
      <geom class="cover" type="box" pos="0 0.105 0.122" size="0.105 0.001 0.1"/>
      <geom class="cover" type="box" pos="0.105 0 0.122" size="0.001 0.105 0.1"/>
      <geom class="cover" type="box" pos="-0.106 0 0.122" size="0.001 0.105 0.1"/>
      <body name="drawer" pos="0 0 0.04">
        <joint name="drawer_slide" type="slide" axis="0 1 0" range="-0.2 0" limited="true" damping="1"
               armature="0.1"/>
        <geom class="drawer" type="box" pos="0 0 0.005" size="0.1 0.1 0.001"/>
        <geom class="drawer" type="box" pos="0 0.1 0.054" size="0.1 0.001 0.05"/>
        <geom class="drawer" type="box" pos="0 -0.1 0.054" size="0.1 0.001 0.05"/>
        <geom class="drawer" type="box" pos="0.1 0 0.054" size="0.001 0.1 0.05"/>
        <geom class="drawer" type="box" pos="-0.101 0 0.054" size="0.001 0.1 0.05"/>
        <geom class="drawer" name="handle" type="box" pos="0 -0.2 0.05" size="0.05 0.005 0.02" material="handle"/>
        <geom class="drawer" type="box" pos="0.045 -0.15 0.05" size="0.005 0.05 0.02" material="handle"/>
        <geom class="drawer" type="box" pos="-0.045 -0.15 0.05" size="0.005 0.05 0.02" material="handle"/>
        <site name="handle" pos="0 -0.2 0.05" size="0.005"/>
      </body>
    </body>
    <body name="mocap" mocap="true" pos="0 0.6 0.2"/>
    <body name="hand" pos="0 0.6 0.2">
      <freejoint name="hand_free"/>
      <geom class="hand" name="palm" type="box" pos="0 0 0.07" size="0.03 0.012 0.012" mass="0.2" material="hand"/>
      <geom class="hand" name="wrist" type="cylinder" pos="0 0 0.11" size="0.018 0.03" mass="0.1" material="hand"
            contype="0" conaffinity="0"/>
      <!-- a visual forearm towards the robot's base, so that the arm occludes the table as Sawyer's does -->
      <geom name="forearm" type="capsule" fromto="0 -0.02 0.14 0 -0.3 0.45" size="0.03" mass="0.01"
            material="hand" contype="0" conaffinity="0"/>
      <body name="finger_left" pos="-0.012 0 0.035">
        <joint name="finger_left" type="slide" axis="1 0 0" range="-0.015 0.0" damping="0.5"/>
        <geom class="hand" type="box" size="0.004 0.008 0.035" mass="0.02" material="finger"/>
      </body>
      <body name="finger_right" pos="0.012 0 0.035">
        <joint name="finger_right" type="slide" axis="1 0 0" range="0.0 0.015" damping="0.5"/>
        <geom class="hand" type="box" size="0.004 0.008 0.035" mass="0.02" material="finger"/>
      </body>
      <site name="tcp" pos="0 0 0.005" size="0.005"/>
    </body>
  </worldbody>
  <equality>
    <weld body1="mocap" body2="hand" solref="0.02 1"/>
  </equality>
  <actuator>
    <position name="close_left" joint="finger_left" kp="50" ctrlrange="-0.015 0"/>
    <position name="close_right" joint="finger_right" kp="50" ctrlrange="0 0.015"/>
  </actuator>
</mujoco>
"""


def build_model() -> mujoco.MjModel:
    """The scene with one material per texture of :data:`TEXTURE_NAMES` (table top: ``grid``)."""
    spec = mujoco.MjSpec.from_string(_SCENE)
    for name in TEXTURE_NAMES:
        pixels = texture(name)
        tex = spec.add_texture(name=f"tex_{name}", type=mujoco.mjtTexture.mjTEXTURE_2D,
                               width=pixels.shape[1], height=pixels.shape[0], nchannel=3)
        tex.data = pixels.tobytes()
        material = spec.add_material(name=f"table_{name}", texrepeat=[3, 3])
        material.textures[mujoco.mjtTextureRole.mjTEXROLE_RGB] = f"tex_{name}"
    spec.geom("table_top").material = "table_grid"
    return spec.compile()


class DrawerEnv(DistractedEnv):
    """``drawer_open`` or ``drawer_close`` (see the module docstring); actions Box(-1, 1, (4,))."""

    native_time_limit = 200  # Meta-World's max_path_length, in control steps
    default_step_std = 0.0

    def __init__(self, spec: EnvSpec):
        if spec.task not in DRAWER_TASKS:
            raise ValueError(f"task={spec.task!r}; expected one of {DRAWER_TASKS}")
        self.model = build_model()
        if spec.render_quality == "fast":
            make_fast_render(self.model)
        self.data = mujoco.MjData(self.model)
        self._table = self.model.geom("table_top").id
        self._materials = {name: self.model.material(f"table_{name}").id for name in TEXTURE_NAMES}
        self._case = self.model.body("case").id
        self._slide = self.model.joint("drawer_slide").qposadr[0]
        self._hand_qpos = self.model.joint("hand_free").qposadr[0]
        self._handle = self.model.site("handle").id
        self._tcp = self.model.site("tcp").id
        self._renderer: mujoco.Renderer | None = None
        self._camera = mujoco.MjvCamera()
        self._camera.type = mujoco.mjtCamera.mjCAMERA_FREE
        self._camera.azimuth, self._camera.elevation = CAMERA["azimuth"], CAMERA["elevation"]
        self._camera.distance, self._camera.lookat[:] = CAMERA["distance"], CAMERA["lookat"]
        self.texture = TEXTURE_SETS["none"]
        self.closed_handle_y = 0.0
        self.goal_y = 0.0
        self.success = False
        super().__init__(spec)

    # ------------------------------------------------------------------ distractor: textures
    def set_distractor(self, name: str) -> None:
        """Switch texture set (``none``, ``train``, ``test`` or the held-out ``eval``) from the next reset."""
        if name not in TEXTURE_SETS:
            raise ValueError(f"distractor={name!r}; expected one of {TEXTURE_DISTRACTORS}")
        self._distractor_name = name

    def evaluation_set(self, training_set: str) -> str:
        return "eval"  # DrawerWorld always evaluates on the unseen metal texture (released ``dreamer.py``, ``main``)

    def _colour_target_names(self) -> list[str]:
        return []

    def _read_colours(self) -> np.ndarray:
        return np.zeros((0, 3))

    def _write_colours(self, colours: np.ndarray) -> None:
        pass

    def _extra_factors(self) -> dict[str, np.ndarray]:
        return {"texture": np.array([TEXTURE_NAMES.index(self.texture)], np.float32)}

    # ------------------------------------------------------------------ physics
    def _action_dim(self) -> int:
        return 4

    def _reset_physics(self, seed: int | None) -> None:
        if seed is not None:
            self._rng = np.random.default_rng(seed)
        self.texture = TEXTURE_SETS[self._active_distractor]
        self.model.geom_matid[self._table] = self._materials[self.texture]
        mujoco.mj_resetData(self.model, self.data)
        x = self._rng.uniform(*DRAWER_X_RANGE)
        self.model.body_pos[self._case] = (x, CASE_Y, 0.0)
        self.data.mocap_pos[0] = HAND_INIT
        self.data.qpos[self._hand_qpos:self._hand_qpos + 3] = HAND_INIT
        self.data.qpos[self._slide] = -MAX_OPENING if self.spec_.task == "drawer_close" else 0.0
        mujoco.mj_forward(self.model, self.data)
        self.closed_handle_y = self.handle_position[1] - self.data.qpos[self._slide]
        self.goal_y = CASE_Y - OPEN_GOAL_OFFSET if self.spec_.task == "drawer_open" else self.closed_handle_y
        mujoco.mj_step(self.model, self.data, 10 * FRAME_SKIP)  # the hand settles on its mocap, as v1's reset
        self.success = False

    @property
    def handle_position(self) -> np.ndarray:
        return self.data.site_xpos[self._handle].copy()

    @property
    def tcp_position(self) -> np.ndarray:
        return self.data.site_xpos[self._tcp].copy()

    def _physics_step(self, action: np.ndarray) -> tuple[float, bool, bool, float]:
        self.data.mocap_pos[0] = np.clip(self.data.mocap_pos[0] + action[:3] * ACTION_SCALE, HAND_LOW, HAND_HIGH)
        grip = float(np.clip(action[3], -1.0, 1.0))  # -1 open, +1 closed
        opening = 0.02 * (1.0 - grip) / 2.0
        self.data.ctrl[:] = (-0.02 + opening, 0.02 - opening)
        mujoco.mj_step(self.model, self.data, FRAME_SKIP)
        reward, pull_distance = self._reward()
        self.success = self.success or pull_distance <= SUCCESS_DISTANCE[self.spec_.task]
        return reward, False, False, 1.0

    def _reward(self) -> tuple[float, float]:
        """Meta-World v1's drawer reward shape: ``-reach + pull``; returns ``(reward, pull distance)``."""
        handle = self.handle_position
        reach = float(np.linalg.norm(self.tcp_position - handle))
        pull = abs(float(handle[1]) - self.goal_y)
        pull_reward = 0.0
        if reach < 0.05:
            c1, c2, c3 = 1000.0, 0.01, 0.001
            pull_reward = 1000.0 * (MAX_OPENING - pull) + c1 * (np.exp(-pull**2 / c2) + np.exp(-pull**2 / c3))
            pull_reward = max(pull_reward, 0.0)
        return -reach + pull_reward, pull

    def _render_image(self) -> np.ndarray:
        if self._renderer is None:
            self._renderer = mujoco.Renderer(self.model, self.spec_.size, self.spec_.size)
        self._renderer.update_scene(self.data, self._camera)
        return self._renderer.render().copy()

    def _physics_state(self) -> tuple[np.ndarray, np.ndarray]:
        return np.array(self.data.qpos), np.array(self.data.qvel)

    def _info(self, env_steps: int, discount: float) -> dict:
        return {**super()._info(env_steps, discount), "success": bool(self.success)}

    def close(self):
        if self._renderer is not None:
            self._renderer.close()
            self._renderer = None
        super().close()


def scripted_action(env: DrawerEnv, gain: float = 50.0) -> np.ndarray:
    """A scripted expert from the simulator state (for tests and demonstrations, not for learning).

    Open: above the gap between the handle bar and the drawer front, down below the bar's top, then pull
    towards the robot. Close: above a point in front of the bar, down, then push the drawer home.
    """
    tcp, handle = env.tcp_position, env.handle_position
    opening = env.spec_.task == "drawer_open"
    side = 1.0 if opening else -1.0  # where the fingers go: behind the bar (open) or in front (close)
    grasp = np.array([handle[0], handle[1] + side * 0.03, handle[2] - 0.03])
    offset = (tcp[1] - handle[1]) * side  # > 0 on the grasp side of the bar
    hooked = abs(tcp[0] - handle[0]) < 0.03 and 0.0 < offset < 0.06 and tcp[2] < handle[2] + 0.01
    above = np.linalg.norm(tcp[:2] - grasp[:2]) < 0.015
    done = (handle[1] - env.goal_y) * side <= 0.01  # at (or beyond) the target: hold still
    if done:
        target = tcp
    elif hooked:
        target = np.array([handle[0], tcp[1] - side * 0.05, grasp[2]])  # pull (open) or push (close)
    elif above:
        target = grasp  # down beside the bar
    elif tcp[2] < grasp[2] + 0.1:
        target = np.array([tcp[0], tcp[1], grasp[2] + 0.12])  # rise clear of the drawer first
    else:
        target = np.array([grasp[0], grasp[1], grasp[2] + 0.12])  # then over the grasp point
    action = np.zeros(4)
    action[:3] = np.clip((target - tcp) * gain, -1.0, 1.0)
    action[3] = -1.0  # fingers open
    return action
