"""Recurrent state-space model with a continuous Gaussian stochastic state (DreamerV2 / dreamer-torch).

State: ``deter`` (GRU, 200), ``stoch`` (Gaussian sample, 50) with its ``mean`` and ``std``; the feature
is ``[stoch, deter]``. The prior is ``p(z_t | h_t)``, the posterior ``q(z_t | h_t, e_t)`` where ``e_t`` is
the image embedding. With ``num_actions=0`` (or zero actions) it is the action-free model of the
pretraining stage (official ``observe_action_free``: zero actions, mean instead of samples). Actions with
fewer entries than ``num_actions`` are zero-padded (a target task smaller than the pretrained source).

Reference: Hafner et al., "Mastering Atari with Discrete World Models" (DreamerV2), ICLR 2021.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from diswm.models import noise
from diswm.scales import NETS

State = dict[str, torch.Tensor]


class LayerNormGRUCell(nn.Module):
    """dreamer-torch's GRU: one Linear over [input, state] -> LayerNorm -> reset/candidate/update.

    ``update_bias=-1`` biases the cell towards keeping its state; the candidate uses tanh.
    """

    def __init__(self, input_size: int, size: int, norm: bool = True, update_bias: float = -1.0):
        super().__init__()
        self.size = size
        self.linear = nn.Linear(input_size + size, 3 * size)
        self.norm = nn.LayerNorm(3 * size) if norm else nn.Identity()
        self.update_bias = update_bias

    def forward(self, inputs: torch.Tensor, state: torch.Tensor) -> torch.Tensor:
        parts = self.norm(self.linear(torch.cat([inputs, state], -1)))
        reset, candidate, update = parts.split(self.size, -1)
        candidate = torch.tanh(torch.sigmoid(reset) * candidate)
        update = torch.sigmoid(update + self.update_bias)
        return update * candidate + (1 - update) * state


@dataclass(frozen=True)
class RSSMConfig:
    stoch: int = NETS["paper"].stoch  # the sizes default to the paper's (diswm.scales)
    deter: int = NETS["paper"].deter
    hidden: int = NETS["paper"].hidden
    embed: int = 20  # the image model's embedding size (world and video models set it from theirs)
    num_actions: int = 6
    layer_norm: bool = True  # "gru_layer_norm" (DMC, Pusher configs) vs plain "gru" (metaworld config)
    min_std: float = 0.1


class RSSM(nn.Module):
    """Continuous RSSM. Shapes: embeddings [B, T, embed], actions [B, T, A] (action t led to frame t)."""

    def __init__(self, config: RSSMConfig):
        super().__init__()
        c = config
        self.config = c
        self.img_in = nn.Linear(c.stoch + c.num_actions, c.hidden)
        self.cell = LayerNormGRUCell(c.hidden, c.deter, norm=c.layer_norm)
        self.img_out = nn.Linear(c.deter, c.hidden)
        self.prior_stats = nn.Linear(c.hidden, 2 * c.stoch)
        self.obs_out = nn.Linear(c.deter + c.embed, c.hidden)
        self.post_stats = nn.Linear(c.hidden, 2 * c.stoch)

    def compile_steps(self, **options) -> None:
        """``torch.compile`` the per-step functions (prior step, posterior), which fuses their elementwise
        ops into a few kernels: on a GPU the step loops are bound by kernel launches. ``options`` go to
        ``torch.compile`` (e.g. ``backend="aot_eager"``). Parameters and state dict are unchanged."""
        self.img_step = torch.compile(self.img_step, dynamic=False, **options)
        self._posterior = torch.compile(self._posterior, dynamic=False, **options)

    @property
    def feat_size(self) -> int:
        return self.config.stoch + self.config.deter

    def initial(self, batch: int, device=None, dtype=torch.float32) -> State:
        c = self.config
        zeros = lambda n: torch.zeros(batch, n, device=device, dtype=dtype)  # noqa: E731
        return {"mean": zeros(c.stoch), "std": zeros(c.stoch), "stoch": zeros(c.stoch), "deter": zeros(c.deter)}

    @staticmethod
    def feature(state: State) -> torch.Tensor:
        return torch.cat([state["stoch"], state["deter"]], -1)

    def _stats(self, layer: nn.Linear, x: torch.Tensor, sample: bool) -> State:
        mean, std = layer(x).chunk(2, -1)
        std = 2 * torch.sigmoid(std / 2) + self.config.min_std  # "sigmoid2"
        stoch = mean + std * noise.randn_like(mean) if sample else mean
        return {"mean": mean, "std": std, "stoch": stoch}

    def img_step(self, state: State, action: torch.Tensor | None, sample: bool = True) -> State:
        """Prior step: ``h_t = f(h_{t-1}, z_{t-1}, a_{t-1})``, ``z_t ~ p(z_t | h_t)``."""
        inputs = state["stoch"]
        if self.config.num_actions:
            if action is None:  # action-free use (pretraining): zero actions, as the official `fill_zero_action`
                action = inputs.new_zeros(*inputs.shape[:-1], self.config.num_actions)
            elif action.shape[-1] < self.config.num_actions:  # a smaller action space, zero-padded (DV2 Finetune)
                action = F.pad(action, (0, self.config.num_actions - action.shape[-1]))
            inputs = torch.cat([inputs, action], -1)
        deter = self.cell(F.elu(self.img_in(inputs), inplace=True), state["deter"])
        prior = self._stats(self.prior_stats, F.elu(self.img_out(deter), inplace=True), sample)
        prior["deter"] = deter
        return prior

    def _posterior(self, deter: torch.Tensor, embed_part: torch.Tensor, sample: bool) -> State:
        # obs_out(cat[deter, embed]) split into a deter part and a precomputed embed part (same weights).
        weight = self.obs_out.weight[:, : self.config.deter]
        post = self._stats(self.post_stats, F.elu(F.linear(deter, weight) + embed_part, inplace=True), sample)
        post["deter"] = deter
        return post

    def _embed_part(self, embed: torch.Tensor) -> torch.Tensor:
        return F.linear(embed, self.obs_out.weight[:, self.config.deter :], self.obs_out.bias)

    def obs_step(self, state: State, action: torch.Tensor | None, embed: torch.Tensor,
                 sample: bool = True) -> tuple[State, State]:
        """One filtering step: returns ``(posterior, prior)``."""
        prior = self.img_step(state, action, sample)
        return self._posterior(prior["deter"], self._embed_part(embed), sample), prior

    def observe(self, embed: torch.Tensor, action: torch.Tensor | None, state: State | None = None,
                sample: bool = True) -> tuple[State, State]:
        """Filter a batch of sequences; returns stacked ``(posterior, prior)`` states, each [B, T, ...]."""
        batch, steps = embed.shape[:2]
        state = state or self.initial(batch, embed.device, embed.dtype)
        embed_parts = self._embed_part(embed)
        posts, priors = [], []
        for t in range(steps):
            prior = self.img_step(state, None if action is None else action[:, t], sample)
            state = self._posterior(prior["deter"], embed_parts[:, t], sample)
            posts.append(state)
            priors.append(prior)
        stack = lambda states: {k: torch.stack([s[k] for s in states], 1) for k in states[0]}  # noqa: E731
        return stack(posts), stack(priors)

    def kl_loss(self, post: State, prior: State, balance: float = 0.8,
                free: float = 1.0) -> tuple[torch.Tensor, torch.Tensor]:
        """DreamerV2 KL balancing with free nats on the batch mean (``kl_forward=False``), unweighted (its
        scale, α or β1, is applied with the other terms' scales: :func:`diswm.agents.losses.weighted_sum`).

        ``loss = balance * max(mean KL(sg(q) || p), free) + (1 - balance) * max(mean KL(q || sg(p)), free)``.
        Returns ``(loss, KL(q || p) per step [B, T])``.
        """
        value = gaussian_kl(post["mean"], post["std"], prior["mean"], prior["std"])
        to_prior = gaussian_kl(post["mean"].detach(), post["std"].detach(), prior["mean"], prior["std"])
        to_post = gaussian_kl(post["mean"], post["std"], prior["mean"].detach(), prior["std"].detach())
        free_t = torch.full((), free, device=value.device, dtype=value.dtype)  # no host copy (CUDA graphs)
        loss = balance * torch.maximum(to_prior.mean(), free_t) + (1 - balance) * torch.maximum(to_post.mean(), free_t)
        return loss, value


def gaussian_kl(mean_p, std_p, mean_q, std_q) -> torch.Tensor:
    """KL(N(mean_p, std_p) || N(mean_q, std_q)) for diagonal Gaussians, summed over the last axis."""
    var_ratio = (std_p / std_q).pow(2)
    mahalanobis = ((mean_p - mean_q) / std_q).pow(2)
    return 0.5 * (var_ratio + mahalanobis - 1 - var_ratio.log()).sum(-1)
