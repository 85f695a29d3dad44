"""Sacred experiment ``pretrain``: the action-free β-VAE video model on a source task's distracting videos.

    diswm pretrain with cheetah_run smoke      # = python -m diswm_app.experiments.pretrain with ...
    diswm pretrain with cheetah_run smoke videos=random

``videos`` picks the videos:

* ``dreamerv2_replay`` (default, the paper's recipe): the replay of a DreamerV2 agent learning the source task,
  ``data/<scale>/<task>/dreamerv2_replay/seed_<video_seed>`` (``diswm source_agent``);
* ``random``: a uniform random policy's videos, ``data/<scale>/<task>/<colour_schedule>/seed_<video_seed>``
  (``diswm collect``).

The dataset is checked first (its manifest's provenance policy, task, colour schedule, completeness); a dataset
that is not the one asked for is refused with one line, before anything is written. Writes
``checkpoints/pretrain/<scale>/<task>/<model_tag>/seed_<seed>/`` (:func:`diswm.paths.video_model_tag`) with
``<updates>/{encoder,decoder,rssm}.pt``, the final ``encoder.pt`` (the distillation teacher) and a resumable
``latest.pt``. Rerun to resume.
"""

from __future__ import annotations

import sys
from dataclasses import asdict
from pathlib import Path
from typing import Any

from diswm.agents.video_model import PretrainConfig
from diswm.checkpoint import config_differences, file_sha256, load_checkpoint
from diswm.configs import as_dict, pretrain_config
from diswm.data.collect import MANIFEST, check_video_dataset, manifest_provenance
from diswm.envs import TASKS
from diswm.lock import folder_lock
from diswm.paths import VIDEO_KINDS, outputs_home, video_model_folder
from diswm.scales import PRETRAIN, SCALE_NAMES, check_scale
from diswm.training.pretrain import pretrain
from diswm_app.experiments.collect import SOURCE_TASKS
from diswm_app.experiments.common import (
    bound_gpu_memory,
    check_at_least,
    check_choice,
    default_device,
    new_experiment,
    provenance,
    run_command_line,
    run_name,
    stage_settings,
)
from diswm_app.paper_figures.video import save_prediction


def video_dir(scale: str, task: str, videos: str, video_seed: int, colour_schedule: str) -> Path:
    """Where the videos of ``videos`` are: ``data/<scale>/<task>/dreamerv2_replay/seed_<video_seed>`` (the
    source agent's) or ``data/<scale>/<task>/<colour_schedule>/seed_<video_seed>`` (random collection)."""
    kind = "dreamerv2_replay" if videos == "dreamerv2_replay" else colour_schedule
    return outputs_home() / "data" / scale / task / kind / f"seed_{video_seed}"


ex = new_experiment("pretrain", PretrainConfig, ("task", "scale", "videos", "video_seed", "colour_schedule"))
#: the DreamerV2 video model that DV2 Finetune starts from
ex.add_named_config("conv", {"image_model": "conv"})


@ex.config
def config():
    task = "cheetah_run"  # source task of the videos
    check_choice("task", task, TASKS)
    scale = "smoke"  # smoke | cpu | paper (diswm.scales.PRETRAIN and NETS)
    check_scale(scale)
    seed = 0  # seeds torch, the batch sampler and the model initialisation
    check_at_least("seed", seed, 0)
    videos = "dreamerv2_replay"  # dreamerv2_replay (a learning agent's replay: the paper) | random (uniform policy)
    check_choice("videos", videos, VIDEO_KINDS)
    video_seed = 0  # seed of the source-agent run (or of the random collection)
    colour_schedule = "switch"  # the videos' colour schedule (train colours, then test colours); checked
    image_model = "beta_vae"  # beta_vae (DisWM's teacher) | conv (DreamerV2 image model, for dv2_finetune)
    device = default_device()  # cuda when a GPU is visible, else cpu (not part of the run's identity)
    # the settings (diswm.agents.video_model.PretrainConfig); override one as rssm.deter=... or beta=..., z_dim=...
    _settings = as_dict(pretrain_config(scale=scale, task=task, image_model=image_model, seed=seed, device=device))
    num_actions = _settings["num_actions"]  # zero-action inputs of the RSSM (the source task's action size)
    cnn_depth = _settings["cnn_depth"]  # conv image model depth
    z_dim = _settings["z_dim"]  # β-VAE latent size
    check_at_least("z_dim", z_dim, 1)
    encoder_widths = _settings["encoder_widths"]  # β-VAE conv channels
    decoder_widths = _settings["decoder_widths"]  # β-VAE deconv channels
    beta = _settings["beta"]  # β2: KL(q(z|o) || N(0, I)) weight (0 for the no_disentangle ablation's teacher)
    kl_scale = _settings["kl_scale"]  # β1
    kl_balance = _settings["kl_balance"]  # DreamerV2 KL balancing
    kl_free = _settings["kl_free"]  # free nats
    rssm = _settings["rssm"]  # RSSM sizes (its embedding and actions follow z_dim and num_actions)
    batch_size = _settings["batch_size"]  # sequences per batch
    length = _settings["length"]  # frames per sequence
    updates = _settings["updates"]  # gradient updates in total
    checkpoint_every = _settings["checkpoint_every"]  # updates between checkpoints
    lr = _settings["lr"]  # Adam learning rate
    eps = _settings["eps"]  # Adam epsilon
    grad_clip = _settings["grad_clip"]  # gradient norm clip
    compile = _settings["compile"]  # torch.compile the RSSM step functions (launch-bound on a GPU; off on CPU)
    del _settings
    log_every = PRETRAIN[scale].log_every  # updates between logged losses
    data_dir = str(video_dir(scale, task, videos, video_seed, colour_schedule))
    out_dir = str(video_model_folder(scale, task, image_model, beta, z_dim, videos, seed))


for _task in SOURCE_TASKS:
    ex.add_named_config(_task, {"task": _task})
for _scale in SCALE_NAMES:
    ex.add_named_config(_scale, {"scale": _scale})


def missing_videos(data_dir: str, videos: str, task: str, scale: str, video_seed: int, colour_schedule: str) -> str:
    """The line for a missing dataset, with the command that makes it."""
    if videos == "dreamerv2_replay":
        return (f"no source-agent run at {data_dir}; run `diswm source_agent with task={task} {scale} "
                f"seed={video_seed}` first (or pretrain on random-policy videos: videos=random)")
    return (f"no dataset at {data_dir}; collect it first with `diswm collect with task={task} {scale} "
            f"seed={video_seed} colour_schedule={colour_schedule}`")


@ex.main
def main(_run, _config, task, scale, videos, video_seed, colour_schedule, data_dir, out_dir, updates, log_every):
    dataset = check_video_dataset(  # before anything is written: a wrong dataset is refused with one line
        data_dir, policy=videos, task=task, colour_schedule=colour_schedule,
        missing=missing_videos(data_dir, videos, task, scale, video_seed, colour_schedule))
    manifest = Path(data_dir) / MANIFEST
    if dataset["action_dim"] != _config["num_actions"]:
        raise ValueError(f"num_actions={_config['num_actions']}, but the videos in {data_dir} have "
                         f"{dataset['action_dim']}-d actions")
    settings = stage_settings(PretrainConfig, _config, dataset_sha256=file_sha256(manifest))
    bound_gpu_memory(_run, _config["device"])
    _run.info.update(provenance())
    _run.info["videos"] = {"kind": videos, "manifest": str(manifest), "sha256": file_sha256(manifest),
                           "provenance": manifest_provenance(dataset)}

    def log(update, metrics):
        if update % log_every == 0 or update == updates:
            for name, value in metrics.items():
                _run.log_scalar(f"pretrain/{name}", value, update)

    with folder_lock(out_dir):  # a second process on this folder stops here, naming the first
        result = pretrain(settings, on_log=log, on_checkpoint=save_prediction)  # and an open-loop strip
    checkpoints = {name: str(Path(out_dir) / f"{name}.pt") for name in ("encoder", "decoder", "rssm")}
    _run.info["checkpoints"] = {name: {"path": path, "sha256": file_sha256(path)} for name, path in checkpoints.items()}
    return {"updates": result["updates"], "encoder": checkpoints["encoder"], **result["metrics"]}


def finished(config: dict[str, Any]) -> str | None:
    """Why the pretraining of ``config`` has nothing left to do: its ``latest.pt`` is of these settings and videos,
    at the last update, with ``encoder.pt`` written; None otherwise."""
    out, manifest = Path(config["out_dir"]), Path(config["data_dir"]) / MANIFEST
    if not (out / "latest.pt").is_file() or not (out / "encoder.pt").is_file() or not manifest.is_file():
        return None
    settings = stage_settings(PretrainConfig, config, dataset_sha256=file_sha256(manifest))
    state = load_checkpoint(out / "latest.pt")
    if state["updates"] < settings.updates or config_differences(state["config"], asdict(settings)):
        return None
    return f"{run_name('pretrain', config)} finished already ({out / 'latest.pt'})"


def run_cli(argv: list[str]) -> int:
    """Run from a command line (``argv`` without the program name), with observers attached; finished work is
    not run again."""
    return run_command_line(ex, argv, finished)


if __name__ == "__main__":
    sys.exit(run_cli(sys.argv[1:]))
