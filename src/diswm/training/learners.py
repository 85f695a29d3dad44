"""The method's models with their optimisers: one gradient step each (released ``models.WorldModel._train``
and ``ImagBehavior._train``). The models compute their losses (:mod:`diswm.agents`); these step them."""

from __future__ import annotations

import contextlib

import torch

from diswm.agents.behavior import ActorCritic
from diswm.agents.world_model import WorldModel
from diswm.models import RSSM, ScalarHead
from diswm.training.optim import ClippedAdam

#: arithmetic of the updates: fp32 (the default, the paper's), or bf16 autocast (an opt-in speed switch)
PRECISIONS = ("fp32", "bf16")


def check_precision(precision: str) -> str:
    if precision not in PRECISIONS:
        raise ValueError(f"precision={precision!r}; expected one of {PRECISIONS}")
    return precision


def autocast(precision: str, device: torch.device):
    """The forward passes' arithmetic: nothing for fp32; bfloat16 autocast for bf16 (matrix products and
    convolutions in bf16, reductions and the losses in fp32; the backward pass and the optimiser in fp32)."""
    if check_precision(precision) == "fp32":
        return contextlib.nullcontext()
    return torch.autocast(device_type=device.type, dtype=torch.bfloat16)


class WorldModelLearner:
    """The world model with one Adam over everything but a frozen teacher."""

    def __init__(self, model: WorldModel, capturable: bool = False, precision: str = "fp32"):
        self.model, self.precision = model, check_precision(precision)
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
        with autocast(self.precision, eta.device):
            total, metrics, post = self.model.loss(batch, eta)
        metrics["model_grad_norm"] = self.optimizer.step_tensor(total.float())
        return {k: v.detach().float() for k, v in metrics.items()}, {k: v.float() for k, v in post.items()}


class BehaviorLearner:
    """The actor and the critic with one Adam each (actor 8e-5, critic 8e-5; eps 1e-5, clip 100)."""

    def __init__(self, behavior: ActorCritic, capturable: bool = False, precision: str = "fp32"):
        self.behavior, self.precision = behavior, check_precision(precision)
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
        with autocast(self.precision, start["deter"].device):
            losses, metrics = self.behavior.losses(rssm, reward_head, start)
        metrics["actor_grad_norm"] = self.actor_opt.step_tensor(losses["actor"].float())
        metrics["value_grad_norm"] = self.critic_opt.step_tensor(losses["critic"].float())
        return {k: v.detach().float() for k, v in metrics.items()}
