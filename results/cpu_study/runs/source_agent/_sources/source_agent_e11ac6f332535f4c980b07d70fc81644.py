"""Sacred experiment ``source_agent``: the paper's distracting videos. A DreamerV2 agent (our ``dreamerv2``
method) learns the SOURCE task under colour distractors, and the episodes of its replay, from the random
prefill to the end of training, become the video dataset that ``diswm pretrain`` reads.

    diswm source_agent with finger_spin smoke      # = python -m diswm_app.experiments.source_agent with ...
    diswm source_agent with cheetah_run paper target_return=800

The agent is :class:`diswm.training.finetune.Finetuner` with the settings of
:func:`diswm.configs.source_agent_config` (the ``dreamerv2`` finetune run at the same scale), trained with
``colour_schedule="switch"`` (train colours for the first half of the budget, test colours after), as the
released runs with ``--color_distractor True``. Checkpoints and replay go to
``checkpoints/source_agent/<scale>/<task>/seed_<seed>/`` (``latest.pt``, ``train_eps/``).

It stops after ``frames`` agent steps stored in the replay (``diswm.scales.SOURCE_AGENT``; the budget is
counted in the released code's logged steps, ``action_repeat`` x agent steps, so that it is exact whatever
``repeat_mode``), or, with ``target_return``, at the first evaluation whose mean return reaches it.

Then the replay's episode files are hard-linked into ``data/<scale>/<task>/dreamerv2_replay/seed_<seed>/``
(copied where the file system cannot link: another device), each atomically, beside a ``dataset.json`` in the
format ``diswm collect`` writes, whose ``provenance`` names this run: its out_dir, config, final checkpoint's
sha256, frames, and whether it stopped at the frame budget or the target return. Every episode is checked on
the way (episode format, ground-truth factors, colours inside the box of the set the schedule used).

Rerunning resumes an unfinished run. A run that ends early (``stop_after_episodes``, or an exception) leaves a
manifest that says it did not finish, which pretraining refuses. A finished stage is a no-op that re-validates
its dataset (manifest, files, settings, checkpoint hash).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import sys
from dataclasses import asdict
from pathlib import Path
from typing import Any

from diswm.atomic import write_json
from diswm.checkpoint import LOCATION_KEYS, config_differences, file_sha256, load_checkpoint
from diswm.configs import (
    SOURCE_AGENT_METHOD,
    as_dict,
    source_agent_budget,
    source_agent_config,
)
from diswm.data import load_episode
from diswm.data.collect import (
    MANIFEST,
    DatasetError,
    check_video_dataset,
    episode_record,
    manifest_header,
    place_episode,
)
from diswm.data.rollout import episode_seed
from diswm.envs import TASKS, ColourBox
from diswm.lock import folder_lock
from diswm.scales import SCALE_NAMES, SOURCE_AGENT, check_scale
from diswm.training.finetune import TRAIN_STREAM, FinetuneConfig, Finetuner
from diswm_app.experiments.collect import SOURCE_TASKS
from diswm_app.experiments.common import (
    bound_gpu_memory,
    check_at_least,
    check_choice,
    default_device,
    new_experiment,
    outputs_home,
    provenance,
    run_command_line,
    run_name,
    stage_settings,
)

#: ``provenance["policy"]`` of the datasets this stage writes, and their folder name under data/<scale>/<task>/
VIDEOS = "dreamerv2_replay"
#: the agent: this method of diswm.configs.METHODS
METHOD = SOURCE_AGENT_METHOD
FACTOR_KEYS = ("factor_colours", "factor_qpos", "factor_qvel")

ex = new_experiment("source_agent", FinetuneConfig, ("task", "frames", "target_return"))


@ex.config
def config():
    task = "cheetah_run"  # source task: the agent learns it, its replay becomes the videos
    check_choice("task", task, TASKS)
    scale = "smoke"  # smoke | cpu | paper (diswm.scales.SOURCE_AGENT for the budget, FINETUNE and NETS otherwise)
    check_scale(scale)
    seed = 0  # seeds the agent and its environments (pretraining reads it as video_seed)
    check_at_least("seed", seed, 0)
    frames = SOURCE_AGENT[scale].frames  # budget: agent steps stored in the replay (the dataset's size)
    target_return = None  # also stop at the first evaluation whose mean return reaches this (None: frames only)
    stop_after_episodes = None  # end after this many episodes, as an interruption would (not finished; rerun resumes)
    device = default_device()  # cuda when a GPU is visible, else cpu (not part of the run's identity)
    # the agent's settings (diswm.configs.source_agent_config: the dreamerv2 finetune run at this scale) as nested
    # dicts, overridable as in `diswm finetune` (world_model.units=..., or a bare name: units=...)
    _settings = as_dict(source_agent_config(scale=scale, task=task, seed=seed, device=device))
    env = _settings["env"]  # environment: task and seed follow the keys above
    world_model = _settings["world_model"]  # DreamerV2's conv image model, RSSM and reward head
    behavior = _settings["behavior"]  # actor and critic in imagination
    colour_schedule = _settings["colour_schedule"]  # switch (train colours, test from mid-budget: released runs)
    prefill = _settings["prefill"]  # random-policy agent steps before training (part of the videos)
    train_every = _settings["train_every"]  # agent steps per update
    pretrain_updates = _settings["pretrain_updates"]  # updates in the first training call
    batch_size = _settings["batch_size"]  # sequences per batch
    length = _settings["length"]  # frames per sequence
    eval_every = _settings["eval_every"]  # logged steps (action_repeat x agent steps) between evaluations
    eval_episodes = _settings["eval_episodes"]  # episodes per evaluation (not stored in the videos)
    eval_action = _settings["eval_action"]  # evaluation actions: the actor's mode (DreamerV2) | mean | sample
    eval_batch = _settings["eval_batch"]  # evaluation episodes side by side (None: all; speed only)
    eval_workers = _settings["eval_workers"]  # each evaluation environment in its own process (speed only)
    precision = _settings["precision"]  # the updates' arithmetic: fp32 | bf16 (autocast, opt-in)
    checkpoint_every = _settings["checkpoint_every"]  # logged steps between checkpoints
    compile = _settings["compile"]  # torch.compile the step loops (launch-bound on a GPU; off on CPU)
    cuda_graph = _settings["cuda_graph"]  # replay each update as one CUDA graph
    del _settings
    out_dir = str(outputs_home() / "checkpoints" / "source_agent" / scale / task / f"seed_{seed}")  # the agent
    dataset_dir = str(outputs_home() / "data" / scale / task / VIDEOS / f"seed_{seed}")  # the videos


for _task in SOURCE_TASKS:
    ex.add_named_config(_task, {"task": _task})
for _scale in SCALE_NAMES:
    ex.add_named_config(_scale, {"scale": _scale})


def agent_settings(config: dict[str, Any]) -> FinetuneConfig:
    """The Finetuner settings of the source agent: the config's sections with ``frames`` as the budget."""
    budget = source_agent_budget(config["env"]["action_repeat"], config["frames"])
    return stage_settings(FinetuneConfig, config, **budget)


def without_locations(value: Any) -> Any:
    """``value`` as JSON data, without :data:`~diswm.checkpoint.LOCATION_KEYS` (where, not what)."""
    if isinstance(value, dict):
        return {k: without_locations(v) for k, v in value.items() if k not in LOCATION_KEYS}
    return json.loads(json.dumps(value))


def identity_of(settings: FinetuneConfig, task: str, seed: int, frames: int, target_return) -> dict[str, Any]:
    """What determines the videos: the config identity recorded in the manifest's provenance."""
    return {"task": task, "seed": seed, "frames": frames, "target_return": target_return, "method": METHOD,
            "agent": without_locations(asdict(settings))}


def is_finished(settings: FinetuneConfig, progress: dict[str, Any]) -> bool:
    """Whether a checkpoint's progress is the end of the run (budget spent or the target return reached)."""
    return bool(progress.get("stopped_early")) or \
        settings.steps(progress["env_steps"], progress["agent_steps"]) >= settings.env_steps


def write_dataset(settings: FinetuneConfig, identity: dict[str, Any], env, dataset_dir: Path,
                  run_id: Any = None) -> dict[str, Any]:
    """Turn the replay covered by the agent's ``latest.pt`` into the video dataset in ``dataset_dir``: every
    episode checked, hard-linked (or copied) atomically, then the manifest, written last."""
    out = Path(settings.out_dir)
    checkpoint = out / "latest.pt"
    progress = load_checkpoint(checkpoint)["progress"]
    files = sorted((out / "train_eps").glob("*.npz"))[: progress["episodes"]]
    if len(files) != progress["episodes"]:
        raise DatasetError(f"{out / 'train_eps'} holds {len(files)} episodes, {checkpoint} has {progress['episodes']}")
    dataset_dir.mkdir(parents=True, exist_ok=True)
    episodes, placed, agent_steps, env_steps = [], set(), 0, 0
    for index, path in enumerate(files):
        episode = load_episode(path)  # validates keys, shapes and dtypes
        missing = [key for key in FACTOR_KEYS if key not in episode]
        if missing:
            raise DatasetError(f"{path}: no ground-truth factors {missing}")
        distractor = settings.colour_set(settings.steps(env_steps, agent_steps))
        if distractor != "none" and not ColourBox.for_set(distractor, settings.env.max_delta).contains(
                episode["factor_colours"]).all():
            raise DatasetError(f"{path}: colours outside the {distractor!r} set that the schedule used")
        record = episode_record(episode, path.name, index, episode_seed(settings.seed, index, TRAIN_STREAM),
                                distractor)
        record["policy"] = "random" if agent_steps < settings.prefill else "agent"  # the prefill, then the learner
        episodes.append(record)
        placed.add(place_episode(path, dataset_dir))
        agent_steps += len(episode["image"]) - 1
        env_steps += int(episode["env_steps"].sum())
    names = {record["file"] for record in episodes}
    for stale in dataset_dir.glob("*.npz"):  # from an earlier, unfinished export that a resume has redone
        if stale.name not in names:
            stale.unlink()
    finished = is_finished(settings, progress)
    tests = [record["index"] for record in episodes if record["distractor"] == "test"]
    manifest = manifest_header(env, settings.env.task, identity, {
        "schedule": settings.colour_schedule,
        "first_test_episode": tests[0] if tests else None,
        "test_from_agent_step": identity["frames"] / 2 if settings.colour_schedule == "switch" else None,
        "max_delta": settings.env.max_delta,
        "seeded_from": "training episode i: SeedSequence([seed, i, 0]) (diswm.data.rollout.episode_seed)",
    })
    manifest["num_episodes"] = len(episodes)
    manifest["episodes"] = episodes
    history = progress.get("eval_history", [])
    manifest["provenance"] = {
        "policy": VIDEOS, "experiment": "source_agent", "run_id": run_id, "method": METHOD,
        "out_dir": str(out), "config": identity,
        "config_sha256": hashlib.sha256(json.dumps(identity, sort_keys=True).encode()).hexdigest(),
        "checkpoint": {"path": str(checkpoint), "sha256": file_sha256(checkpoint)},
        "frames": agent_steps, "frame_budget": identity["frames"], "env_steps": env_steps,
        "updates": progress["updates"], "finished": finished,
        "stop": None if not finished else "target_return" if progress.get("stopped_early") else "frame_budget",
        "target_return": identity["target_return"],
        "eval_returns": [[record["agent_steps"], record["return_mean"]] for record in history],  # (agent step, mean)
        "files": "hard links into train_eps" if placed == {"link"} else f"{'/'.join(sorted(placed))} of train_eps",
    }
    write_json(dataset_dir / MANIFEST, manifest)
    return manifest


def revalidate(dataset_dir: Path, identity: dict[str, Any], out_dir: str, task: str,
               colour_schedule: str) -> dict[str, Any]:
    """A finished stage's dataset, checked again: complete, made with these settings by the checkpoint there."""
    try:
        manifest = check_video_dataset(dataset_dir, policy=VIDEOS, task=task, colour_schedule=colour_schedule,
                                       missing=f"no dataset at {dataset_dir}")
    except DatasetError as error:
        raise DatasetError(f"{error}; to export it again from the agent's replay, remove {dataset_dir} and rerun"
                           ) from error
    path = dataset_dir / MANIFEST
    provenance_ = manifest["provenance"]
    differences = config_differences(provenance_.get("config", {}), identity)
    if differences:
        raise DatasetError(f"{path} was made with other settings ({'; '.join(differences)}); choose another seed "
                           "or move the dataset and the agent's folder away")
    checkpoint = Path(out_dir) / "latest.pt"
    if checkpoint.is_file() and file_sha256(checkpoint) != provenance_["checkpoint"]["sha256"]:
        raise DatasetError(f"{checkpoint} is not the checkpoint that made {path} (sha256 differs)")
    return manifest


def says_finished(manifest_path: Path) -> bool:
    """Whether ``manifest_path`` is a readable manifest of a finished run (else the stage runs, or resumes)."""
    try:
        return bool(json.loads(manifest_path.read_text()).get("provenance", {}).get("finished"))
    except (OSError, json.JSONDecodeError):
        return False


def summary(manifest: dict[str, Any], dataset_dir: Path, newly_run: bool) -> dict[str, Any]:
    provenance_ = manifest["provenance"]
    returns = provenance_["eval_returns"]
    return {"dataset_dir": str(dataset_dir), "episodes": len(manifest["episodes"]), "frames": provenance_["frames"],
            "finished": provenance_["finished"], "stop": provenance_["stop"], "newly_run": newly_run,
            "final_eval_return": returns[-1][1] if returns else None}


@ex.main
def main(_run, _config, task, seed, frames, target_return, colour_schedule, stop_after_episodes, out_dir,
         dataset_dir):
    settings = agent_settings(dict(_config))
    bound_gpu_memory(_run, _config["device"])
    identity = identity_of(settings, task, seed, frames, target_return)
    with folder_lock(out_dir):  # a second process on this agent stops here, naming the first
        dataset = Path(dataset_dir)
        _run.info.update(provenance())
        manifest_path = dataset / MANIFEST
        if says_finished(manifest_path):
            manifest = revalidate(dataset, identity, out_dir, task, colour_schedule)  # finished: nothing to run
            _run.info["dataset"] = {"manifest": str(manifest_path), "sha256": file_sha256(manifest_path)}
            return summary(manifest, dataset, newly_run=False)

        def on_eval(record):
            _run.log_scalar("eval_return", record["return_mean"], record["agent_steps"])

        def on_episode(record):
            _run.log_scalar("train_return", record["return"], record["agent_steps"])
            _run.log_scalar("fps", record["fps"], record["agent_steps"])

        def on_update(counters, metrics):  # on the agent-step axis of its returns
            _run.log_scalar("train/updates", counters["updates"], counters["agent_steps"])
            for name, value in metrics.items():
                _run.log_scalar(f"train/{name}", value, counters["agent_steps"])

        def reached_target(record) -> bool:
            return target_return is not None and record["return_mean"] >= target_return

        finetuner = Finetuner(settings)
        _run.info["parameters"] = finetuner.parameter_counts()
        try:
            try:
                finetuner.run(on_episode=on_episode, on_eval=on_eval, on_update=on_update, stop_when=reached_target,
                              stop_after_episodes=stop_after_episodes)
            except BaseException:  # leave a manifest that says the run did not finish, then stop as asked
                with contextlib.suppress(Exception):
                    if (Path(out_dir) / "latest.pt").is_file():
                        write_dataset(settings, identity, finetuner.train_env, dataset, _run._id)
                raise
            manifest = write_dataset(settings, identity, finetuner.train_env, dataset, _run._id)
        finally:
            finetuner.close()
        _run.add_artifact(str(manifest_path), MANIFEST)
        _run.info["checkpoint"] = manifest["provenance"]["checkpoint"]
        _run.info["dataset"] = {"manifest": str(manifest_path), "sha256": file_sha256(manifest_path)}
        return summary(manifest, dataset, newly_run=True)


def finished(config: dict[str, Any]) -> str | None:
    """Why the source agent of ``config`` has nothing left to do: its dataset's manifest says finished and still
    checks out (:func:`revalidate`: files, settings, checkpoint hash); None otherwise."""
    manifest = Path(config["dataset_dir"]) / MANIFEST
    if not says_finished(manifest):
        return None
    settings = agent_settings(config)
    identity = identity_of(settings, config["task"], config["seed"], config["frames"], config["target_return"])
    revalidate(Path(config["dataset_dir"]), identity, config["out_dir"], config["task"], config["colour_schedule"])
    return f"{run_name('source_agent', config)} finished already (videos {config['dataset_dir']})"


def run_cli(argv: list[str]) -> int:
    """Run from a command line (``argv`` without the program name), with observers attached; finished work is
    not run again (its videos re-validated)."""
    return run_command_line(ex, argv, finished)


if __name__ == "__main__":
    sys.exit(run_cli(sys.argv[1:]))
