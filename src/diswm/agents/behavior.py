"""Behaviour learning in imagination, as DreamerV2 / dreamer-torch (``models.ImagBehavior``).

From every posterior state of the world-model batch (B x T starts, detached), imagine ``horizon``
states with the actor (``feats[0]`` is the start). Rewards are the reward head's mean; discount is a
constant γ (no discount head). Targets are λ-returns bootstrapped from a slow critic that is
hard-copied every ``slow_update`` updates. The actor maximises the targets by back-propagating
through the (frozen) dynamics, plus ``entropy`` x policy entropy; the critic regresses the targets.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass

import torch
from torch import nn

from diswm.models import ACTOR_DISTS, RSSM, Actor, ScalarHead
from diswm.scales import NETS

#: ``forward``: the λ-return of imagined step t is the target of step t (DreamerV2). ``reversed``: the released
#: code's order, in which target t is the λ-return of step H - 2 - t (see :func:`lambda_return`).
LAMBDA_ORDERS = ("forward", "reversed")


@dataclass(frozen=True)
class BehaviorConfig:
    horizon: int = NETS["paper"].horizon  # the sizes default to the paper's (diswm.scales)
    discount: float = 0.99
    lambda_: float = 0.95
    actor_layers: int = NETS["paper"].actor_layers
    critic_layers: int = NETS["paper"].critic_layers
    units: int = NETS["paper"].units
    actor_lr: float = 8e-5
    critic_lr: float = 8e-5
    eps: float = 1e-5
    grad_clip: float = 100.0
    entropy: float = 1e-4
    slow_update: int = 100  # hard copy of the critic every N updates (slow_target_fraction = 1)
    actor_dist: str = "trunc_normal"  # trunc_normal (DreamerV2) | normal (the released code; see Actor)
    lambda_order: str = "forward"  # forward (DreamerV2) | reversed (the released code; see lambda_return)

    def __post_init__(self) -> None:
        if self.entropy < 0:
            raise ValueError(f"entropy (the actor's entropy weight) must be >= 0, got {self.entropy}")
        if self.actor_dist not in ACTOR_DISTS:
            raise ValueError(f"actor_dist must be one of {ACTOR_DISTS}, got {self.actor_dist!r}")
        if self.lambda_order not in LAMBDA_ORDERS:
            raise ValueError(f"lambda_order must be one of {LAMBDA_ORDERS}, got {self.lambda_order!r}")


def lambda_return(reward, value, discount, bootstrap, lambda_: float, order: str = "forward") -> torch.Tensor:
    """λ-returns along axis 0 (DreamerV2, paper Supp. B): R_t = r_t + γ_t ((1 - λ) v_{t+1} + λ R_{t+1}).

    ``order="reversed"`` returns them in the order the released code uses: its
    ``tools.static_scan_for_lambda_return`` collects the returns from the last step backwards and never
    flips them, and ``models.ImagBehavior`` stacks them along time, so its target at step t is R_{H-2-t}
    (the critic at step t regresses onto the return of step H - 2 - t, and the actor pairs step t's
    discount weight with it).
    """
    next_values = torch.cat([value[1:], bootstrap[None]], 0)
    inputs = reward + discount * next_values * (1 - lambda_)
    returns, last = [], bootstrap
    for t in reversed(range(len(reward))):
        last = inputs[t] + discount[t] * lambda_ * last
        returns.append(last)
    return torch.stack(returns if order == "reversed" else returns[::-1], 0)


class ActorCritic(nn.Module):
    """The actor and the critic (and the slow critic) of DreamerV2's behaviour learning in imagination; their
    optimisers are :class:`diswm.training.learners.BehaviorLearner`'s."""

    def __init__(self, config: BehaviorConfig, feat_size: int, num_actions: int, device=None):
        super().__init__()
        self.config = config
        self.actor = Actor(feat_size, num_actions, config.actor_layers, config.units, dist=config.actor_dist)
        self.critic = ScalarHead(feat_size, config.critic_layers, config.units)
        self.slow_critic = copy.deepcopy(self.critic).requires_grad_(False)
        self.to(device)  # before the optimisers (BehaviorLearner), so that they are built for the device
        self.register_buffer("updates", torch.zeros((), dtype=torch.long))

    def compile_steps(self, **options) -> None:
        """``torch.compile`` the per-state policy evaluation of the imagination loop (see
        :meth:`RSSM.compile_steps`, which the world model's dynamics need as well)."""
        self._act = torch.compile(self._act, dynamic=False, **options)

    def _act(self, feat: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """A reparameterised action sample and the policy entropy at ``feat`` (from the same actor pass)."""
        policy = self.actor(feat)
        return policy.rsample(), policy.entropy()

    def imagine(self, rssm: RSSM, start: dict[str, torch.Tensor]):
        """Roll the actor out in the model: ``feats`` [H, N, F] (start first), actions [H, N, A] and the
        policy entropy at each state [H, N] (from the same actor pass that sampled the action)."""
        state = {k: v.reshape(-1, v.shape[-1]) for k, v in start.items()}
        feats, actions, entropies = [], [], []
        for _ in range(self.config.horizon):
            feat = RSSM.feature(state)
            action, entropy = self._act(feat.detach())
            feats.append(feat)
            actions.append(action)
            entropies.append(entropy)
            state = rssm.img_step(state, action, sample=True)
        return torch.stack(feats), torch.stack(actions), torch.stack(entropies)

    def refresh_slow_critic(self) -> None:
        """Hard-copy the critic into the slow critic every ``slow_update`` updates (before the update)."""
        if int(self.updates) % self.config.slow_update == 0:
            self.slow_critic.load_state_dict(self.critic.state_dict())

    def losses(self, rssm: RSSM, reward_head: ScalarHead, start: dict[str, torch.Tensor]):
        """The actor and critic losses from ``start`` states (paper Supp. B; released ``ImagBehavior._train``)
        and their diagnostics: the actor by dynamics back-propagation through the imagined rollout,
        ``-w_t (V^λ_t + entropy x H[π])``; the critic ``-ln N(sg(V^λ_t); v(ẑ_t), 1)``. The world model's
        weights take no gradient (their flags are restored after the rollout)."""
        c = self.config
        world_model = [rssm, reward_head]
        flags = [[p.requires_grad for p in m.parameters()] for m in world_model]
        for module in world_model:
            module.requires_grad_(False)
        try:
            # dreamer-torch evaluates the actor a second time on the detached features for the entropy;
            # the entropies of the sampling pass are the same values with the same gradients.
            feats, _, entropy = self.imagine(rssm, start)
            reward = reward_head(feats)
            discount = torch.full_like(reward, c.discount)
            value = self.slow_critic(feats)
            target = lambda_return(reward[:-1], value[:-1], discount[:-1], value[-1], c.lambda_, c.lambda_order)
            weights = torch.cumprod(torch.cat([torch.ones_like(discount[:1]), discount[:-1]], 0), 0).detach()
            actor_loss = -(weights[:-1] * (target + c.entropy * entropy[:-1])).mean()
            value_pred = self.critic(feats[:-1].detach())
            critic_loss = (weights[:-1] * ScalarHead.nll(value_pred, target.detach())).mean()
        finally:  # the graph is built: its edges into the world model are already cut
            for module, module_flags in zip(world_model, flags, strict=True):
                for p, flag in zip(module.parameters(), module_flags, strict=True):
                    p.requires_grad_(flag)
        metrics = {
            "actor_loss": actor_loss, "value_loss": critic_loss, "actor_entropy": entropy.mean(),
            "imag_reward_mean": reward.mean(), "imag_reward_std": reward.std(), "imag_value_mean": value.mean(),
        }
        return {"actor": actor_loss, "critic": critic_loss}, metrics
