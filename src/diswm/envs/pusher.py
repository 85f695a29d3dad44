"""Gymnasium MuJoCo Pusher-v5 from pixels with DisWM's Pusher colour distractor.

As in the official ``gymnasium_wrapper``: a top-down camera, the object recoloured black, the table
(one colour) and the arm geoms ``uar, ua, ef, sp, fa, sl, e1, e2`` (a second shared colour) drawn from
the colour box once per episode (no random walk). Differences: we render at the target size directly
instead of 480x480 then PIL-resizing, and the colour stream is seeded.
"""

from __future__ import annotations

import gymnasium as gym
import numpy as np

from diswm.envs.base import DistractedEnv, EnvSpec
from diswm.envs.dmc import make_fast_render

ARM_GEOMS = ("uar", "ua", "ef", "sp", "fa", "sl", "e1", "e2")
#: Official camera: top-down view of the table.
CAMERA = {"trackbodyid": -1, "distance": 2.0, "elevation": -90.0, "lookat": np.array([0.0, -0.5, 0.2])}
ACTION_SCALE = 2.0  # Pusher's Box(-2, 2, (7,)), normalised to [-1, 1]


class PusherEnv(DistractedEnv):
    native_time_limit = 100  # Pusher-v5's TimeLimit, in MuJoCo env steps
    default_step_std = 0.0  # the official `step_std` is never used for Pusher

    def __init__(self, spec: EnvSpec):
        self._env = gym.make(
            "Pusher-v5", render_mode="rgb_array", width=spec.size, height=spec.size,
            default_camera_config=CAMERA, max_episode_steps=None,
        ).unwrapped
        model = self._env.model
        if spec.render_quality == "fast":
            make_fast_render(model)
        self._table = model.geom("table").id
        self._arm = np.array([model.geom(name).id for name in ARM_GEOMS])
        obj = model.body("object")
        self._object = np.arange(obj.geomadr[0], obj.geomadr[0] + obj.geomnum[0])
        self._object_default = model.geom_rgba[self._object].copy()
        super().__init__(spec)

    def _colour_target_names(self) -> list[str]:
        return ["table", "arm"]

    def _read_colours(self) -> np.ndarray:
        rgba = self._env.model.geom_rgba
        return np.stack([rgba[self._table, :3], rgba[self._arm[0], :3]]).astype(np.float64)

    def _write_colours(self, colours: np.ndarray) -> None:
        rgba = self._env.model.geom_rgba
        rgba[self._table, :3] = colours[0]
        rgba[self._arm, :3] = colours[1]

    def _action_dim(self) -> int:
        return int(self._env.action_space.shape[0])

    def _reset_physics(self, seed: int | None) -> None:
        self._env.reset(seed=seed)
        distracted = self._active_distractor != "none"
        self._env.model.geom_rgba[self._object] = (0.0, 0.0, 0.0, 1.0) if distracted else self._object_default

    def _physics_step(self, action: np.ndarray) -> tuple[float, bool, bool, float]:
        _, reward, terminated, _, _ = self._env.step((action * ACTION_SCALE).astype(np.float32))
        return float(reward), bool(terminated), False, 0.0 if terminated else 1.0

    def _render_image(self) -> np.ndarray:
        return self._env.render()

    def _physics_state(self) -> tuple[np.ndarray, np.ndarray]:
        return np.array(self._env.data.qpos), np.array(self._env.data.qvel)

    def _extra_observation_spaces(self) -> dict[str, gym.Space]:
        return {"observation": gym.spaces.Box(-np.inf, np.inf, self._env.observation_space.shape, np.float32)}

    def _extra_observations(self) -> dict[str, np.ndarray]:
        return {"observation": self._env._get_obs().astype(np.float32)}

    def close(self):
        self._env.close()
        super().close()
