"""Episode files: one compressed ``.npz`` per episode in the official DisWM / dreamer-torch key format.

Every array has one row per frame (``L = T + 1``): row 0 is the reset observation with a zero action,
zero reward and discount 1. Keys:

* ``image`` uint8 [L, H, W, 3], ``action`` float32 [L, A], ``reward`` float32 [L],
  ``discount`` float32 [L], ``is_terminal`` bool [L] (the official keys);
* ``env_steps`` int64 [L]: simulator control steps taken to reach the frame (0 on row 0);
* ``factor_colours`` float32 [L, M, 3], ``factor_qpos`` float32 [L, nq], ``factor_qvel`` float32 [L, nv]:
  the ground-truth factors (distractor colours, physics state);
* ``observation`` float32 [L, S] where the task has a state vector (Pusher).

Files are written atomically (temporary file + rename), so a crash never leaves a half-written episode
under a final name. Loading validates each file and raises :class:`EpisodeFileError` naming the file.
"""

from __future__ import annotations

import zipfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from diswm.atomic import atomic_writer
from diswm.envs.base import extra_factors

REQUIRED_KEYS = ("image", "action", "reward", "discount", "is_terminal")


class EpisodeFileError(ValueError):
    """An episode file is missing, corrupt, truncated or has the wrong keys, shapes or dtypes."""

    def __init__(self, path: Path | str, problem: str):
        super().__init__(f"episode file {path}: {problem}")
        self.path = Path(path)
        self.problem = problem


def episode_name(index: int, length: int) -> str:
    """``ep-<index>-<L>.npz``: sortable by index; L (frames) as in the official ``...-<L>.npz`` names."""
    return f"ep-{index:06d}-{length}.npz"


def save_episode(directory: Path | str, episode: Mapping[str, np.ndarray], name: str) -> Path:
    """Validate and write ``episode`` to ``directory/name`` atomically; return the final path."""
    path = Path(directory) / name
    validate_episode(episode, path)
    with atomic_writer(path) as handle:
        np.savez_compressed(handle, **episode)
    return path


def load_episode(path: Path | str) -> dict[str, np.ndarray]:
    """Read and validate one episode file."""
    path = Path(path)
    if not path.is_file():
        raise EpisodeFileError(path, "no such file")
    try:
        with np.load(path, allow_pickle=False) as data:
            episode = {key: data[key] for key in data.files}
    except (zipfile.BadZipFile, EOFError, OSError, ValueError, KeyError) as error:
        raise EpisodeFileError(path, f"corrupt or truncated npz ({type(error).__name__}: {error})") from error
    validate_episode(episode, path)
    return episode


def validate_episode(episode: Mapping[str, Any], source: Path | str) -> None:
    """Check keys, dtypes and per-frame shapes; raise :class:`EpisodeFileError` on the first problem."""
    missing = [key for key in REQUIRED_KEYS if key not in episode]
    if missing:
        raise EpisodeFileError(source, f"missing keys {missing} (has {sorted(episode)})")
    image = np.asarray(episode["image"])
    if image.dtype != np.uint8 or image.ndim != 4 or image.shape[-1] != 3:
        raise EpisodeFileError(source, f"image must be uint8 [L, H, W, 3], got {image.dtype} {image.shape}")
    length = image.shape[0]
    if length < 2:
        raise EpisodeFileError(source, f"an episode needs at least 2 frames, got {length}")
    action = np.asarray(episode["action"])
    if action.ndim != 2:
        raise EpisodeFileError(source, f"action must be [L, A], got shape {action.shape}")
    for key, value in episode.items():
        value = np.asarray(value)
        if value.ndim == 0 or value.shape[0] != length:
            raise EpisodeFileError(source, f"key {key!r} has {value.shape[:1] or 'no'} rows, image has {length}")
        if value.dtype.kind == "f" and not np.all(np.isfinite(value)):
            raise EpisodeFileError(source, f"key {key!r} contains NaN or infinite values")
        if value.dtype.kind not in "fiub":
            raise EpisodeFileError(source, f"key {key!r} has unsupported dtype {value.dtype}")


class EpisodeRecorder:
    """Accumulates ``reset``/``step`` results of a :class:`~diswm.envs.DistractedEnv` into an episode."""

    def __init__(self) -> None:
        self._rows: list[dict[str, np.ndarray]] = []

    def __len__(self) -> int:
        return len(self._rows)

    def start(self, observation: Mapping[str, np.ndarray], info: Mapping[str, Any], action_dim: int) -> None:
        self._rows = []
        self._add(observation, np.zeros(action_dim, np.float32), 0.0, False, info)

    def step(self, action, observation, reward: float, terminated: bool, info: Mapping[str, Any]) -> None:
        if not self._rows:
            raise RuntimeError("EpisodeRecorder.step() before start()")
        self._add(observation, np.asarray(action, np.float32), reward, terminated, info)

    def finish(self) -> dict[str, np.ndarray]:
        """Stack the rows into the episode arrays (and forget them)."""
        if len(self._rows) < 2:
            raise RuntimeError(f"an episode needs at least 2 frames, recorded {len(self._rows)}")
        episode = {key: np.stack([row[key] for row in self._rows]) for key in self._rows[0]}
        self._rows = []
        return episode

    def _add(self, observation, action, reward, terminated, info) -> None:
        factors = info["factors"]
        row = {
            "image": np.asarray(observation["image"], np.uint8),
            "action": action,
            "reward": np.float32(reward),
            "discount": np.float32(info["discount"]),
            "is_terminal": np.bool_(terminated),
            "env_steps": np.int64(info["env_steps"]),
            "factor_colours": np.asarray(factors["colours"], np.float32),
            "factor_qpos": np.asarray(factors["qpos"], np.float32),
            "factor_qvel": np.asarray(factors["qvel"], np.float32),
        }
        if "observation" in observation:
            row["observation"] = np.asarray(observation["observation"], np.float32)
        if "success" in info:  # DrawerWorld: has the task succeeded at any step so far
            row["success"] = np.bool_(info["success"])
        for name, value in extra_factors(factors).items():
            row[f"factor_{name}"] = np.asarray(value, np.float32)
        self._rows.append(row)
