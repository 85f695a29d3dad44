"""The environment contract shared by every task: images, colour distractors, action repeat, factors.

Each agent step runs several *control steps* of the simulator (the DMC control step, or one
gymnasium MuJoCo step for Pusher). ``info["env_steps"]`` always counts the control steps actually
simulated, in both accounting modes, so curves are comparable:

* ``repeat_mode="correct"`` (default): ``action_repeat`` control steps, rewards summed.
* ``repeat_mode="official"``: what the released DisWM code does (``wrappers.py``: ``dmc2gym_wrapper.step``
  over ``dmc2gym``'s ``frame_skip`` for DMC, ``gymnasium_wrapper`` for Pusher; the paper does not say). The
  action is repeated ``action_repeat`` times by the outer wrapper, each outer step being
  ``inner_repeat`` control steps (dmc2gym's ``frame_skip`` = ``action_repeat`` for DMC, 1 for
  Pusher), and the reward is twice the last outer step's reward (``reward += reward``). With the
  default repeat of 2, one DMC agent step is 4 control steps; the official logs count 2.
"""

from __future__ import annotations

from abc import abstractmethod
from dataclasses import asdict, dataclass
from typing import Any

import gymnasium as gym
import numpy as np

from diswm.envs.distractors import DISTRACTORS, ColourDistractor

REPEAT_MODES = ("correct", "official")
#: Factor keys every environment reports in ``info["factors"]``; tasks may add more (``_extra_factors``).
CORE_FACTORS = ("colours", "qpos", "qvel")
RENDER_QUALITIES = ("default", "fast")


def extra_factors(factors: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """The task-specific entries of ``info["factors"]`` (beyond :data:`CORE_FACTORS`)."""
    return {key: value for key, value in factors.items() if key not in CORE_FACTORS}


@dataclass(frozen=True)
class EnvSpec:
    """Everything that determines an environment's behaviour; recorded with every dataset and run."""

    task: str
    distractor: str = "none"
    seed: int = 0
    size: int = 64
    action_repeat: int = 2
    repeat_mode: str = "correct"
    max_delta: float = 0.2
    step_std: float | None = None  # None: the task's official default (0.2 for DMC, 0 for Pusher)
    render_quality: str = "default"  # "fast": no shadows, reflections or anti-aliasing (tests, smoke)
    time_limit: int | None = None  # control steps per episode; None: the task's native limit

    def validate(self) -> None:
        if self.distractor not in DISTRACTORS:
            raise ValueError(f"distractor={self.distractor!r}; expected one of {DISTRACTORS}")
        if self.repeat_mode not in REPEAT_MODES:
            raise ValueError(f"repeat_mode={self.repeat_mode!r}; expected one of {REPEAT_MODES}")
        if self.render_quality not in RENDER_QUALITIES:
            raise ValueError(f"render_quality={self.render_quality!r}; expected one of {RENDER_QUALITIES}")
        if self.action_repeat < 1:
            raise ValueError(f"action_repeat must be >= 1, got {self.action_repeat}")
        if self.size < 8:
            raise ValueError(f"size must be >= 8 pixels, got {self.size}")
        if self.time_limit is not None and self.time_limit < 1:
            raise ValueError(f"time_limit must be a positive number of control steps, got {self.time_limit}")
        if not isinstance(self.seed, int | np.integer) or self.seed < 0:
            raise ValueError(f"seed must be a non-negative integer, got {self.seed!r}")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class DistractedEnv(gym.Env):
    """Gymnasium-style image environment with colour distractors and ground-truth factors.

    Observations are ``{"image": uint8[size, size, 3]}`` (Pusher adds ``"observation"``, its state
    vector). Actions are normalised to [-1, 1]. ``info["factors"]`` holds the current distractor
    colours (``colours``, float32 [num_colours, 3], named by :attr:`colour_names`) and the physics state
    (``qpos``, ``qvel``). Switch colour sets with :meth:`set_distractor`; it applies at the next reset.
    """

    metadata: dict[str, Any] = {"render_modes": []}
    #: Official accounting only: control steps per outer repeat (dmc2gym's frame_skip for DMC).
    official_inner_repeat: int = 1
    #: Default per-control-step random-walk std of the colours.
    default_step_std: float = 0.0
    #: The task's own episode length in control steps.
    native_time_limit: int = 1000

    def __init__(self, spec: EnvSpec):
        spec.validate()
        self.spec_ = spec
        self._distractor_name = spec.distractor
        self.step_std = self.default_step_std if spec.step_std is None else spec.step_std
        self.time_limit = spec.time_limit or self.native_time_limit
        self._seed_streams(spec.seed)
        self.colour_names: list[str] = self._colour_target_names()
        self.default_colours = self._read_colours().copy()
        # Tasks whose distraction is not colour (DrawerWorld's textures) name no colour targets.
        self._colours = ColourDistractor(len(self.colour_names), max_delta=spec.max_delta,
                                         step_std=self.step_std) if self.colour_names else None
        self.action_space = gym.spaces.Box(-1.0, 1.0, (self._action_dim(),), np.float32)
        image = gym.spaces.Box(0, 255, (spec.size, spec.size, 3), np.uint8)
        self.observation_space = gym.spaces.Dict({"image": image, **self._extra_observation_spaces()})
        self._control_steps = 0
        self._needs_reset = True
        self._active_distractor = spec.distractor
        #: False skips rendering (the image is all zeros): stepping physics between sampled frames.
        self.render_images = True

    # ------------------------------------------------------------------ task hooks
    @abstractmethod
    def _colour_target_names(self) -> list[str]: ...

    @abstractmethod
    def _read_colours(self) -> np.ndarray: ...

    @abstractmethod
    def _write_colours(self, colours: np.ndarray) -> None: ...

    @abstractmethod
    def _action_dim(self) -> int: ...

    @abstractmethod
    def _reset_physics(self, seed: int | None) -> None: ...

    @abstractmethod
    def _physics_step(self, action: np.ndarray) -> tuple[float, bool, bool, float]:
        """One control step: ``(reward, terminated, native_time_limit_hit, discount)``."""

    @abstractmethod
    def _render_image(self) -> np.ndarray: ...

    @abstractmethod
    def _physics_state(self) -> tuple[np.ndarray, np.ndarray]: ...

    def _extra_observation_spaces(self) -> dict[str, gym.Space]:
        return {}

    def _extra_observations(self) -> dict[str, np.ndarray]:
        return {}

    def _extra_factors(self) -> dict[str, np.ndarray]:
        """Ground-truth factors beyond colours and physics state (e.g. DrawerWorld's texture index)."""
        return {}

    def evaluation_set(self, training_set: str) -> str:
        """The distractor set evaluation episodes use while training runs in ``training_set``: the same
        one for the colour tasks (the official code), a held-out set where the task defines one."""
        return training_set

    # ------------------------------------------------------------------ public API
    @property
    def distractor(self) -> str:
        """The colour set in use for the current episode's successor (see :meth:`set_distractor`)."""
        return self._distractor_name

    def set_distractor(self, name: str) -> None:
        """Switch colour set (``none``, ``train`` or ``test``) from the next reset on, without rebuilding."""
        if name not in DISTRACTORS:
            raise ValueError(f"distractor={name!r}; expected one of {DISTRACTORS}")
        self._distractor_name = name

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        if seed is not None:
            self._seed_streams(seed)
        physics_seed = self._pending_physics_seed
        self._pending_physics_seed = None
        self._active_distractor = self._distractor_name
        self._reset_physics(physics_seed)
        if self._active_distractor == "none" or self._colours is None:
            self._write_colours(self.default_colours)
        else:
            self._write_colours(self._colours.reset(self._active_distractor, self._colour_rng))
        self._control_steps = 0
        self._needs_reset = False
        return self._observation(), self._info(env_steps=0, discount=1.0)

    def step(self, action):
        if self._needs_reset:
            raise RuntimeError("step() called before reset() or after the episode ended")
        action = np.asarray(action, dtype=np.float64).reshape(self.action_space.shape)
        if not np.all(np.isfinite(action)):
            raise ValueError(f"action contains non-finite values: {action}")
        action = np.clip(action, -1.0, 1.0)
        if self.spec_.repeat_mode == "correct":
            reward, steps, terminated, truncated, discount = self._repeat(action, self.spec_.action_repeat)
        else:
            steps = 0
            for _ in range(self.spec_.action_repeat):
                inner, n, terminated, truncated, discount = self._repeat(action, self.official_inner_repeat)
                steps += n
                if terminated or truncated:
                    break
            reward = inner + inner  # the released wrapper's `reward += reward`
        self._needs_reset = terminated or truncated
        return self._observation(), float(reward), terminated, truncated, self._info(steps, discount)

    # ------------------------------------------------------------------ internals
    def _seed_streams(self, seed: int) -> None:
        physics, colours = np.random.SeedSequence(int(seed)).spawn(2)
        self._pending_physics_seed = int(physics.generate_state(1)[0])
        self._colour_rng = np.random.default_rng(colours)

    def _repeat(self, action: np.ndarray, count: int):
        total, steps = 0.0, 0
        terminated = truncated = False
        discount = 1.0
        for _ in range(count):
            reward, terminated, native_limit, discount = self._physics_step(action)
            self._control_steps += 1
            steps += 1
            total += reward
            if self._active_distractor != "none" and self._colours is not None and self.step_std > 0:
                self._write_colours(self._colours.step(self._colour_rng))
            truncated = (native_limit or self._control_steps >= self.time_limit) and not terminated
            if terminated or truncated:
                break
        return total, steps, terminated, truncated, discount

    def _observation(self) -> dict[str, np.ndarray]:
        """The image as every consumer expects it, whatever the renderer returned: C-contiguous uint8 with positive
        strides (gymnasium's MuJoCo renderer returns a flipped view, which torch cannot take)."""
        image = self._render_image() if self.render_images else np.zeros(self.observation_space["image"].shape,
                                                                           np.uint8)
        return {"image": np.ascontiguousarray(image, dtype=np.uint8), **self._extra_observations()}

    def _info(self, env_steps: int, discount: float) -> dict[str, Any]:
        qpos, qvel = self._physics_state()
        factors = {
            "colours": self._read_colours().astype(np.float32),
            "qpos": qpos.astype(np.float32),
            "qvel": qvel.astype(np.float32),
            **self._extra_factors(),
        }
        return {
            "factors": factors,
            "env_steps": env_steps,
            "discount": float(discount),
            "distractor": self._active_distractor,
        }
