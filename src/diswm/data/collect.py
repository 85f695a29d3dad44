"""Collect distracting videos: run a policy in a colour-distracted task and write episode files; and the
video datasets' manifests (``dataset.json``), which readers check before use.

Resumable and exact: episode ``i`` is reset with a seed derived from ``(seed, i)`` and its policy
noise from the same pair, so an interrupted collection continued later writes the same files an
uninterrupted one would. Existing files are validated, never overwritten.

Every manifest has a ``provenance`` block saying what made the videos: ``policy`` ``random`` (this module's
uniform policy), ``checkpoint`` (a trained agent acting, passed in by the caller) or ``dreamerv2_replay``
(the replay of a DreamerV2 agent learning the task, the paper's recipe: ``experiments/source_agent.py``),
whether the run that made them ``finished``, and its ``frames`` (agent steps stored; every episode also
stores its reset image, so an episode of ``T`` steps has ``T + 1`` images, its manifest ``frames``).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from diswm.atomic import atomic_writer, write_json
from diswm.data.episodes import episode_name, load_episode, save_episode
from diswm.data.rollout import Policy, RandomPolicy, episode_seed, rollout
from diswm.envs import COLOUR_SET_BASES, DISTRACTORS, EnvSpec, make_env_from_spec

COLOUR_SCHEDULES = (*DISTRACTORS, "switch")
MANIFEST = "dataset.json"
#: ``provenance["policy"]`` of a manifest: what acted in the videos (see the module docstring)
VIDEO_POLICIES = ("random", "checkpoint", "dreamerv2_replay")


class DatasetError(ValueError):
    """A video dataset is missing, incomplete or not the one asked for; the message is one line naming the
    file and the problem."""


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
    policy: str = "random"  # "random" (the official prefill policy) or "checkpoint" (an agent, passed to collect)
    policy_checkpoint: str | None = None  # the agent's checkpoint when policy="checkpoint" (recorded)
    policy_sha256: str | None = None  # that file's sha256 (part of the identity: a resume must use the same agent)
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
        if self.policy_sha256 is not None and self.policy != "checkpoint":
            raise ValueError("policy_sha256 belongs to policy='checkpoint'")

    def colour_set(self, episode: int) -> str:
        if self.colour_schedule == "switch":
            return "train" if episode < (self.num_episodes + 1) // 2 else "test"
        return self.colour_schedule

    def identity(self) -> dict[str, Any]:
        """The settings that determine the files' contents (a resumed run must match them)."""
        identity = asdict(self)
        for key in ("out_dir", "progress"):
            identity.pop(key)
        if self.policy_sha256 is None:  # random-policy datasets keep the identity they had before this field
            identity.pop("policy_sha256")
        if self.colour_schedule != "switch":  # then a dataset can be extended by more episodes
            identity.pop("num_episodes")
        identity["env"].pop("distractor")  # set per episode by the schedule
        return identity


def resolve_policy(config: CollectConfig, action_dim: int, policy: Policy | None) -> Policy:
    """The uniform random policy, or the agent the caller built for ``policy="checkpoint"`` (this package
    does not import the agents: ``diswm_app.experiments.collect`` loads the checkpoint and passes the policy in)."""
    if config.policy == "random":
        if policy is not None:
            raise ValueError("policy='random' collects with the uniform policy; a policy object needs "
                             "policy='checkpoint'")
        return RandomPolicy(action_dim)
    if policy is None:
        raise ValueError(f"policy='checkpoint' needs the agent's policy passed to collect(config, policy=...), "
                         f"built from {config.policy_checkpoint} (experiments/collect.py does this)")
    return policy


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
    policy: Policy | None = None,
) -> CollectResult:
    """Collect ``config.num_episodes`` episodes into ``config.out_dir``, resuming what is there.

    ``policy``: the acting agent when ``config.policy == "checkpoint"`` (its ``reset`` gets each episode's
    generator, so seeding its sampling from it keeps a resumed collection exact); none for ``random``.
    """
    config.validate()
    out = Path(config.out_dir)
    out.mkdir(parents=True, exist_ok=True)
    _check_resume_compatible(out, config)
    env = make_env_from_spec(replace(config.env, distractor=config.colour_set(0)))
    result = CollectResult(out_dir=str(out))
    try:
        policy = resolve_policy(config, env.action_space.shape[0], policy)
        manifest = _manifest(config, env)
        if not (out / MANIFEST).exists():  # before any episode file: a kill at any point leaves a folder to resume
            write_json(out / MANIFEST, {**manifest, "episodes": [], "provenance": _provenance(config, result)})
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
            manifest["provenance"] = _provenance(config, result)
            write_json(out / MANIFEST, manifest)
            if on_episode is not None:
                on_episode(index, record)
            if config.progress:
                iterator.set_postfix(ret=f"{record['return']:.1f}", colours=record["distractor"])
    finally:
        env.close()
    return result


def episode_record(episode, name: str, index: int, seed: int, distractor: str) -> dict[str, Any]:
    """An episode's manifest entry; ``sha256`` hashes its images (the same pixels give the same hash)."""
    return {
        "file": name,
        "index": index,
        "seed": seed,
        "distractor": distractor,
        "frames": int(len(episode["image"])),
        "env_steps": int(episode["env_steps"].sum()),
        "return": float(episode["reward"].sum()),
        "sha256": hashlib.sha256(np.ascontiguousarray(episode["image"]).tobytes()).hexdigest(),
    }


def _summarise(episode, name: str, config: CollectConfig, index: int) -> dict[str, Any]:
    return episode_record(episode, name, index, episode_seed(config.env.seed, index), config.colour_set(index))


def manifest_header(env, task: str, identity: dict[str, Any], colour_protocol: dict[str, Any]) -> dict[str, Any]:
    """The keys every video manifest has (before ``num_episodes``, ``episodes`` and ``provenance``)."""
    return {
        "format": "diswm-episodes/1",
        "task": task,
        "identity": identity,
        "colour_names": env.colour_names,
        "visible_colour_names": getattr(env, "visible_colour_names", env.colour_names),
        "colour_protocol": {"set_bases": COLOUR_SET_BASES, **colour_protocol, "step_std": env.step_std},
        "action_dim": int(env.action_space.shape[0]),
        "image_shape": list(env.observation_space["image"].shape),
    }


def _manifest(config: CollectConfig, env) -> dict[str, Any]:
    manifest = manifest_header(env, config.env.task, config.identity(), {
        "schedule": config.colour_schedule,
        "first_test_episode": (config.num_episodes + 1) // 2 if config.colour_schedule == "switch" else None,
        "max_delta": config.env.max_delta,
        "seeded_from": "episode i: SeedSequence([seed, i, 0]) (diswm.data.rollout.episode_seed)",
    })
    manifest["num_episodes"] = config.num_episodes
    return manifest


def _provenance(config: CollectConfig, result: CollectResult) -> dict[str, Any]:
    provenance = {
        "policy": config.policy, "experiment": "collect", "out_dir": config.out_dir,
        "finished": len(result.episodes) >= config.num_episodes,
        "episodes": len(result.episodes), "frames": result.num_frames - len(result.episodes),
    }
    if config.policy == "checkpoint":
        provenance["checkpoint"] = {"path": config.policy_checkpoint, "sha256": config.policy_sha256}
    return provenance


# ---------------------------------------------------------------------------------------------- manifests
def place_episode(source: Path | str, directory: Path | str) -> str:
    """Put episode file ``source`` into ``directory`` under its own name, atomically: a hard link where the
    file system allows it (no second copy; episode files are only ever replaced, never changed in place, so
    the link keeps its bytes), else a copy. Returns ``"link"`` or ``"copy"``."""
    source, directory = Path(source), Path(directory)
    target = directory / source.name
    if target.exists() and os.path.samefile(source, target):
        return "link"
    temporary = directory / f".{source.name}.{os.getpid()}.tmp"
    temporary.unlink(missing_ok=True)
    try:
        os.link(source, temporary)
    except OSError:  # another device, or a file system without hard links
        with open(source, "rb") as reading, atomic_writer(target) as writing:
            shutil.copyfileobj(reading, writing)
        return "copy"
    os.replace(temporary, target)
    return "link"


def manifest_provenance(manifest: dict[str, Any]) -> dict[str, Any]:
    """``manifest["provenance"]``; a collection written before manifests had one was made by its identity's
    policy (always ``random``: nothing else could run then) and is finished when it has every episode."""
    if "provenance" in manifest:
        return manifest["provenance"]
    episodes = manifest.get("episodes", [])
    return {"policy": manifest.get("identity", {}).get("policy"), "experiment": "collect",
            "finished": len(episodes) >= manifest.get("num_episodes", len(episodes) + 1), "episodes": len(episodes)}


def check_video_dataset(directory: Path | str, *, policy: str, task: str, colour_schedule: str,
                        missing: str) -> dict[str, Any]:
    """The manifest of the video dataset in ``directory``, after checking that it is complete and is the one
    asked for: made by ``policy``, of ``task``, under ``colour_schedule``, every listed episode file there and
    no other. Raises :class:`DatasetError` (one line) otherwise; ``missing`` is the line for no dataset."""
    if policy not in VIDEO_POLICIES:
        raise ValueError(f"policy={policy!r}; expected one of {VIDEO_POLICIES}")
    directory = Path(directory)
    path = directory / MANIFEST
    if not path.is_file():
        raise DatasetError(missing)
    try:
        manifest = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as error:
        raise DatasetError(f"{path}: not a readable manifest ({type(error).__name__}: {error})") from error
    provenance = manifest_provenance(manifest)
    if provenance.get("policy") != policy:
        raise DatasetError(f"{path}: videos made by policy {provenance.get('policy')!r}, but videos={policy!r} "
                           "was asked for")
    there = manifest.get("task", manifest.get("identity", {}).get("env", {}).get("task"))
    if there != task:
        raise DatasetError(f"{path}: videos of task {there!r}, but task={task!r}")
    schedule = manifest.get("colour_protocol", {}).get("schedule")
    if schedule != colour_schedule:
        raise DatasetError(f"{path}: colour schedule {schedule!r}, but colour_schedule={colour_schedule!r}")
    if not provenance.get("finished"):
        made_by = provenance.get("experiment", "collect")
        raise DatasetError(f"{path}: the {made_by} run that writes it did not finish ({provenance.get('frames', '?')} "
                           f"frames, {len(manifest.get('episodes', []))} episodes so far); rerun it to resume")
    listed = [episode["file"] for episode in manifest.get("episodes", [])]
    present = {p.name for p in directory.glob("*.npz")}
    absent = [name for name in listed if name not in present]
    unlisted = sorted(present - set(listed))
    if absent or unlisted:
        raise DatasetError(f"{path} lists {len(listed)} episodes, {directory} holds {len(present)} episode files"
                           + (f"; missing: {absent[0]}" + (f" and {len(absent) - 1} more" if len(absent) > 1 else "")
                              if absent else "")
                           + (f"; not listed: {unlisted[0]}" if unlisted else ""))
    return manifest


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
