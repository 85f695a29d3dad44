"""Figures 5 and 6: latent traversals of a pretrained video model (Fig. 5) and of a finetuned DisWM world
model (Fig. 6): one row per β-VAE latent, one column per offset (-9..9, step 3), from one frame.

Reads a checkpoint (``latest.pt`` of ``diswm pretrain`` or ``diswm finetune``) and a frame of a collected
dataset or of the finetuning replay.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from diswm.agents.video_model import PretrainConfig
from diswm.checkpoint import load_checkpoint
from diswm.data import EpisodeReplay
from diswm.paths import relocate, video_model_folder
from diswm.training.finetune import load_agent
from diswm.training.pretrain import load_video_model
from diswm_app.paper_figures.common import figures_dir, plt, save
from diswm_app.paper_figures.traverse import OFFSETS, traversal_grid


def load_model(checkpoint: Path):
    """The model of a finetuning or a pretraining ``latest.pt`` and the folder of the frames it saw."""
    if "world_model" in load_checkpoint(checkpoint)["config"]:  # a finetuning checkpoint
        config, model, _ = load_agent(checkpoint)
        return model.eval(), relocate(Path(config.out_dir) / "train_eps")
    model = load_video_model(checkpoint)
    return model.eval(), relocate(model.config.data_dir)


def pretrained_checkpoint(args) -> Path:
    """``--checkpoint`` or the scale's teacher of ``--source``; a clear error when it is missing."""
    teacher = video_model_folder(args.scale, args.source, "beta_vae", PretrainConfig.beta, PretrainConfig.z_dim,
                                 "dreamerv2_replay", seed=0)
    checkpoint = Path(args.checkpoint or teacher / "latest.pt")
    if not checkpoint.is_file():
        raise FileNotFoundError(f"no checkpoint {checkpoint}; run `diswm pretrain with {args.source} {args.scale}`")
    return checkpoint


def main(argv: list[str] | None = None) -> list[Path]:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--scale", default="smoke")
    parser.add_argument("--source", default="finger_spin")
    parser.add_argument("--checkpoint", help="latest.pt (default: the scale's pretrained teacher of --source)")
    parser.add_argument("--frame", type=int, default=-1, help="frame of the first episode")
    parser.add_argument("--out", default=str(figures_dir()))
    args = parser.parse_args(argv)
    checkpoint = pretrained_checkpoint(args)
    model, frames = load_model(checkpoint)
    if getattr(model.config, "image_model", "beta_vae") != "beta_vae":
        raise ValueError(f"{checkpoint}: traversals need the β-VAE image model")
    frame = EpisodeReplay.from_directory(frames, limit=1).episode(0)["image"][args.frame]
    grid = traversal_grid(model, frame)
    stage = "finetuned" if "finetune" in str(checkpoint) else "pretrained"
    figure, ax = plt.subplots(figsize=(len(OFFSETS) * 0.55 + 1, grid.shape[0] / grid.shape[1] * len(OFFSETS) * 0.55))
    ax.imshow(grid)
    size = grid.shape[1] // len(OFFSETS)
    ax.set_xticks([size * (i + 0.5) for i in range(len(OFFSETS))], [f"{v:+g}" for v in OFFSETS], fontsize=6)
    ax.set_yticks([size * (i + 0.5) for i in range(grid.shape[0] // size)],
                  [f"z{i}" for i in range(grid.shape[0] // size)], fontsize=6)
    ax.set_title(f"Latent traversals, {stage} ({checkpoint.parent.name})", fontsize=8)
    stem = "fig6_traversals_finetuned" if stage == "finetuned" else "fig5_traversals_pretrained"
    return save(figure, args.out, f"{stem}_{args.scale}")


if __name__ == "__main__":
    for path in main():
        print(path)
