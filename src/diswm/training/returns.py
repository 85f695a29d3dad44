"""Evaluation returns of a finetuning checkpoint's agent, outside its run: N episodes side by side, as the run's
own evaluations play them (paper §4: evaluation return over 10 episodes; released ``dreamer.py``
``eval_episode_num``), in a colour set of your choice."""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from diswm.data.rollout import episode_seed
from diswm.envs import DRAWER_TASK_NAMES
from diswm.envs.distractors import DISTRACTORS
from diswm.envs.drawer import TEXTURE_DISTRACTORS
from diswm.envs.workers import make_envs
from diswm.training.evaluate import POLICY_ACTIONS, evaluate_episodes
from diswm.training.finetune import EVAL_STREAM, load_agent


@dataclass(frozen=True)
class ReturnsConfig:
    """What :func:`evaluate_returns` plays. ``seed`` seeds episode ``i`` as a run seeded ``seed`` seeds its first
    evaluation's episode ``i``; ``batch``/``workers``/``device`` change speed only."""

    checkpoint: str
    episodes: int = 10
    colour_set: str = "train"  # the distractor set of every episode (none | train | test; DrawerWorld: also eval)
    seed: int = 0
    action: str | None = None  # mode | mean | sample; None: the run's eval_action
    batch: int | None = None  # episodes side by side (None: all)
    workers: bool = False  # each environment in its own process (diswm.envs.workers)
    device: str = "cpu"

    def validate(self) -> None:
        if not Path(self.checkpoint).is_file():
            raise FileNotFoundError(f"checkpoint={self.checkpoint!r} is not a file")
        if self.episodes < 1:
            raise ValueError(f"episodes={self.episodes}; expected at least 1")
        if self.batch is not None and not 1 <= self.batch <= self.episodes:
            raise ValueError(f"batch={self.batch}; expected None or 1..episodes ({self.episodes})")
        if self.action is not None and self.action not in POLICY_ACTIONS:
            raise ValueError(f"action={self.action!r}; expected one of {POLICY_ACTIONS}")


def evaluate_returns(config: ReturnsConfig) -> dict[str, Any]:
    """Play ``config.episodes`` episodes with the checkpoint's agent in its run's environment (task, image size,
    action repeat, time limit, render quality) and return their ``returns``, ``return_mean``, ``success_rate``
    (DrawerWorld; else None), the ``action`` used and ``seconds_per_episode`` (wall time / episodes)."""
    config.validate()
    device = torch.device(config.device)
    run, model, behavior = load_agent(config.checkpoint, device)
    sets = TEXTURE_DISTRACTORS if run.env.task in DRAWER_TASK_NAMES else DISTRACTORS
    if config.colour_set not in sets:
        raise ValueError(f"colour_set={config.colour_set!r}; {run.env.task} has {sets}")
    action = config.action or run.eval_action
    envs = make_envs(run.env, config.batch or config.episodes, workers=config.workers)
    try:
        seeds = [episode_seed(config.seed, i, EVAL_STREAM) for i in range(config.episodes)]
        started = time.perf_counter()
        episodes = evaluate_episodes(envs, model, behavior, device, seeds=seeds, colour_set=config.colour_set,
                                     action=action, batch=len(envs))
        seconds = time.perf_counter() - started
    finally:
        for env in envs:
            env.close()
    returns = [episode["return"] for episode in episodes]
    successes = [episode["success"] for episode in episodes if episode["success"] is not None]
    return {"returns": returns, "return_mean": float(np.mean(returns)),
            "success_rate": float(np.mean(successes)) if successes else None, "action": action,
            "task": run.env.task, "seconds_per_episode": seconds / config.episodes}


#: settings of :class:`ReturnsConfig` that change speed, not episodes (``batch``: up to float rounding)
SPEED_ONLY = frozenset({"batch", "workers", "device"})
