"""Pixel environments with distractors and ground-truth factors: DMC and MuJoCo Pusher (colours),
DrawerWorld (table-top textures).

``MUJOCO_GL`` defaults to ``egl`` (headless) here, before dm_control or gymnasium's MuJoCo envs are
imported; set it yourself (e.g. ``osmesa``, ``glfw``) to override.

Where ``triton`` is installed (it comes with CUDA builds of torch), it is imported here, before any GL context
exists: importing it after Mesa's EGL has made one crashes the process (triton's bundled LLVM against that of
Mesa's llvmpipe, the renderer of a CPU host), and torch imports it lazily, inside the first update that fuses or
compiles an op. Loaded first, both coexist (tested in the CUDA image on a CPU host, ``make check-image``).
"""

from __future__ import annotations

import importlib.util
import os

os.environ.setdefault("MUJOCO_GL", "egl")
if importlib.util.find_spec("triton") is not None:  # CUDA torch: load triton's LLVM before Mesa's
    import triton  # noqa: E402, F401

from diswm.envs.base import REPEAT_MODES, DistractedEnv, EnvSpec  # noqa: E402
from diswm.envs.distractors import COLOUR_SET_BASES, DISTRACTORS, ColourBox  # noqa: E402

DMC_TASK_NAMES = (
    "cheetah_run", "walker_walk", "hopper_stand", "reacher_easy",
    "finger_spin", "cartpole_swingup", "humanoid_walk",
)
DRAWER_TASK_NAMES = ("drawer_open", "drawer_close")
TASKS = (*DMC_TASK_NAMES, "pusher", *DRAWER_TASK_NAMES)
#: Action sizes, for configs that need them before an environment exists (checked against the envs in tests).
ACTION_DIMS = {
    "cheetah_run": 6, "walker_walk": 6, "hopper_stand": 4, "reacher_easy": 2, "finger_spin": 2,
    "cartpole_swingup": 1, "humanoid_walk": 21, "pusher": 7, "drawer_open": 4, "drawer_close": 4,
}


def make_env(task: str, *, distractor: str = "none", seed: int = 0, **kwargs) -> DistractedEnv:
    """Build a pixel environment.

    Args:
        task: one of :data:`TASKS` (``pusher`` is gymnasium's Pusher-v5; ``drawer_open`` and
            ``drawer_close`` are DrawerWorld, :mod:`diswm.envs.drawer`).
        distractor: ``none``, ``train`` or ``test`` colour set.
        seed: seeds the physics and the colour stream; ``reset(seed=...)`` reseeds both.
        **kwargs: the other :class:`EnvSpec` fields (``size``, ``action_repeat``, ``repeat_mode``,
            ``max_delta``, ``step_std``, ``render_quality``, ``time_limit``).
    """
    return make_env_from_spec(EnvSpec(task=task, distractor=distractor, seed=seed, **kwargs))


def make_env_from_spec(spec: EnvSpec) -> DistractedEnv:
    if spec.task not in TASKS:
        raise ValueError(f"unknown task {spec.task!r}; expected one of {TASKS}")
    if spec.task == "pusher":
        from diswm.envs.pusher import PusherEnv

        return PusherEnv(spec)
    if spec.task in DRAWER_TASK_NAMES:
        from diswm.envs.drawer import DrawerEnv

        return DrawerEnv(spec)
    from diswm.envs.dmc import DMCEnv

    return DMCEnv(spec)


__all__ = [
    "ACTION_DIMS", "COLOUR_SET_BASES", "DRAWER_TASK_NAMES", "DISTRACTORS", "REPEAT_MODES", "TASKS", "DMC_TASK_NAMES",
    "ColourBox", "DistractedEnv", "EnvSpec", "make_env", "make_env_from_spec",
]
