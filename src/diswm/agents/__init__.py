"""The method: DisWM and its baselines as configurations of the same parts (world model with distillation and
the disentanglement constraint, the video model, behaviour in imagination), each returning named loss terms
(:mod:`diswm.agents.losses`). The loops that train them are :mod:`diswm.training`."""

from diswm.agents.behavior import ActorCritic, BehaviorConfig, lambda_return
from diswm.agents.distill import ETA_SCHEDULES, TEACHER_MODES, distillation_kl, eta
from diswm.agents.world_model import WorldModel, WorldModelConfig

__all__ = [
    "ETA_SCHEDULES", "TEACHER_MODES", "ActorCritic", "BehaviorConfig", "WorldModel", "WorldModelConfig",
    "distillation_kl", "eta", "lambda_return",
]
