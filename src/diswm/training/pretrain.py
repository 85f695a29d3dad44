"""Stage 1's loop: the video model (:mod:`diswm.agents.video_model`) trained on distracting videos (DisWM
§3.2; released ``pretrain.py``): batches from the episodes, Adam with clipping, resumable checkpoints in the
released layout (``<updates>/{encoder,decoder,rssm}.pt``) and a ``latest.pt``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np
import torch

from diswm.agents.video_model import PretrainConfig, VideoModel
from diswm.checkpoint import (
    CheckpointError,
    config_differences,
    load_checkpoint,
    restore_rng_state,
    rng_state,
    save_checkpoint,
)
from diswm.config_io import dataclass_from_dict
from diswm.data import EpisodeReplay
from diswm.training.optim import ClippedAdam

#: called after each checkpoint with its folder, the model and the videos (the experiment draws a prediction)
OnCheckpoint = Callable[[Path, VideoModel, EpisodeReplay], None]


def pretrain(config: PretrainConfig, on_log: Callable[[int, dict[str, float]], None] | None = None,
             progress: bool = True, stop_after: int | None = None,
             on_checkpoint: OnCheckpoint | None = None) -> dict[str, Any]:
    """Train (or resume) the video model; checkpoints in ``out_dir``. ``stop_after`` simulates an interrupt;
    ``on_checkpoint`` runs after each checkpoint (it must leave the training RNGs untouched)."""
    config.validate()
    out = Path(config.out_dir)
    replay = EpisodeReplay.from_directory(config.data_dir)
    if len(replay) == 0:
        raise ValueError(f"no episodes in {config.data_dir}; collect videos first (`diswm collect ...`)")
    for index, name in enumerate(replay.names):  # the encoders take 64 x 64 frames (paper §4, official size 64)
        height, width = replay.episode(index)["image"].shape[1:3]
        if (height, width) != (64, 64):
            raise ValueError(f"{Path(config.data_dir) / name}: frames are {height}x{width}, the video model takes "
                             "64x64; collect with size=64")
    torch.manual_seed(config.seed)
    generator = np.random.default_rng(config.seed)
    device = torch.device(config.device)
    model = VideoModel(config).to(device)
    if config.compile:
        model.rssm.compile_steps()
    optimizer = ClippedAdam(model.parameters(), config.lr, config.eps, config.grad_clip)
    start = 0
    latest = out / "latest.pt"
    if latest.exists():
        state = load_checkpoint(latest)
        differences = config_differences(state["config"], asdict(config))
        if any(d.startswith("dataset_sha256") for d in differences):
            raise ValueError(f"the videos in {config.data_dir} changed since {latest} was trained on them (their "
                             f"manifest's sha256 differs); move {out} away to pretrain on the new videos")
        if differences:
            raise ValueError(f"{latest} belongs to a run with other settings ({'; '.join(differences)}); "
                             "use another out_dir")
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        restore_rng_state(state["rng"], generator)
        start = state["updates"]
    iterator = range(start, config.updates)
    if progress:
        from tqdm import tqdm

        iterator = tqdm(iterator, initial=start, total=config.updates, desc="pretrain", unit="update")
    metrics: dict[str, float] = {}
    done = start
    for update in iterator:
        images = torch.as_tensor(replay.sample(config.batch_size, config.length, generator, keys=["image"])["image"],
                                 device=device)
        total, terms = model.loss(images)
        grad_norm = optimizer.step(total)
        metrics = {k: float(v.detach()) for k, v in terms.items()} | {"model_grad_norm": grad_norm}
        done = update + 1
        if on_log is not None:
            on_log(done, metrics)
        if done % config.checkpoint_every == 0 or done == config.updates:
            _save(out, model, optimizer, generator, config, done)
            if on_checkpoint is not None:
                on_checkpoint(out / str(done), model, replay)
        if stop_after is not None and done >= stop_after:
            break
    return {"updates": done, "metrics": metrics, "out_dir": str(out), "encoder": str(out / "encoder.pt")}


def load_video_model(checkpoint: Path | str, device: torch.device | str = "cpu") -> VideoModel:
    """The video model of a pretraining ``latest.pt`` (its settings are in the checkpoint), for drawing."""
    state = load_checkpoint(checkpoint)
    if not {"config", "model", "updates"} <= set(state):
        raise CheckpointError(f"{checkpoint} is not a pretraining checkpoint (keys: {sorted(state)[:6]})")
    model = VideoModel(dataclass_from_dict(PretrainConfig, state["config"]))
    model.load_state_dict(state["model"])
    return model.to(device)


def _save(out: Path, model: VideoModel, optimizer: ClippedAdam, generator, config: PretrainConfig,
          updates: int) -> None:
    """``<updates>/{encoder,decoder,rssm}.pt`` (official layout; at the end also in ``out_dir`` itself)
    plus a resumable ``latest.pt``."""
    folders = [out / str(updates)] + ([out] if updates == config.updates else [])
    for folder in folders:
        for name in ("encoder", "decoder", "rssm"):
            save_checkpoint(folder / f"{name}.pt", getattr(model, name).state_dict())
    save_checkpoint(out / "latest.pt", {
        "config": asdict(config), "updates": updates, "model": model.state_dict(),
        "optimizer": optimizer.state_dict(), "rng": rng_state(generator),
    })
