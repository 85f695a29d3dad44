"""The networks' image convention, shared by the encoders' callers, the losses and the metrics."""

from __future__ import annotations

import numpy as np
import torch


def image_tensor(images: np.ndarray | torch.Tensor, device=None) -> torch.Tensor:
    """uint8 [..., H, W, 3] -> float [..., 3, H, W] in [-0.5, 0.5]: the released code's preprocessing,
    ``image / 255 - 0.5`` (``models.py``, ``WorldModel.preprocess``)."""
    x = torch.as_tensor(images, device=device)
    return x.movedim(-1, -3).float().div_(255.0).sub_(0.5)
