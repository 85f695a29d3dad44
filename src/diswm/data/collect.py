"""Collect distracting videos: run a policy in a colour-distracted task and write episode files.

Resumable and exact: episode ``i`` is reset with a seed derived from ``(seed, i)`` and its policy
noise from the same pair, so an interrupted collection continued later writes the same files an
uninterrupted one would. Existing files are validated, never overwritten.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from diswm.atomic import write_json
from diswm.data.episodes import episode_name, load_episode, save_episode
from diswm.data.rollout import Policy, RandomPolicy, episode_seed, rollout
from diswm.envs import COLOUR_SET_BASES, DISTRACTORS, EnvSpec, make_env_from_spec

COLOUR_SCHEDULES = (*DISTRACTORS, "switch")
MANIFEST = "dataset.json"


@dataclass(frozen=True)
class CollectConfig:
    """What to collect and where.

    ``colour_schedule``: ``train``/``test``/``none`` for one colour set throughout, or ``switch``:
    the train set for the first half of the episodes and the test set for the second, as the
    official ``--color_distractor True`` runs do over their training budget.
    """

    env: EnvSpec
    out_dir: str
    num_episodes: int
    colour_schedule: str = "switch"
    policy: str = "random"  # "random" (the official prefill policy) or "checkpoint"
    policy_checkpoint: str | None = None
    progress: bool = True

    def validate(self) -> None:
        self.env.validate()
        if self.num_episodes < 1:
            raise ValueError(f"num_episodes must be positive, got {self.num_episodes}")
        if self.colour_schedule not in COLOUR_SCHEDULES:
            raise ValueError(f"colour_schedule={self.colour_schedule!r}; expected one of {COLOUR_SCHEDULES}")
        if self.policy not in ("random", "checkpoint"):
            raise ValueError(f"policy={self.policy!r}; expected 'random' or 'checkpoint'")
        if (self.policy == "checkpoint") != (self.policy_checkpoint is not None):
            raise ValueError("policy='checkpoint' needs policy_checkpoint, and only it")

    def colour_set(self, episode: int) -> str:
        if self.colour_schedule == "switch":
            return "train" if episode < (self.num_episodes + 1) // 2 else "test"
        return self.colour_schedule

    def identity(self) -> dict[str, Any]:
        """The settings that determine the files' contents (a resumed run must match them)."""
        identity = asdict(self)
        for key in ("out_dir", "progress"):
            identity.pop(key)
        if self.colour_schedule != "switch":  # then a dataset can be extended by more episodes
            identity.pop("num_episodes")
        identity["env"].pop("distractor")  # set per episode by the schedule
        return identity


def load_policy(config: CollectConfig, action_dim: int) -> Policy:
    if config.policy == "random":
        return RandomPolicy(action_dim)
    try:
        from diswm.agents import load_policy as load_agent_policy  # type: ignore[attr-defined]
    except ImportError as error:
        raise NotImplementedError(
            "policy='checkpoint' needs diswm.agents (trained DreamerV2/DisWM agents), which this version "
            "does not have yet; collect with policy='random'"
        ) from error
    return load_agent_policy(config.policy_checkpoint, action_dim)


@dataclass
class CollectResult:
    out_dir: str
    episodes: list[dict[str, Any]] = field(default_factory=list)
    newly_collected: int = 0

    @property
    def num_frames(self) -> int:
        return sum(ep["frames"] for ep in self.episodes)

    @property
    def env_steps(self) -> int:
        return sum(ep["env_steps"] for ep in self.episodes)


def collect(
    config: CollectConfig,
    on_episode: Callable[[int, dict[str, Any]], None] | None = None,
) -> CollectResult:
    """Collect ``config.num_episodes`` episodes into ``config.out_dir``, resuming what is there."""
    config.validate()
    out = Path(config.out_dir)
    out.mkdir(parents=True, exist_ok=True)
    _check_resume_compatible(out, config)
    env = make_env_from_spec(replace(config.env, distractor=config.colour_set(0)))
    result = CollectResult(out_dir=str(out))
    try:
        policy = load_policy(config, env.action_space.shape[0])
        manifest = _manifest(config, env)
        iterator = range(config.num_episodes)
        if config.progress:
            from tqdm import tqdm

            iterator = tqdm(iterator, desc=f"collect {config.env.task}", unit="ep")
        for index in iterator:
            existing = sorted(out.glob(f"ep-{index:06d}-*.npz"))
            if existing:
                record = _summarise(load_episode(existing[0]), existing[0].name, config, index)
            else:
                seed = episode_seed(config.env.seed, index)
                episode = rollout(env, policy, seed=seed, colour_set=config.colour_set(index))
                name = episode_name(index, len(episode["image"]))
                save_episode(out, episode, name)
                record = _summarise(episode, name, config, index)
                result.newly_collected += 1
            result.episodes.append(record)
            manifest["episodes"] = result.episodes
            write_json(out / MANIFEST, manifest)
            if on_episode is not None:
                on_episode(index, record)
            if config.progress:
                iterator.set_postfix(ret=f"{record['return']:.1f}", colours=record["distractor"])
    finally:
        env.close()
    return result


def _summarise(episode, name: str, config: CollectConfig, index: int) -> dict[str, Any]:
    return {
        "file": name,
        "index": index,
        "seed": episode_seed(config.env.seed, index),
        "distractor": config.colour_set(index),
        "frames": int(len(episode["image"])),
        "env_steps": int(episode["env_steps"].sum()),
        "return": float(episode["reward"].sum()),
        "sha256": hashlib.sha256(np.ascontiguousarray(episode["image"]).tobytes()).hexdigest(),
    }


def _manifest(config: CollectConfig, env) -> dict[str, Any]:
    return {
        "format": "diswm-episodes/1",
        "identity": config.identity(),
        "num_episodes": config.num_episodes,
        "colour_names": env.colour_names,
        "visible_colour_names": getattr(env, "visible_colour_names", env.colour_names),
        "colour_protocol": {
            "schedule": config.colour_schedule,
            "set_bases": COLOUR_SET_BASES,
            "first_test_episode": (config.num_episodes + 1) // 2 if config.colour_schedule == "switch" else None,
            "max_delta": config.env.max_delta,
            "step_std": env.step_std,
            "seeded_from": "episode i: SeedSequence([seed, i, 0]) (diswm.data.rollout.episode_seed)",
        },
        "action_dim": int(env.action_space.shape[0]),
        "image_shape": list(env.observation_space["image"].shape),
    }


def _check_resume_compatible(out: Path, config: CollectConfig) -> None:
    path = out / MANIFEST
    if not path.exists():
        if any(out.glob("*.npz")):
            raise ValueError(f"{out} holds episode files but no {MANIFEST}: refusing to mix datasets")
        return
    try:
        previous = json.loads(path.read_text())
    except json.JSONDecodeError as error:
        raise ValueError(f"{path} is not valid JSON ({error}); move it away to start afresh") from error
    if previous.get("identity") != json.loads(json.dumps(config.identity())):
        raise ValueError(
            f"{out} was collected with different settings:\n  there: {previous.get('identity')}\n"
            f"  now:   {config.identity()}\nchoose another out_dir or remove the old dataset"
        )
