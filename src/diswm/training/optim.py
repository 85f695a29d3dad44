"""Adam with gradient-norm clipping, as dreamer-torch's ``tools.Optimizer`` (eps 1e-5, clip 100, no decay)."""

from __future__ import annotations

import torch
from torch import nn


class ClippedAdam:
    def __init__(self, parameters, lr: float, eps: float = 1e-5, clip: float = 100.0, capturable: bool = False):
        self.parameters = [p for p in parameters]
        on_cuda = bool(self.parameters) and all(p.is_cuda for p in self.parameters)
        if capturable:  # state on the device, no host reads: the step can be captured in a CUDA graph
            self.optimizer = torch.optim.Adam(self.parameters, lr=lr, eps=eps, capturable=True)
        else:  # one fused kernel per step on CUDA (same update rule; CPU keeps the reference implementation)
            self.optimizer = torch.optim.Adam(self.parameters, lr=lr, eps=eps, fused=on_cuda or None)
        self.clip = clip

    def step(self, loss: torch.Tensor) -> float:
        """Backpropagate ``loss``, clip, step; return the gradient norm before clipping."""
        return float(self.step_tensor(loss))

    def step_tensor(self, loss: torch.Tensor) -> torch.Tensor:
        """:meth:`step` without reading the norm back (no host synchronisation)."""
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        norm = nn.utils.clip_grad_norm_(self.parameters, self.clip)
        self.optimizer.step()
        return norm

    def state_dict(self) -> dict:
        return self.optimizer.state_dict()

    def load_state_dict(self, state: dict) -> None:
        self.optimizer.load_state_dict(state)
