"""APV's video-based intrinsic bonus (Seo et al., "Reinforcement Learning with Action-Free Pre-Training
from Videos", ICML 2022), as the released DisWM code computes it in its APV mode
(``exploration.VideoIntrBonus.compute_bonus``).

The action-free model's features are averaged over ``window`` steps and projected to ``dim`` dimensions
by a fixed random matrix (entries N(0, (1 / dim)^2), the released scale). The batch's projections enter the
front of a queue of ``queue_size`` entries first (the others move back; the last ones drop out); the
bonus of each is the mean distance to its ``k`` nearest entries of the queue (itself included, at
distance 0), normalised by a running mean magnitude (DreamerV2's ``StreamNorm``: momentum 0.99, eps 1e-8).
"""

from __future__ import annotations

import torch
from torch import nn


class VideoIntrinsicBonus(nn.Module):
    def __init__(self, feat_size: int, dim: int = 128, k: int = 16, window: int = 5, queue_size: int = 4096,
                 momentum: float = 0.99, eps: float = 1e-8):
        super().__init__()
        self.k, self.window, self.momentum, self.eps = k, window, momentum, eps
        self.register_buffer("projection", torch.randn(feat_size, dim) / dim)
        self.register_buffer("queue", torch.zeros(queue_size, dim))
        self.register_buffer("filled", torch.zeros((), dtype=torch.long))
        self.register_buffer("magnitude", torch.ones((), dtype=torch.float64))

    @torch.no_grad()
    def forward(self, feat: torch.Tensor) -> torch.Tensor:
        """``feat`` [B, T, F] -> normalised bonus [B, T - window + 1]; updates the queue and the norm."""
        windows = feat.unfold(1, self.window, 1).mean(-1)  # [B, T', F]
        projected = windows @ self.projection
        flat = projected.reshape(-1, projected.shape[-1])
        self._enqueue(flat)  # as released: the batch joins the queue before the distances are taken
        keys = self.queue[: int(self.filled)]
        distances = torch.cdist(flat, keys, compute_mode="donot_use_mm_for_euclid_dist")
        nearest = distances.topk(min(self.k, len(keys)), dim=-1, largest=False).values
        bonus = nearest.mean(-1).reshape(projected.shape[:2])
        self.magnitude.mul_(self.momentum).add_((1 - self.momentum) * bonus.abs().mean().double())
        return bonus / (self.magnitude.to(bonus.dtype) + self.eps)

    def _enqueue(self, values: torch.Tensor) -> None:
        """The released queue: the batch goes to the front and everything else moves back by its size (the
        oldest entries, at the back, drop out)."""
        size = len(self.queue)
        values = values[:size]
        count = len(values)
        self.queue[count:] = self.queue[: size - count].clone()
        self.queue[:count] = values
        self.filled.copy_(torch.clamp(self.filled + count, max=size))
