"""Sacred experiment ``finetune``: the online world model and agent on a target task (DisWM stages 2-3),
and the baselines as named configurations of the same parts.

    python -m experiments.finetune with diswm smoke task=reacher_easy source=finger_spin
    python -m experiments.finetune with dreamerv2 cpu task=reacher_easy

DisWM reads the teacher ``checkpoints/pretrain/<scale>/<source>/beta<β2>/seed_<pretrain_seed>/encoder.pt``
(``diswm pretrain``, on the source agent's replay videos; ``videos=random``: ``beta<β2>_random``, pretrained on
a random policy's videos). Outputs go to ``checkpoints/finetune/<scale>/<source>_to_<task>/<method>/seed_<seed>/``
(``<method>_random`` with ``videos=random``; ``latest.pt``, ``train_eps/``, ``identity.json``); a run whose settings
differ from its method's at its scale (an η, a β, a budget, ``official_code``) gets ``seed_<seed>-<digest>``, so
runs with other settings never share a folder. Rerunning the same command resumes; a second process on the same
folder stops with a message naming the first (``.lock``: pid, host).
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from sacred.initialize import create_run

from diswm.agents import BehaviorConfig, WorldModelConfig
from diswm.agents.finetune import FinetuneConfig, Finetuner
from diswm.atomic import write_json
from diswm.checkpoint import file_sha256
from diswm.envs import ACTION_DIMS, DRAWER_TASK_NAMES, TASKS, EnvSpec
from diswm.lock import folder_lock
from diswm.models import RSSMConfig
from diswm.scales import FINETUNE, NETS, SCALE_NAMES, check_scale
from experiments.common import (
    check_at_least,
    check_choice,
    default_device,
    identity_folder,
    new_experiment,
    outputs_home,
    provenance,
    run_command_line,
    settings_differences,
)
from experiments.pretrain import video_model_tag

ex = new_experiment("finetune")

#: method -> the config values that define it (DisWM and its baselines are settings of one model).
METHODS = {
    "diswm": {"image_model": "beta_vae", "distill": True, "beta": 0.015, "pretrain_beta": 0.015},
    "dreamerv2": {"image_model": "conv", "distill": False, "beta": 0.0},
    "no_distill": {"image_model": "beta_vae", "distill": False, "beta": 0.015},
    "no_disentangle": {"image_model": "beta_vae", "distill": True, "beta": 0.0, "pretrain_beta": 0.0},
    # DreamerV2 whose encoder, decoder and RSSM start from a conv video model pretrained on the source
    # (`diswm pretrain with conv <source>`), action space the larger of the two (official naive_fine_tune).
    "dv2_finetune": {"image_model": "conv", "distill": False, "beta": 0.0, "init_pretrained": True},
    # APV: the source's pretrained action-free conv video model at the bottom of a stack, a new
    # action-conditional RSSM on its features, and the video-based intrinsic bonus (official fine_tune).
    "apv": {"image_model": "conv", "distill": False, "beta": 0.0, "init_pretrained": True, "stacked": True,
            "intrinsic_beta": 1.0},
}


def method_labels() -> tuple[str, ...]:
    """The allowed ``method`` labels: a METHODS name, or one with a suffix (``diswm_official``)."""
    return (*METHODS, *(f"{m}_<label>" for m in METHODS))


def check_method(method: str) -> None:
    if method not in METHODS and not any(method.startswith(f"{m}_") and len(method) > len(m) + 1 for m in METHODS):
        check_choice("method", method, method_labels())


@ex.config
def config():
    task = "reacher_easy"  # target task
    check_choice("task", task, TASKS)
    source = "finger_spin"  # source task of the pretrained teacher
    check_choice("source", source, TASKS)
    method = "diswm"  # label of the run (set by the method named configs)
    check_method(method)
    scale = "smoke"  # smoke | cpu | paper (diswm.scales.FINETUNE and NETS)
    check_scale(scale)
    seed = 0  # seeds torch, numpy, the environments and the colour streams
    check_at_least("seed", seed, 0)
    image_model = "beta_vae"  # beta_vae (DisWM) | conv (DreamerV2)
    distill = True  # distil the pretrained teacher's latents
    beta = 0.015  # β: disentanglement constraint on the student encoder
    pretrain_beta = 0.015  # β2 of the teacher's pretraining run (selects its checkpoint folder)
    pretrain_seed = 0  # seed of the teacher's pretraining run
    videos = "dreamerv2_replay"  # the teacher's (or conv video model's) videos: dreamerv2_replay (paper) | random
    eta_max = 0.1  # η at the start of the schedule
    eta_schedule = "paper"  # paper (0.1 -> 0.01) | official (frozen step: 0.095 DMC, none cross-domain)
    eta_decay_steps = FINETUNE[scale].eta_decay_steps  # agent steps of η's linear decay (paper: 50k)
    eta_floor = 0.1  # η stays at or above eta_floor x eta_max (released: 0.1, i.e. 0.01)
    eta_delay = FINETUNE[scale].eta_delay  # cross-domain: agent steps before distillation starts (paper: 50k)
    teacher = "frozen"  # frozen | drifting (the released code updates the teacher)
    cross_domain = task in ("pusher", *DRAWER_TASK_NAMES)  # delay distillation, as the official cross-domain runs
    z_dim = 20  # β-VAE latent size
    check_at_least("z_dim", z_dim, 1)
    reward_scale = 1.0 if task in DRAWER_TASK_NAMES else 2.0  # official metaworld 1; dmc2gym / gymnasium 2
    gru_layer_norm = task not in DRAWER_TASK_NAMES  # official: gru_layer_norm (DMC, Pusher), plain gru (metaworld)
    repeat_mode = "correct"  # correct | official (4 control steps, 2 x last reward)
    action_repeat = 2  # control steps per agent step
    colour_schedule = "switch"  # switch (train colours, test colours from mid-budget) | train | test | none
    device = default_device()  # cuda when a GPU is visible, else cpu (not part of the run's identity)
    compile = device == "cuda"  # torch.compile the step loops (launch-bound on a GPU; off on CPU)
    step_unit = "control"  # what env_steps, eval_every, checkpoint_every count: control | logged (released)
    env_steps = FINETUNE[scale].env_steps  # budget, in step_unit
    time_limit = FINETUNE[scale].time_limit  # control steps per episode (None: native)
    render_quality = FINETUNE[scale].render_quality  # default | fast
    prefill = FINETUNE[scale].prefill  # random-policy agent steps before training
    train_every = FINETUNE[scale].train_every  # agent steps per update
    pretrain_updates = FINETUNE[scale].pretrain_updates  # updates in the first training call
    batch_size = FINETUNE[scale].batch_size  # sequences per batch
    length = FINETUNE[scale].length  # frames per sequence
    eval_every = FINETUNE[scale].eval_every  # steps (step_unit) between evaluations
    eval_episodes = FINETUNE[scale].eval_episodes  # episodes per evaluation
    eval_action = "mode"  # evaluation actions: the actor's mode (DreamerV2) | mean | sample
    checkpoint_every = FINETUNE[scale].checkpoint_every  # steps (step_unit) between checkpoints
    encoder_widths = list(NETS[scale].encoder_widths)  # β-VAE conv channels (must match the teacher)
    decoder_widths = list(NETS[scale].decoder_widths)  # β-VAE deconv channels
    cnn_depth = NETS[scale].cnn_depth  # DreamerV2 conv encoder/decoder depth (image_model=conv)
    stoch = NETS[scale].stoch  # RSSM stochastic size
    deter = NETS[scale].deter  # RSSM deterministic size
    hidden = NETS[scale].hidden  # RSSM hidden size
    units = NETS[scale].units  # MLP width of the heads
    reward_layers = NETS[scale].reward_layers  # reward head layers
    actor_layers = NETS[scale].actor_layers  # actor layers
    critic_layers = NETS[scale].critic_layers  # critic layers
    horizon = NETS[scale].horizon  # imagination horizon
    actor_dist = "trunc_normal"  # trunc_normal (DreamerV2: actions in [-1, 1]) | normal (the released code)
    actor_entropy = 1e-4  # weight of the policy entropy in the actor loss (DreamerV2 DMC)
    lambda_order = "forward"  # λ-returns in time order (DreamerV2) | reversed (the released code's order)
    init_pretrained = False  # start from the source's conv video model (dv2_finetune, apv)
    stacked = False  # APV: action-conditional RSSM on top of the pretrained action-free one
    intrinsic_beta = 0.0  # APV's video-based intrinsic bonus weight
    cuda_graph = device == "cuda" and not stacked  # replay each update as one CUDA graph (not for APV's stack)
    video_actions = ACTION_DIMS[source] if stacked else 0  # zero action inputs of the action-free RSSM
    init_from = str(outputs_home() / "checkpoints" / "pretrain" / scale / source
                    / video_model_tag("conv", 0.0, 20, videos) / f"seed_{pretrain_seed}") if init_pretrained else None
    # DV2 Finetune: the larger of source and target action spaces (the pretrained RSSM takes actions)
    num_actions = max(ACTION_DIMS[task], ACTION_DIMS[source]) if init_pretrained and not stacked \
        else ACTION_DIMS[task]
    teacher_tag = video_model_tag("beta_vae", pretrain_beta, z_dim, videos)  # the pretrain run's folder
    teacher_path = str(outputs_home() / "checkpoints" / "pretrain" / scale / source / teacher_tag
                       / f"seed_{pretrain_seed}" / "encoder.pt") if distill else None
    out_dir = None  # None: the run's own folder (run_folder: a function of every setting that changes the result)


def method_root(method: str) -> str:
    """The METHODS entry a label names (``diswm_official`` -> ``diswm``)."""
    return method if method in METHODS else max((m for m in METHODS if method.startswith(f"{m}_")), key=len)


_BASELINE: list[bool] = []  # non-empty while run_folder builds a baseline config (whose folder is not needed)


def run_folder(config: dict[str, Any]) -> tuple[Path, dict[str, list[Any]]]:
    """``checkpoints/finetune/<scale>/<source>_to_<task>/<method>[_random]/seed_<seed>`` for the method's own
    settings at its scale; with any other setting (an override, a budget, ``official_code``) the folder gets the
    digest of the differences (:func:`experiments.common.identity_folder`). Returns the folder and the differences
    from that baseline."""
    base = (outputs_home() / "checkpoints" / "finetune" / config["scale"] / f"{config['source']}_to_{config['task']}"
            / (config["method"] + ("_random" if config["videos"] == "random" else "")) / f"seed_{config['seed']}")
    _BASELINE.append(True)
    try:
        baseline = create_run(ex, "main", {k: config[k] for k in ("method", "task", "source", "seed", "videos")},
                              named_configs=[method_root(config["method"]), config["scale"]]).config
    finally:
        _BASELINE.pop()
    differences = settings_differences(config, baseline)
    return identity_folder(base, differences), differences


@ex.config_hook
def resolve_out_dir(config, command_name, logger):
    """Fill ``out_dir`` (when not given) with :func:`run_folder`."""
    if config.get("out_dir") is not None or _BASELINE:
        return {}
    return {"out_dir": str(run_folder(config)[0])}


for _method, _values in METHODS.items():
    ex.add_named_config(_method, {"method": _method, **_values})
for _scale in SCALE_NAMES:
    ex.add_named_config(_scale, {"scale": _scale})
# Every switch set to what the released code (qiwang067/DisWM @ 001cc4d) does: its frozen η step counter,
# drifting teacher, double action repeat with 2 x last reward, untruncated Normal actor, time-reversed λ-returns,
# and a budget, evaluation and colour switch counted in its logged steps (2 x agent steps).
OFFICIAL_CODE = {"eta_schedule": "official", "teacher": "drifting", "repeat_mode": "official", "actor_dist": "normal",
                 "lambda_order": "reversed", "step_unit": "logged"}
ex.add_named_config("official_code", OFFICIAL_CODE)


@ex.main
def main(_run, _config, task, seed, image_model, distill, beta, eta_max, eta_schedule, eta_decay_steps, eta_floor,
         eta_delay, teacher, cross_domain, z_dim, reward_scale, repeat_mode, action_repeat, colour_schedule, device,
         step_unit, env_steps, time_limit, render_quality, prefill, train_every, pretrain_updates, batch_size, length,
         eval_every, eval_episodes, eval_action, checkpoint_every, encoder_widths, decoder_widths, cnn_depth, stoch,
         deter, hidden, units, reward_layers, actor_layers, critic_layers, horizon, actor_dist, actor_entropy,
         lambda_order, teacher_path, init_from, num_actions, stacked, intrinsic_beta, video_actions, out_dir, compile,
         gru_layer_norm, cuda_graph):
    if distill and not Path(teacher_path).is_file():
        raise FileNotFoundError(f"teacher {teacher_path} not found; pretrain it first (`diswm pretrain with ...`)")
    if init_from and not (Path(init_from) / "rssm.pt").is_file():
        raise FileNotFoundError(f"no pretrained video model in {init_from}; run `diswm pretrain with conv ...` first")
    world_model = WorldModelConfig(
        image_model=image_model, z_dim=z_dim, beta=beta, encoder_widths=tuple(encoder_widths),
        decoder_widths=tuple(decoder_widths), cnn_depth=cnn_depth,
        rssm=RSSMConfig(stoch=stoch, deter=deter, hidden=hidden, embed=z_dim, num_actions=num_actions,
                         layer_norm=gru_layer_norm),
        reward_layers=reward_layers, units=units, reward_scale=reward_scale, distill=distill,
        eta_schedule=eta_schedule, eta_max=eta_max, eta_decay_steps=eta_decay_steps, eta_floor=eta_floor,
        eta_delay=eta_delay, teacher=teacher, cross_domain=cross_domain,
        stacked=stacked, video_actions=video_actions, intrinsic_beta=intrinsic_beta,
    )
    behavior = BehaviorConfig(horizon=horizon, actor_layers=actor_layers, critic_layers=critic_layers, units=units,
                              actor_dist=actor_dist, entropy=actor_entropy, lambda_order=lambda_order)
    env = EnvSpec(task=task, seed=seed, action_repeat=action_repeat, repeat_mode=repeat_mode,
                  render_quality=render_quality, time_limit=time_limit)
    settings = FinetuneConfig(
        env=env, out_dir=out_dir, world_model=world_model, behavior=behavior, teacher_path=teacher_path,
        init_from=init_from, env_steps=env_steps, step_unit=step_unit, colour_schedule=colour_schedule,
        prefill=prefill, train_every=train_every,
        pretrain_updates=pretrain_updates, batch_size=batch_size, length=length, eval_every=eval_every,
        eval_episodes=eval_episodes, eval_action=eval_action, checkpoint_every=checkpoint_every, seed=seed,
        device=device, compile=compile, cuda_graph=cuda_graph,
    )
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


def run_cli(argv: list[str]) -> int:
    """Run from a command line (``argv`` without the program name), with observers attached."""
    return run_command_line(ex, argv)


if __name__ == "__main__":
    sys.exit(run_cli(sys.argv[1:]))
