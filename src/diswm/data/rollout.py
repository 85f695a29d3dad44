"""Run one episode of a policy in an environment and record it in the episode format."""

from __future__ import annotations

from typing import Protocol

import numpy as np

from diswm.data.episodes import EpisodeRecorder


class Policy(Protocol):
    def reset(self, rng: np.random.Generator) -> None: ...
    def act(self, observation: dict[str, np.ndarray]) -> np.ndarray: ...


class RandomPolicy:
    """Uniform actions in [-1, 1], as the official prefill."""

    def __init__(self, action_dim: int):
        self.action_dim = action_dim
        self._rng = np.random.default_rng(0)

    def reset(self, rng: np.random.Generator) -> None:
        self._rng = rng

    def act(self, observation: dict[str, np.ndarray]) -> np.ndarray:
        return self._rng.uniform(-1.0, 1.0, self.action_dim).astype(np.float32)


def episode_seed(seed: int, index: int, stream: int = 0) -> int:
    """Seed of episode ``index`` of a run seeded ``seed`` (``stream`` separates e.g. training and evaluation)."""
    return int(np.random.SeedSequence([seed, index, stream]).generate_state(1)[0])


def rollout(env, policy: Policy, *, seed: int, colour_set: str) -> dict[str, np.ndarray]:
    """One whole episode, reset with ``seed`` in ``colour_set``; the policy's noise is seeded from it too."""
    env.set_distractor(colour_set)
    observation, info = env.reset(seed=seed)
    policy.reset(np.random.default_rng([seed, 1]))
    recorder = EpisodeRecorder()
    recorder.start(observation, info, env.action_space.shape[0])
    done = False
    while not done:
        action = policy.act(observation)
        observation, reward, terminated, truncated, info = env.step(action)
        recorder.step(action, observation, reward, terminated, info)
        done = terminated or truncated
    return recorder.finish()
