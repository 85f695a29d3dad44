"""DeepMind Control Suite tasks rendered from pixels, with DisWM's colour distractor on all materials."""

from __future__ import annotations

import numpy as np
from dm_control import suite
from dm_control.mujoco.engine import Camera

from diswm.envs.base import DistractedEnv, EnvSpec

#: task name -> (domain, task, camera id). Camera 0 as in dmc2gym / DreamerV2 (2 only for quadruped).
DMC_TASKS: dict[str, tuple[str, str, int]] = {
    "cheetah_run": ("cheetah", "run", 0),
    "walker_walk": ("walker", "walk", 0),
    "hopper_stand": ("hopper", "stand", 0),
    "reacher_easy": ("reacher", "easy", 0),
    "finger_spin": ("finger", "spin", 0),
    "cartpole_swingup": ("cartpole", "swingup", 0),
    "humanoid_walk": ("humanoid", "walk", 0),
}


def make_fast_render(model) -> None:
    """Turn off shadows, reflections and anti-aliasing: ~4x faster software rendering, different look.

    Must run before the first render, since the shadow map and multisample buffers are sized when the
    GL context is created.
    """
    model.vis.quality.shadowsize = 0
    model.vis.quality.offsamples = 0
    if model.nmat:
        model.mat_reflectance[:] = 0.0


class DMCEnv(DistractedEnv):
    """A dm_control task; the colour distractor recolours every material (``mat_rgba``), as the official
    DisWM fork of the Distracting Control Suite does, and random-walks them every control step."""

    default_step_std = 0.2

    def __init__(self, spec: EnvSpec):
        domain, task, self._camera_id = DMC_TASKS[spec.task]
        self._env = suite.load(domain, task, task_kwargs={"random": np.random.RandomState(0)})
        self._physics = self._env.physics
        self.native_time_limit = round(self._env._step_limit)  # control steps (1000 for these tasks)
        if spec.render_quality == "fast":
            make_fast_render(self._physics.model)
        self._camera: Camera | None = None  # built at the first render, then reused
        super().__init__(spec)
        self.official_inner_repeat = spec.action_repeat  # dmc2gym's frame_skip = config.action_repeat
        self.visible_colour_names = self._visible_materials()

    def _colour_target_names(self) -> list[str]:
        model = self._physics.model
        return [model.material(i).name for i in range(model.nmat)]

    def _visible_materials(self) -> list[str]:
        """Materials used by a geom in a rendered group (0-2); the others never reach the pixels."""
        model = self._physics.model
        used = {int(m) for m, g in zip(model.geom_matid, model.geom_group, strict=True) if m >= 0 and g < 3}
        return [name for i, name in enumerate(self.colour_names) if i in used]

    def _read_colours(self) -> np.ndarray:
        return np.array(self._physics.model.mat_rgba[:, :3], dtype=np.float64)

    def _write_colours(self, colours: np.ndarray) -> None:
        self._physics.model.mat_rgba[:, :3] = colours

    def _action_dim(self) -> int:
        spec = self._env.action_spec()
        if not (np.allclose(spec.minimum, -1) and np.allclose(spec.maximum, 1)):
            raise ValueError(f"{self.spec_.task}: expected actions in [-1, 1], got {spec}")
        return int(spec.shape[0])

    def _reset_physics(self, seed: int | None) -> None:
        if seed is not None:
            self._env.task.random.seed(seed)
        self._env.reset()

    def _physics_step(self, action: np.ndarray) -> tuple[float, bool, bool, float]:
        time_step = self._env.step(action)
        discount = 1.0 if time_step.discount is None else float(time_step.discount)
        # DMC episodes of these tasks never terminate; they only reach the time limit (discount 1).
        terminated = time_step.last() and discount == 0.0
        return float(time_step.reward or 0.0), terminated, time_step.last(), discount

    def _render_image(self) -> np.ndarray:
        # what ``physics.render(size, size, camera_id)`` draws, with one camera and scene kept for the environment's
        # life rather than allocated per frame (1.5-3 ms of a fast frame on 2 CPU cores, bench.env_speed; the
        # pixels are the same, tested)
        if self._camera is None:
            size = self.spec_.size
            self._camera = Camera(self._physics, height=size, width=size, camera_id=self._camera_id)
        return np.ascontiguousarray(self._camera.render())

    def _physics_state(self) -> tuple[np.ndarray, np.ndarray]:
        data = self._physics.data
        return np.array(data.qpos), np.array(data.qvel)

    def close(self):
        if self._camera is not None:
            self._camera._scene.free()  # as physics.render frees its own camera's scene
            self._camera = None
        self._physics.free()
        super().close()
