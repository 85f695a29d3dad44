"""Reconstruction and open-loop video prediction strips (official ``video_pred``): the posterior filters
``context`` frames, then the prior imagines the rest from the last posterior state (with the true
actions, or zero actions for the action-free video model). Rows: truth, model, (model - truth + 1) / 2.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

from diswm.atomic import atomic_writer
from diswm.data import EpisodeReplay
from diswm.models import RSSM
from diswm.models.images import image_tensor


@torch.no_grad()
def open_loop_strip(embed: Callable[[torch.Tensor], torch.Tensor], rssm: RSSM,
                    decode: Callable[[torch.Tensor], torch.Tensor], images: torch.Tensor,
                    actions: torch.Tensor | None, context: int = 5, sample: bool = True) -> np.ndarray:
    """``images`` float [B, T, 3, H, W] in [-0.5, 0.5] -> uint8 grid [3 B H, T W, 3]."""
    batch, steps = images.shape[:2]
    context = min(context, steps - 1)
    post, _ = rssm.observe(embed(images[:, :context]), None if actions is None else actions[:, :context],
                           sample=sample)
    state = {k: v[:, -1] for k, v in post.items()}
    imagined = []
    for t in range(context, steps):
        state = rssm.img_step(state, None if actions is None else actions[:, t], sample=sample)
        imagined.append(RSSM.feature(state))
    feats = torch.cat([RSSM.feature(post), torch.stack(imagined, 1)], 1)
    model = (decode(feats) + 0.5).clamp(0, 1)
    truth = images + 0.5
    error = (model - truth + 1) / 2
    rows = torch.stack([truth, model, error], 1)  # [B, 3, T, C, H, W]
    grid = rows.permute(0, 1, 4, 2, 5, 3).reshape(batch * 3 * images.shape[-2], steps * images.shape[-1], 3)
    return (grid.cpu().numpy() * 255).round().astype(np.uint8)


def save_png(path: Path | str, grid: np.ndarray) -> None:
    import imageio.v3 as iio

    with atomic_writer(path) as handle:
        iio.imwrite(handle, grid, extension=".png")


def save_prediction(folder: Path, model, replay: EpisodeReplay) -> None:
    """``folder/openl.png``: the video model's open-loop prediction of up to 4 sequences drawn from a fixed
    stream (the training RNGs are left untouched); pretraining calls it after each checkpoint."""
    length = min(model.config.length, min(len(replay.episode(i)["image"]) for i in range(len(replay))))
    images = replay.sample(min(4, len(replay)), length, np.random.default_rng(0), keys=["image"])["image"]
    torch_state = torch.get_rng_state()
    device = next(model.parameters()).device
    try:
        images = image_tensor(torch.as_tensor(images, device=device))
        grid = open_loop_strip(model.embed, model.rssm, model.decoder, images, None, sample=False)
    finally:
        torch.set_rng_state(torch_state)
    save_png(Path(folder) / "openl.png", grid)
