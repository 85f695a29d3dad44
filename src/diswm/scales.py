"""Run scales: one config value that sizes every stage.

* ``smoke``: the whole pipeline in minutes on 2 CPU cores (CI). Short episodes, fast rendering.
* ``cpu``: hours on a laptop-class CPU; tiny models, meaningful learning curves.
* ``paper``: the paper's settings (GPU for training).

Only numbers differ between scales, never code paths.
"""

from __future__ import annotations

from dataclasses import dataclass

SCALE_NAMES = ("smoke", "cpu", "paper")


@dataclass(frozen=True)
class CollectScale:
    num_episodes: int  # episodes per dataset
    time_limit: int | None  # control steps per episode (None: the task's native 1000 / 100)
    render_quality: str  # "fast" drops shadows, reflections and anti-aliasing


COLLECT: dict[str, CollectScale] = {
    # 2 x 100 control steps = 2 x 51 frames: enough for smoke pretraining on short sequences.
    "smoke": CollectScale(num_episodes=2, time_limit=100, render_quality="fast"),
    # 100 full episodes = 50k frames (1e5 control steps), ~6 min per task with fast rendering.
    "cpu": CollectScale(num_episodes=100, time_limit=None, render_quality="fast"),
    # 1000 full episodes = 5e5 frames = 1e6 control steps at action repeat 2 ("1M frames" in the paper,
    # the same amount the official code stores per 1e6 logged steps).
    "paper": CollectScale(num_episodes=1000, time_limit=None, render_quality="default"),
}


def check_scale(scale: str) -> str:
    if scale not in SCALE_NAMES:
        raise ValueError(f"unknown scale {scale!r}; expected one of {SCALE_NAMES}")
    return scale


@dataclass(frozen=True)
class PretrainScale:
    batch_size: int
    length: int
    updates: int
    checkpoint_every: int
    log_every: int
    stoch: int
    deter: int
    hidden: int


PRETRAIN: dict[str, PretrainScale] = {
    "smoke": PretrainScale(batch_size=4, length=8, updates=20, checkpoint_every=10, log_every=5,
                           stoch=8, deter=32, hidden=32),
    "cpu": PretrainScale(batch_size=16, length=32, updates=2000, checkpoint_every=250, log_every=50,
                         stoch=50, deter=200, hidden=200),
    # The official run: 10 x 2000 updates of 50 x 50 sequences, checkpoints every 2000.
    "paper": PretrainScale(batch_size=50, length=50, updates=20_000, checkpoint_every=2000, log_every=100,
                           stoch=50, deter=200, hidden=200),
}
