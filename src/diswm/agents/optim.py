"""Adam with gradient-norm clipping, as dreamer-torch's ``tools.Optimizer`` (eps 1e-5, clip 100, no decay)."""

from __future__ import annotations

import torch
from torch import nn


class ClippedAdam:
    def __init__(self, parameters, lr: float, eps: float = 1e-5, clip: float = 100.0):
        self.parameters = [p for p in parameters]
        # One fused kernel per step on CUDA (same update rule; CPU keeps the reference implementation).
        fused = bool(self.parameters) and all(p.is_cuda for p in self.parameters)
        self.optimizer = torch.optim.Adam(self.parameters, lr=lr, eps=eps, fused=fused or None)
        self.clip = clip

    def step(self, loss: torch.Tensor) -> float:
        """Backpropagate ``loss``, clip, step; return the gradient norm before clipping."""
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        norm = nn.utils.clip_grad_norm_(self.parameters, self.clip)
        self.optimizer.step()
        return float(norm)

    def state_dict(self) -> dict:
        return self.optimizer.state_dict()

    def load_state_dict(self, state: dict) -> None:
        self.optimizer.load_state_dict(state)
