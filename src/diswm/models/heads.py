"""MLP heads: reward / value (Normal with unit std) and the actor ("trunc_normal" of DreamerV2, or the
untruncated Normal that dreamer-torch's "trunc_normal" actually samples)."""

from __future__ import annotations

import math

import torch
from torch import distributions as td
from torch import nn

from diswm.models import noise

_LOG_SQRT_2PI = 0.5 * math.log(2 * math.pi)


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
        return 0.5 * (target - mean).pow(2) + _LOG_SQRT_2PI


ACTOR_DISTS = ("trunc_normal", "normal")


class TruncatedNormal(td.Distribution):
    """Normal(loc, scale) truncated to [low, high], as DreamerV2's ``TruncNormalDist``.

    ``rsample`` inverts the CDF of a uniform draw (reparameterised) and keeps samples ``clip`` inside
    the bounds with a straight-through gradient, as DreamerV2; ``entropy`` and ``log_prob`` are the
    truncated distribution's; ``mode`` is ``loc`` clipped to the bounds.
    """

    arg_constraints: dict = {}
    has_rsample = True

    def __init__(self, loc: torch.Tensor, scale: torch.Tensor, low: float = -1.0, high: float = 1.0,
                 clip: float = 1e-6):
        # at least fp32 whatever the actor's arithmetic (bf16 autocast has no ndtri): the distribution's own math
        loc, scale = (t.float() if t.dtype in (torch.bfloat16, torch.float16) else t for t in (loc, scale))
        self.loc, self.scale = torch.broadcast_tensors(loc, scale)
        self.low, self.high, self.clip = low, high, clip
        self._alpha = (low - self.loc) / self.scale
        self._beta = (high - self.loc) / self.scale
        self._cdf_alpha = torch.special.ndtr(self._alpha)
        self._mass = (torch.special.ndtr(self._beta) - self._cdf_alpha).clamp_min(1e-8)
        super().__init__(self.loc.shape, validate_args=False)

    @property
    def mode(self) -> torch.Tensor:
        return self.loc.clamp(self.low, self.high)

    @property
    def mean(self) -> torch.Tensor:
        return self.loc + self.scale * (_pdf(self._alpha) - _pdf(self._beta)) / self._mass

    def rsample(self, sample_shape: torch.Size | tuple = ()) -> torch.Tensor:
        shape = self._extended_shape(sample_shape)
        uniform = noise.rand(shape, dtype=self.loc.dtype, device=self.loc.device)
        tiny = torch.finfo(self.loc.dtype).eps
        prob = (self._cdf_alpha + uniform * self._mass).clamp(tiny, 1 - tiny)
        event = self.loc + self.scale * torch.special.ndtri(prob)
        clipped = event.clamp(self.low + self.clip, self.high - self.clip)
        return event + (clipped - event).detach()

    def log_prob(self, value: torch.Tensor) -> torch.Tensor:
        z = (value - self.loc) / self.scale
        return -0.5 * z.pow(2) - _LOG_SQRT_2PI - self.scale.log() - self._mass.log()

    def entropy(self) -> torch.Tensor:
        alpha_term = self._alpha * _pdf(self._alpha)
        beta_term = self._beta * _pdf(self._beta)
        return (_LOG_SQRT_2PI + 0.5 + self.scale.log() + self._mass.log()
                + (alpha_term - beta_term) / (2 * self._mass))


def _pdf(x: torch.Tensor) -> torch.Tensor:
    return torch.exp(-0.5 * x.pow(2) - _LOG_SQRT_2PI)


class Actor(nn.Module):
    """The continuous actor: mean = tanh(x), std = 2 sigmoid(x / 2) + min_std, and one of two distributions.

    * ``trunc_normal`` (DreamerV2): a Normal truncated to [-1, 1] (:class:`TruncatedNormal`), so the
      imagined actions stay inside the range the environment accepts.
    * ``normal`` (the released code): dreamer-torch wraps ``SafeTruncatedNormal`` in ``ContDist``, whose
      ``sample`` is the base Normal's ``rsample`` and whose ``entropy``/``log_prob`` are the Normal's: the
      truncation never applies, and imagined actions reach well beyond [-1, 1]. We build that effective
      distribution directly (an Independent Normal).

    Both have ``mode`` = tanh(mean), the evaluation action.
    """

    def __init__(self, feat_size: int, num_actions: int, layers: int = 4, units: int = 400, min_std: float = 0.1,
                 dist: str = "trunc_normal"):
        super().__init__()
        if dist not in ACTOR_DISTS:
            raise ValueError(f"actor dist must be one of {ACTOR_DISTS}, got {dist!r}")
        self.net = mlp(feat_size, units, layers, 2 * num_actions)
        self.min_std = min_std
        self.dist = dist

    def forward(self, feat: torch.Tensor) -> td.Independent:
        mean, std = self.net(feat).chunk(2, -1)
        mean = torch.tanh(mean)
        std = 2 * torch.sigmoid(std / 2) + self.min_std
        if self.dist == "trunc_normal":
            return td.Independent(TruncatedNormal(mean, std), 1, validate_args=False)
        # No argument validation: it would read a flag back from the GPU (a sync) on every call.
        return td.Independent(td.Normal(mean, std, validate_args=False), 1, validate_args=False)
