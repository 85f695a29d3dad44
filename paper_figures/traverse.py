"""Latent traversals (official ``WorldModel.traverse``): shift one β-VAE latent of a frame's embedding
by each offset, filter it through the RSSM for a single step from the zero state, and decode.
Rows are latent dimensions, columns offsets (official: -9..9 in steps of 3).
"""

from __future__ import annotations

import numpy as np
import torch

from diswm.models import RSSM
from diswm.models.images import image_tensor

OFFSETS = tuple(float(v) for v in np.arange(-9, 9.1, 3))


@torch.no_grad()
def traversal_grid(model, frame: np.ndarray, offsets=OFFSETS) -> np.ndarray:
    """``model`` has a β-VAE ``encoder``, an ``rssm`` and a ``decoder``; ``frame`` uint8 [H, W, 3].

    Returns uint8 [z_dim * H, len(offsets) * W, 3].
    """
    sample = model.encoder(image_tensor(frame[None]))[2]  # [1, z] (the official code traverses a sample)
    z_dim = sample.shape[-1]
    shifts = torch.tensor(offsets, dtype=sample.dtype)
    codes = sample.repeat(z_dim * len(offsets), 1)
    rows = torch.arange(z_dim).repeat_interleave(len(offsets))
    codes[torch.arange(len(codes)), rows] += shifts.repeat(z_dim)
    post, _ = model.rssm.observe(codes[:, None], None, sample=False)
    images = (model.decoder(RSSM.feature(post))[:, 0] + 0.5).clamp(0, 1)  # [z * O, 3, H, W]
    height, width = images.shape[-2:]
    grid = images.reshape(z_dim, len(offsets), 3, height, width).permute(0, 3, 1, 4, 2)
    return (grid.reshape(z_dim * height, len(offsets) * width, 3).numpy() * 255).round().astype(np.uint8)
