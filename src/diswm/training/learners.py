"""The method's models with their optimisers: one gradient step each (released ``models.WorldModel._train``
and ``ImagBehavior._train``). The models compute their losses (:mod:`diswm.agents`); these step them."""

from __future__ import annotations

import torch

from diswm.agents.behavior import ActorCritic
from diswm.agents.world_model import WorldModel
from diswm.models import RSSM, ScalarHead
from diswm.training.optim import ClippedAdam


class WorldModelLearner:
    """The world model with one Adam over everything but a frozen teacher."""

    def __init__(self, model: WorldModel, capturable: bool = False):
        self.model = model
        c = model.config
        self.optimizer = ClippedAdam(model.trainable_parameters(), c.lr, c.eps, c.grad_clip, capturable)

    def update(self, batch: dict[str, torch.Tensor], eta: float = 0.0):
        """One gradient step with distillation weight ``eta``; returns ``(metrics as floats, posterior states)``."""
        device = next(self.model.parameters()).device
        metrics, post = self.update_tensors(batch, torch.tensor(eta, device=device))
        return {k: float(v) for k, v in metrics.items()}, post

    def update_tensors(self, batch: dict[str, torch.Tensor], eta: torch.Tensor):
        """:meth:`update` without host reads (capturable in a CUDA graph): ``eta`` a device tensor, metrics
        as tensors."""
        self.model.requires_grad_(True)
        if self.model.teacher is not None and self.model.config.teacher == "frozen":
            self.model.teacher.requires_grad_(False)
        total, metrics, post = self.model.loss(batch, eta)
        metrics["model_grad_norm"] = self.optimizer.step_tensor(total)
        return {k: v.detach() for k, v in metrics.items()}, post


class BehaviorLearner:
    """The actor and the critic with one Adam each (actor 8e-5, critic 8e-5; eps 1e-5, clip 100)."""

    def __init__(self, behavior: ActorCritic, capturable: bool = False):
        self.behavior = behavior
        c = behavior.config
        self.actor_opt = ClippedAdam(behavior.actor.parameters(), c.actor_lr, c.eps, c.grad_clip, capturable)
        self.critic_opt = ClippedAdam(behavior.critic.parameters(), c.critic_lr, c.eps, c.grad_clip, capturable)

    def update(self, rssm: RSSM, reward_head: ScalarHead, start: dict[str, torch.Tensor]) -> dict[str, float]:
        """One actor and one critic update from ``start`` states; world-model weights get no gradient."""
        self.behavior.refresh_slow_critic()
        return {k: float(v) for k, v in self.update_tensors(rssm, reward_head, start).items()}

    def update_tensors(self, rssm: RSSM, reward_head: ScalarHead,
                       start: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """The device part of :meth:`update` (no host reads; capturable in a CUDA graph): metrics as tensors."""
        self.behavior.updates += 1
        losses, metrics = self.behavior.losses(rssm, reward_head, start)
        metrics["actor_grad_norm"] = self.actor_opt.step_tensor(losses["actor"])
        metrics["value_grad_norm"] = self.critic_opt.step_tensor(losses["critic"])
        return {k: v.detach() for k, v in metrics.items()}
