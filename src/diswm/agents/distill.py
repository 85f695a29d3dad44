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


def eta(step: int, *, schedule: str = "paper", cross_domain: bool = False, initial_step: int = 0,
        eta_max: float = 0.1, decay_steps: int = 50_000, floor: float = 0.1) -> float:
    """Distillation weight at ``step`` agent steps.

    ``paper``: the schedule the code intends (and the paper describes, 0.1 -> 0.01): within DMC
    ``eta_max * max(1 - step / decay_steps, floor)``; cross-domain, no distillation before
    ``decay_steps``, then ``eta_max * max(2 - step / decay_steps, floor)``.

    ``official``: what the released code computes. Its world model reads the step counter once, at
    construction (``initial_step``, the prefill: 2500 agent steps), and never updates it, so η is the
    paper schedule frozen at ``initial_step``: 0.095 for DMC pairs, 0 (no distillation) cross-domain.
    """
    if schedule not in ETA_SCHEDULES:
        raise ValueError(f"eta_schedule={schedule!r}; expected one of {ETA_SCHEDULES}")
    if schedule == "official":
        step = initial_step
    if cross_domain:
        return 0.0 if step < decay_steps else eta_max * max(2 - step / decay_steps, floor)
    return eta_max * max(1 - step / decay_steps, floor)
