"""Offline-to-online latent distillation (DisWM Eq. 3) and its weight schedule η.

The official code distils the 20-d reparameterised β-VAE *samples*: each is turned into a categorical
distribution by a softmax over the latent dimensions, and the loss is
``F.kl_div(log_softmax(student), softmax(teacher), reduction="batchmean")``, i.e. KL(teacher || student)
summed over time and latent, divided by the batch size B only (a sum over the T steps of a sequence).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

ETA_SCHEDULES = ("paper", "official")
TEACHER_MODES = ("frozen", "drifting")


def distillation_kl(student: torch.Tensor, teacher: torch.Tensor) -> torch.Tensor:
    """KL(softmax(teacher) || softmax(student)) with the official ``batchmean`` reduction; inputs [B, T, Z]."""
    return F.kl_div(F.log_softmax(student, -1), F.softmax(teacher, -1), reduction="batchmean")


def eta(step: int, *, schedule: str, cross_domain: bool, initial_step: int, eta_max: float, decay_steps: int,
        floor: float, delay: int) -> float:
    """Distillation weight η at ``step`` agent steps (paper §3.4: "gradually decreases from 0.1 to 0.01";
    released ``models.WorldModel._train``).

    ``paper``: the schedule the released code intends. Within DMC ``eta_max * max(1 - step / decay_steps,
    floor)``: linear from ``eta_max`` to ``floor * eta_max``, reached at ``(1 - floor) * decay_steps``.
    Cross-domain (``cross_domain``, DMC -> Pusher / DrawerWorld) no distillation before ``delay`` agent steps,
    then the same decay counted from ``delay``. The released values are ``decay_steps = delay = 50_000``,
    ``floor = 0.1``: its cross-domain formula ``max(2 - step / 50_000, 0.1)`` is this one with ``delay = 50_000``.

    ``official``: what the released code computes. Its world model reads the step counter once, at
    construction (``initial_step``, the prefill: 2500 agent steps), and never updates it, so η is the
    paper schedule frozen at ``initial_step``: 0.095 for DMC pairs, 0 (no distillation) cross-domain.

    Every argument is required: the defaults are :class:`~diswm.agents.world_model.WorldModelConfig`'s alone.
    """
    if schedule not in ETA_SCHEDULES:
        raise ValueError(f"eta_schedule={schedule!r}; expected one of {ETA_SCHEDULES}")
    if schedule == "official":
        step = initial_step
    if cross_domain:
        if step < delay:
            return 0.0
        step -= delay
    return eta_max * max(1 - step / decay_steps, floor)
