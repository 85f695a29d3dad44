"""APV's video-based intrinsic bonus (Seo et al., "Reinforcement Learning with Action-Free Pre-Training
from Videos", ICML 2022), as configured in the official DisWM code's APV mode.

The action-free model's features are averaged over ``window`` steps and randomly projected to ``dim``
dimensions; the bonus is the distance to the ``k``-th nearest neighbour among a FIFO queue of past
projections (plus the current batch), normalised by a running mean magnitude (dreamerv2's StreamNorm).
"""

from __future__ import annotations

import torch
from torch import nn


class VideoIntrinsicBonus(nn.Module):
    def __init__(self, feat_size: int, dim: int = 128, k: int = 16, window: int = 5, queue_size: int = 4096,
                 momentum: float = 0.99, eps: float = 1e-8):
        super().__init__()
        self.k, self.window, self.momentum, self.eps = k, window, momentum, eps
        self.register_buffer("projection", torch.randn(feat_size, dim) / dim**0.5)
        self.register_buffer("queue", torch.zeros(queue_size, dim))
        self.register_buffer("filled", torch.zeros((), dtype=torch.long))
        self.register_buffer("cursor", torch.zeros((), dtype=torch.long))
        self.register_buffer("magnitude", torch.ones((), dtype=torch.float64))

    @torch.no_grad()
    def forward(self, feat: torch.Tensor) -> torch.Tensor:
        """``feat`` [B, T, F] -> normalised bonus [B, T - window + 1]; updates the queue and the norm."""
        windows = feat.unfold(1, self.window, 1).mean(-1)  # [B, T', F]
        projected = windows @ self.projection
        flat = projected.reshape(-1, projected.shape[-1])
        keys = torch.cat([self.queue[: int(self.filled)], flat])
        distances = torch.cdist(flat, keys)
        bonus = distances.kthvalue(min(self.k, len(keys)), dim=-1).values.reshape(projected.shape[:2])
        self._enqueue(flat)
        self.magnitude.mul_(self.momentum).add_((1 - self.momentum) * bonus.abs().mean().double())
        return bonus / (self.magnitude.to(bonus.dtype) + self.eps)

    def _enqueue(self, values: torch.Tensor) -> None:
        size = len(self.queue)
        values = values[-size:]
        positions = (self.cursor + torch.arange(len(values), device=values.device)) % size
        self.queue[positions] = values
        self.cursor.copy_((self.cursor + len(values)) % size)
        self.filled.copy_(torch.clamp(self.filled + len(values), max=size))
