"""Replay of whole episodes and sampling of fixed-length sequences (batch B x length L).

Sampling follows dreamer-torch's ``sample_episodes`` as used by DisWM: an episode uniformly at random,
then a start index uniformly among those leaving ``length`` frames; episodes shorter than ``length``
are skipped. The random stream is a caller-owned ``numpy.random.Generator``, so sampling is
reproducible and resumable.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path

import numpy as np

from diswm.data.episodes import EpisodeFileError, episode_name, load_episode, save_episode


class ReplayError(ValueError):
    """The replay cannot serve the request (empty, episodes too short, inconsistent episodes)."""


class EpisodeReplay:
    """Episodes in memory, optionally mirrored to a directory of episode files.

    Args:
        directory: where :meth:`add` writes episodes and :meth:`load` reads them from; ``None`` keeps
            the replay in memory only.
    """

    def __init__(self, directory: Path | str | None = None):
        self.directory = None if directory is None else Path(directory)
        self._episodes: list[dict[str, np.ndarray]] = []
        self._names: list[str] = []
        self._signature: dict[str, tuple[tuple[int, ...], np.dtype]] | None = None

    # ------------------------------------------------------------------ contents
    def __len__(self) -> int:
        return len(self._episodes)

    @property
    def names(self) -> list[str]:
        return list(self._names)

    @property
    def num_frames(self) -> int:
        return sum(len(ep["image"]) for ep in self._episodes)

    @property
    def num_transitions(self) -> int:
        return sum(len(ep["image"]) - 1 for ep in self._episodes)

    @property
    def env_steps(self) -> int:
        """Simulator control steps contained in the episodes (0 for files without ``env_steps``)."""
        return int(sum(ep["env_steps"].sum() for ep in self._episodes if "env_steps" in ep))

    def episode(self, index: int) -> dict[str, np.ndarray]:
        return self._episodes[index]

    # ------------------------------------------------------------------ I/O
    @classmethod
    def from_directory(cls, directory: Path | str, *, limit: int | None = None) -> EpisodeReplay:
        """Load every ``*.npz`` in ``directory`` (sorted by name), validating each file."""
        replay = cls(directory)
        replay.load(limit=limit)
        return replay

    def load(self, *, limit: int | None = None) -> None:
        if self.directory is None:
            raise ReplayError("this replay has no directory to load from")
        if not self.directory.is_dir():
            raise ReplayError(f"episode directory {self.directory} does not exist")
        paths = sorted(self.directory.glob("*.npz"))
        if limit is not None:
            paths = paths[:limit]
        for path in paths:
            self._append(load_episode(path), path.name, path)

    def add(self, episode: Mapping[str, np.ndarray], *, save: bool = True) -> str:
        """Add an episode; with a directory and ``save``, write it first (atomically). Returns its name."""
        episode = {key: np.asarray(value) for key, value in episode.items()}
        name = episode_name(len(self._episodes), len(episode["image"]))
        if save and self.directory is not None:
            save_episode(self.directory, episode, name)
        self._append(episode, name, self.directory / name if self.directory else name)
        return name

    def _append(self, episode: dict[str, np.ndarray], name: str, source) -> None:
        signature = {key: (value.shape[1:], value.dtype) for key, value in episode.items()}
        if self._signature is None:
            self._signature = signature
        elif signature != self._signature:
            diff = sorted(set(signature.items()) ^ set(self._signature.items()), key=str)
            raise EpisodeFileError(source, f"does not match the replay's other episodes: {diff}")
        self._episodes.append(episode)
        self._names.append(name)

    # ------------------------------------------------------------------ sampling
    def sample(
        self,
        batch_size: int,
        length: int,
        rng: np.random.Generator,
        keys: Iterable[str] | None = None,
    ) -> dict[str, np.ndarray]:
        """``batch_size`` sequences of ``length`` frames, stacked to ``[B, L, ...]`` per key."""
        if batch_size < 1 or length < 1:
            raise ReplayError(f"batch_size and length must be positive, got {batch_size}, {length}")
        candidates = [i for i, ep in enumerate(self._episodes) if len(ep["image"]) >= length]
        if not candidates:
            longest = max((len(ep["image"]) for ep in self._episodes), default=0)
            raise ReplayError(
                f"no episode has {length} frames to sample from ({len(self)} episodes, longest {longest})"
            )
        keys = list(keys) if keys is not None else list(self._signature)
        unknown = set(keys) - set(self._signature)
        if unknown:
            raise ReplayError(f"unknown keys {sorted(unknown)}; episodes have {sorted(self._signature)}")
        batch = {key: [] for key in keys}
        for _ in range(batch_size):
            episode = self._episodes[candidates[rng.integers(len(candidates))]]
            start = int(rng.integers(len(episode["image"]) - length + 1))
            for key in keys:
                batch[key].append(episode[key][start : start + length])
        return {key: np.stack(values) for key, values in batch.items()}
