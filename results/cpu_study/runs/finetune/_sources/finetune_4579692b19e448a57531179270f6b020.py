"""Sacred experiment ``finetune``: the online world model and agent on a target task (DisWM stages 2-3),
and the baselines as named configurations of the same parts.

    diswm finetune with diswm smoke task=reacher_easy source=finger_spin
    diswm finetune with dreamerv2 cpu task=reacher_easy

DisWM reads the teacher ``checkpoints/pretrain/<scale>/<source>/beta<β2>/seed_<pretrain_seed>/encoder.pt``
(``diswm pretrain``, on the source agent's replay videos; ``videos=random``: ``beta<β2>_random``, pretrained on
a random policy's videos). Outputs go to ``checkpoints/finetune/<scale>/<source>_to_<task>/<method>/seed_<seed>/``
(``<method>_random`` with ``videos=random``; ``latest.pt``, ``train_eps/``, ``identity.json``); a run whose settings
differ from its method's at its scale (an η, a β, a budget, ``official_code``) gets ``seed_<seed>-<digest>``, so
runs with other settings never share a folder. Rerunning the same command resumes; a second process on the same
folder stops with a message naming the first (``.lock``, a kernel-held lock: :mod:`diswm.lock`).
"""

from __future__ import annotations

import sys
from dataclasses import asdict
from pathlib import Path
from typing import Any

from sacred.initialize import create_run

from diswm.atomic import write_json
from diswm.checkpoint import config_differences, file_sha256, load_checkpoint
from diswm.configs import METHODS, as_dict, finetune_config, method_root, method_values
from diswm.envs import TASKS
from diswm.lock import folder_lock
from diswm.paths import finetune_base_folder, settings_folder, teacher_encoder, video_model_folder
from diswm.scales import ETA_STEPS, SCALE_NAMES, check_scale
from diswm.training.finetune import FinetuneConfig, Finetuner
from diswm_app.experiments.common import (
    bound_gpu_memory,
    check_at_least,
    check_choice,
    default_device,
    new_experiment,
    provenance,
    run_command_line,
    run_name,
    settings_differences,
    stage_settings,
)

#: the config's top-level keys that are not FinetuneConfig fields: what the run is, and where its inputs are
TOP_LEVEL = ("task", "source", "method", "scale", "videos", "pretrain_seed", "pretrain_beta", "init_pretrained",
             "eta_steps")
ex = new_experiment("finetune", FinetuneConfig, TOP_LEVEL)


@ex.config
def config():
    # what the run is (its folder, its name); every other setting follows from these (diswm.configs)
    task = "reacher_easy"  # target task
    check_choice("task", task, TASKS)
    source = "finger_spin"  # source task of the pretrained teacher (or video model)
    check_choice("source", source, TASKS)
    method = "diswm"  # diswm.configs.METHODS, or one with a label (diswm_official); set by the named configs
    method_root(method)
    scale = "smoke"  # smoke | cpu | paper (diswm.scales.FINETUNE and NETS)
    check_scale(scale)
    seed = 0  # seeds torch, numpy, the environments and the colour streams
    check_at_least("seed", seed, 0)
    videos = "dreamerv2_replay"  # the teacher's (or conv video model's) videos: dreamerv2_replay (paper) | random
    pretrain_seed = 0  # seed of the teacher's (or video model's) pretraining run
    pretrain_beta = method_values(method)["pretrain_beta"]  # β2 of the teacher's pretraining run (its folder)
    init_pretrained = method_values(method)["init_pretrained"]  # start from the source's conv video model
    device = default_device()  # cuda when a GPU is visible, else cpu (not part of the run's identity)
    # η's decay and cross-domain delay: paper (the scale's: the released 50k agent steps from cpu scale on) | budget
    # (10% of the budget each; named config eta_budget_scaled)
    eta_steps = "paper"
    check_choice("eta_steps", eta_steps, ETA_STEPS)
    # the settings (diswm.training.finetune.FinetuneConfig) as nested dicts; override one as world_model.eta_max=0.05
    # or by its bare name, eta_max=0.05 (a name under several sections, such as units, sets each)
    _settings = as_dict(finetune_config(scale=scale, method=method, task=task, source=source, seed=seed,
                                        device=device, eta_steps=eta_steps))
    env = _settings["env"]  # environment: task and seed follow the keys above
    world_model = _settings["world_model"]  # β-VAE or conv image model, RSSM, reward head, distillation
    behavior = _settings["behavior"]  # actor and critic in imagination
    env_steps = _settings["env_steps"]  # budget, in step_unit
    step_unit = _settings["step_unit"]  # what env_steps, eval_every, checkpoint_every count: control | logged
    colour_schedule = _settings["colour_schedule"]  # switch (train colours, test from mid-budget) | train | test
    prefill = _settings["prefill"]  # random-policy agent steps before training
    train_every = _settings["train_every"]  # agent steps per update
    pretrain_updates = _settings["pretrain_updates"]  # updates in the first training call
    batch_size = _settings["batch_size"]  # sequences per batch
    length = _settings["length"]  # frames per sequence
    eval_every = _settings["eval_every"]  # steps (step_unit) between evaluations
    eval_episodes = _settings["eval_episodes"]  # episodes per evaluation
    eval_action = _settings["eval_action"]  # evaluation actions: the actor's mode (DreamerV2) | mean | sample
    eval_batch = _settings["eval_batch"]  # evaluation episodes side by side (None: all; speed only)
    eval_workers = _settings["eval_workers"]  # each evaluation environment in its own process (speed only)
    precision = _settings["precision"]  # the updates' arithmetic: fp32 | bf16 (autocast, opt-in)
    checkpoint_every = _settings["checkpoint_every"]  # steps (step_unit) between checkpoints
    compile = _settings["compile"]  # torch.compile the step loops (launch-bound on a GPU; off on CPU)
    cuda_graph = _settings["cuda_graph"]  # replay each update as one CUDA graph (not for APV's stack)
    del _settings
    check_at_least("z_dim", world_model["z_dim"], 1)
    # where the teacher and the pretrained video model are (diswm.paths; not part of the run's identity)
    teacher_path = str(teacher_encoder(scale, source, pretrain_beta, world_model["z_dim"], videos, pretrain_seed)) \
        if world_model["distill"] else None
    init_from = str(video_model_folder(scale, source, "conv", 0.0, 20, videos, pretrain_seed)) \
        if init_pretrained else None
    out_dir = None  # None: the run's own folder (run_folder: a function of every setting that changes the result)


_BASELINE: list[bool] = []  # non-empty while run_folder builds a baseline config (whose folder is not needed)


def run_folder(config: dict[str, Any]) -> tuple[Path, dict[str, list[Any]]]:
    """``checkpoints/finetune/<scale>/<source>_to_<task>/<method>[_random]/seed_<seed>`` for the method's own
    settings at its scale; with any other setting (an override, a budget, ``official_code``) the folder gets the
    digest of the differences (:func:`diswm.paths.settings_folder`). Returns the folder and the differences
    from that baseline (dotted paths: ``{"world_model.eta_max": [0.1, 0.05]}``)."""
    base = finetune_base_folder(config["scale"], config["source"], config["task"], config["method"], config["videos"],
                                config["seed"])
    _BASELINE.append(True)
    try:
        baseline = create_run(ex, "main", {k: config[k] for k in ("method", "task", "source", "seed", "videos")},
                              named_configs=[method_root(config["method"]), config["scale"]]).config
    finally:
        _BASELINE.pop()
    differences = settings_differences(config, baseline)
    return settings_folder(base, differences), differences


@ex.config_hook
def resolve_out_dir(config, command_name, logger):
    """Fill ``out_dir`` (when not given) with :func:`run_folder`."""
    if config.get("out_dir") is not None or _BASELINE:
        return {}
    return {"out_dir": str(run_folder(config)[0])}


for _method in METHODS:
    ex.add_named_config(_method, {"method": _method})
for _scale in SCALE_NAMES:
    ex.add_named_config(_scale, {"scale": _scale})
# Every switch set to what the released code (qiwang067/DisWM @ 001cc4d) does: its frozen η step counter,
# drifting teacher, double action repeat with 2 x last reward, untruncated Normal actor, time-reversed λ-returns,
# and a budget, evaluation and colour switch counted in its logged steps (2 x agent steps).
OFFICIAL_CODE = {"world_model": {"eta_schedule": "official", "teacher": "drifting"}, "env": {"repeat_mode": "official"},
                 "behavior": {"actor_dist": "normal", "lambda_order": "reversed"}, "step_unit": "logged"}
ex.add_named_config("official_code", OFFICIAL_CODE)
# η's decay and cross-domain delay as 10% of the budget (the cpu scale's setting before the cpu study, issue 24)
ex.add_named_config("eta_budget_scaled", {"eta_steps": "budget"})


@ex.main
def main(_run, _config, out_dir, teacher_path, init_from):
    if teacher_path and not Path(teacher_path).is_file():
        raise FileNotFoundError(f"teacher {teacher_path} not found; pretrain it first (`diswm pretrain with ...`)")
    if init_from and not (Path(init_from) / "rssm.pt").is_file():
        raise FileNotFoundError(f"no pretrained video model in {init_from}; run `diswm pretrain with conv ...` first")
    settings = stage_settings(FinetuneConfig, _config)
    bound_gpu_memory(_run, _config["device"])
    _run.info.update(provenance())
    if teacher_path:
        _run.info["teacher"] = {"path": teacher_path, "sha256": file_sha256(teacher_path)}

    def on_eval(record):
        _run.log_scalar("eval_return", record["return_mean"], record["env_steps"])
        _run.log_scalar("eval_seconds_per_episode", record["seconds_per_episode"], record["env_steps"])
        if "success_rate" in record:  # DrawerWorld (Table B reports success rates)
            _run.log_scalar("eval_success_rate", record["success_rate"], record["env_steps"])

    def on_episode(record):
        _run.log_scalar("train_return", record["return"], record["env_steps"])
        _run.log_scalar("fps", record["fps"], record["env_steps"])  # env steps/s, training included

    def on_update(counters, metrics):  # on the env-step axis of the returns (Omniboard plots one axis)
        _run.log_scalar("train/updates", counters["updates"], counters["env_steps"])
        for name, value in metrics.items():
            _run.log_scalar(f"train/{name}", value, counters["env_steps"])

    _, differences = run_folder(dict(_config))
    _run.info["settings_differences"] = differences  # from the method's own settings at this scale
    _run.info["out_dir"] = out_dir
    with folder_lock(out_dir):  # a second process on this folder stops here, naming the first
        finetuner = Finetuner(settings)  # refuses a wrong teacher or pretrained model before anything is written
        write_json(Path(out_dir) / "identity.json", {"differences": differences,
                                                     "config": {k: v for k, v in _config.items()}})
        _run.info["parameters"] = finetuner.parameter_counts()
        try:
            result = finetuner.run(on_episode=on_episode, on_eval=on_eval, on_update=on_update)
        finally:
            finetuner.close()
    checkpoint = Path(out_dir) / "latest.pt"
    _run.info["checkpoint"] = {"path": str(checkpoint), "sha256": file_sha256(checkpoint)}
    history = result["eval_history"]
    return {"env_steps": result["env_steps"], "updates": result["updates"], "episodes": result["episodes"],
            "final_eval_return": history[-1]["return_mean"] if history else None,
            "eval_returns": [[h["env_steps"], h["return_mean"]] for h in history],  # lists: plain JSON in records
            **({"final_success_rate": history[-1]["success_rate"],
                "eval_success_rates": [[h["env_steps"], h["success_rate"]] for h in history]}
               if history and "success_rate" in history[-1] else {})}


def finished(config: dict[str, Any]) -> str | None:
    """Why the run of ``config`` has nothing left to do: its ``latest.pt`` is of these settings and at the end of
    its budget (or stopped early); None otherwise."""
    path = Path(config["out_dir"]) / "latest.pt"
    if not path.is_file():
        return None
    settings = stage_settings(FinetuneConfig, config)
    state = load_checkpoint(path)
    progress = state["progress"]
    if config_differences(state["config"], asdict(settings)):
        return None
    if settings.steps(progress["env_steps"], progress["agent_steps"]) < settings.env_steps \
            and not progress.get("stopped_early"):
        return None
    return f"{run_name('finetune', config)} finished already ({path})"


def run_cli(argv: list[str]) -> int:
    """Run from a command line (``argv`` without the program name), with observers attached; finished work is
    not run again."""
    return run_command_line(ex, argv, finished)


if __name__ == "__main__":
    sys.exit(run_cli(sys.argv[1:]))
