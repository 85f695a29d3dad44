"""Sacred experiment ``pretrain``: the action-free β-VAE video model on a source task's distracting videos.

    python -m experiments.pretrain with cheetah_run smoke       # or: diswm pretrain with cheetah_run smoke
    python -m experiments.pretrain with cheetah_run smoke videos=random

``videos`` picks the videos:

* ``dreamerv2_replay`` (default, the paper's recipe): the replay of a DreamerV2 agent learning the source task,
  ``data/<scale>/<task>/dreamerv2_replay/seed_<video_seed>`` (``diswm source_agent``);
* ``random``: a uniform random policy's videos, ``data/<scale>/<task>/<colour_schedule>/seed_<video_seed>``
  (``diswm collect``).

The dataset is checked first (its manifest's provenance policy, task, colour schedule, completeness); a dataset
that is not the one asked for is refused with one line, before anything is written. Writes
``checkpoints/pretrain/<scale>/<task>/<model_tag>/seed_<seed>/`` (:func:`video_model_tag`) with
``<updates>/{encoder,decoder,rssm}.pt``, the final ``encoder.pt`` (the distillation teacher) and a resumable
``latest.pt``. Rerun to resume.
"""

from __future__ import annotations

import sys
from pathlib import Path

from diswm.agents.pretrain import PretrainConfig, pretrain
from diswm.checkpoint import file_sha256
from diswm.data.collect import MANIFEST, check_video_dataset, manifest_provenance
from diswm.envs import TASKS
from diswm.lock import folder_lock
from diswm.models import RSSMConfig
from diswm.scales import NETS, PRETRAIN, SCALE_NAMES, check_scale
from experiments.collect import SOURCE_TASKS
from experiments.common import (
    check_at_least,
    check_choice,
    default_device,
    new_experiment,
    outputs_home,
    provenance,
    run_command_line,
)

#: ``videos`` -> the provenance policy its datasets' manifests must name
VIDEOS = {"dreamerv2_replay": "dreamerv2_replay", "random": "random"}


def video_model_tag(image_model: str, beta: float, z_dim: int, videos: str) -> str:
    """Folder name of a video model under ``checkpoints/pretrain/<scale>/<task>/``: ``beta<β2:g>`` (β-VAE) or
    ``conv``, then ``_z<z_dim>`` when z_dim is not 20, then ``_random`` for random-policy videos (none for the
    default replay videos), e.g. ``beta0.015``, ``beta0_z5``, ``conv_random``, ``beta0.015_z100_random``."""
    if videos not in VIDEOS:
        raise ValueError(f"videos={videos!r}; expected one of {sorted(VIDEOS)}")
    return ((f"beta{beta:g}" if image_model == "beta_vae" else "conv") + (f"_z{z_dim}" if z_dim != 20 else "")
            + ("_random" if videos == "random" else ""))


def video_dir(scale: str, task: str, videos: str, video_seed: int, colour_schedule: str) -> Path:
    """Where the videos of ``videos`` are: ``data/<scale>/<task>/dreamerv2_replay/seed_<video_seed>`` (the
    source agent's) or ``data/<scale>/<task>/<colour_schedule>/seed_<video_seed>`` (random collection)."""
    kind = "dreamerv2_replay" if videos == "dreamerv2_replay" else colour_schedule
    return outputs_home() / "data" / scale / task / kind / f"seed_{video_seed}"


ex = new_experiment("pretrain")
#: the DreamerV2 video model that DV2 Finetune starts from
ex.add_named_config("conv", {"image_model": "conv"})


@ex.config
def config():
    task = "cheetah_run"  # source task of the videos
    check_choice("task", task, TASKS)
    scale = "smoke"  # smoke | cpu | paper (diswm.scales.PRETRAIN)
    check_scale(scale)
    seed = 0  # seeds torch, the batch sampler and the model initialisation
    check_at_least("seed", seed, 0)
    videos = "dreamerv2_replay"  # dreamerv2_replay (a learning agent's replay: the paper) | random (uniform policy)
    video_seed = 0  # seed of the source-agent run (or of the random collection)
    colour_schedule = "switch"  # the videos' colour schedule (train colours, then test colours); checked
    data_dir = str(video_dir(scale, task, videos, video_seed, colour_schedule))
    beta = 0.015  # β2: KL(q(z|o) || N(0, I)) weight (0 for the no_disentangle ablation's teacher)
    image_model = "beta_vae"  # beta_vae (DisWM's teacher) | conv (DreamerV2 image model, for dv2_finetune)
    cnn_depth = NETS[scale].cnn_depth  # conv image model depth
    z_dim = 20  # β-VAE latent size
    check_at_least("z_dim", z_dim, 1)
    model_tag = video_model_tag(image_model, beta, z_dim, videos)  # folder name of this video model
    out_dir = str(outputs_home() / "checkpoints" / "pretrain" / scale / task / model_tag / f"seed_{seed}")
    batch_size = PRETRAIN[scale].batch_size  # sequences per batch
    length = PRETRAIN[scale].length  # frames per sequence
    updates = PRETRAIN[scale].updates  # gradient updates in total
    checkpoint_every = PRETRAIN[scale].checkpoint_every  # updates between checkpoints
    log_every = PRETRAIN[scale].log_every  # updates between logged losses
    kl_scale = 1.0  # β1
    encoder_widths = list(NETS[scale].encoder_widths)  # β-VAE conv channels
    decoder_widths = list(NETS[scale].decoder_widths)  # β-VAE deconv channels
    stoch = NETS[scale].stoch  # RSSM stochastic size
    deter = NETS[scale].deter  # RSSM deterministic (GRU) size
    hidden = NETS[scale].hidden  # RSSM hidden size
    num_actions = None  # zero-action inputs of the RSSM (None: the source task's action size)
    lr = 3e-4  # Adam learning rate (eps 1e-5, gradient clip 100)
    device = default_device()  # cuda when a GPU is visible, else cpu (not part of the run's identity)
    compile = device == "cuda"  # torch.compile the RSSM step functions (launch-bound on a GPU; off on CPU)


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
def main(_run, task, scale, videos, video_seed, colour_schedule, seed, data_dir, out_dir, batch_size, length, updates,
         checkpoint_every, log_every, z_dim, beta, image_model, cnn_depth, kl_scale, encoder_widths, decoder_widths,
         stoch, deter, hidden, num_actions, lr, device, compile):
    if videos not in VIDEOS:
        raise ValueError(f"videos={videos!r}; expected one of {sorted(VIDEOS)}")
    dataset = check_video_dataset(  # before anything is written: a wrong dataset is refused with one line
        data_dir, policy=VIDEOS[videos], task=task, colour_schedule=colour_schedule,
        missing=missing_videos(data_dir, videos, task, scale, video_seed, colour_schedule))
    manifest = Path(data_dir) / MANIFEST
    if num_actions is None:
        num_actions = dataset["action_dim"]
    settings = PretrainConfig(
        data_dir=data_dir, out_dir=out_dir, num_actions=num_actions, z_dim=z_dim, beta=beta, kl_scale=kl_scale,
        image_model=image_model, cnn_depth=cnn_depth,
        encoder_widths=tuple(encoder_widths), decoder_widths=tuple(decoder_widths),
        rssm=RSSMConfig(stoch=stoch, deter=deter, hidden=hidden, embed=z_dim, num_actions=num_actions),
        batch_size=batch_size, length=length, updates=updates, checkpoint_every=checkpoint_every, lr=lr, seed=seed,
        device=device, compile=compile, dataset_sha256=file_sha256(manifest),
    )
    _run.info.update(provenance())
    _run.info["videos"] = {"kind": videos, "manifest": str(manifest), "sha256": file_sha256(manifest),
                           "provenance": manifest_provenance(dataset)}

    def log(update, metrics):
        if update % log_every == 0 or update == updates:
            for name, value in metrics.items():
                _run.log_scalar(f"pretrain/{name}", value, update)

    with folder_lock(out_dir):  # a second process on this folder stops here, naming the first
        result = pretrain(settings, on_log=log)
    checkpoints = {name: str(Path(out_dir) / f"{name}.pt") for name in ("encoder", "decoder", "rssm")}
    _run.info["checkpoints"] = {name: {"path": path, "sha256": file_sha256(path)} for name, path in checkpoints.items()}
    return {"updates": result["updates"], "encoder": checkpoints["encoder"], **result["metrics"]}


def run_cli(argv: list[str]) -> int:
    """Run from a command line (``argv`` without the program name), with observers attached."""
    return run_command_line(ex, argv)


if __name__ == "__main__":
    sys.exit(run_cli(sys.argv[1:]))
