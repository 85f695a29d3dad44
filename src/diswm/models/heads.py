"""MLP heads: reward / value (Normal with unit std) and the actor (dreamer-torch "trunc_normal")."""

from __future__ import annotations

import torch
from torch import distributions as td
from torch import nn


def mlp(inp: int, units: int, layers: int, out: int) -> nn.Sequential:
    """``layers`` x (Linear + ELU) of width ``units``, then a linear output of size ``out``."""
    modules: list[nn.Module] = []
    for _ in range(layers):
        modules += [nn.Linear(inp, units), nn.ELU(inplace=True)]
        inp = units
    modules.append(nn.Linear(inp, out))
    return nn.Sequential(*modules)


class ScalarHead(nn.Module):
    """Predicts the mean of a unit-variance Normal over a scalar (reward, value); dreamer-torch DenseHead."""

    def __init__(self, feat_size: int, layers: int, units: int = 400):
        super().__init__()
        self.net = mlp(feat_size, units, layers, 1)

    def forward(self, feat: torch.Tensor) -> torch.Tensor:
        return self.net(feat).squeeze(-1)

    @staticmethod
    def nll(mean: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """-log N(target; mean, 1), elementwise (with the constant, as the official log_prob)."""
        return 0.5 * (target - mean).pow(2) + 0.5 * torch.log(torch.tensor(2 * torch.pi))


class Actor(nn.Module):
    """dreamer-torch ``ActionHead(dist='trunc_normal')``: mean = tanh(x), std = 2 sigmoid(x / 2) + min_std.

    dreamer-torch wraps ``SafeTruncatedNormal`` in ``ContDist``, whose ``sample`` is the base Normal's
    ``rsample`` and whose ``entropy``/``log_prob`` are the Normal's: the truncation never applies. We
    build that effective distribution directly (an Independent Normal); ``mode`` is tanh(mean).
    """

    def __init__(self, feat_size: int, num_actions: int, layers: int = 4, units: int = 400, min_std: float = 0.1):
        super().__init__()
        self.net = mlp(feat_size, units, layers, 2 * num_actions)
        self.min_std = min_std

    def forward(self, feat: torch.Tensor) -> td.Independent:
        mean, std = self.net(feat).chunk(2, -1)
        mean = torch.tanh(mean)
        std = 2 * torch.sigmoid(std / 2) + self.min_std
        # No argument validation: it would read a flag back from the GPU (a sync) on every call.
        return td.Independent(td.Normal(mean, std, validate_args=False), 1, validate_args=False)
