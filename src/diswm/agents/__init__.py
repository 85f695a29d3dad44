"""DisWM and its baselines as configurations of the same parts: world model, distillation, behaviour."""

from diswm.agents.behavior import ActorCritic, BehaviorConfig, lambda_return
from diswm.agents.distill import ETA_SCHEDULES, TEACHER_MODES, distillation_kl, eta
from diswm.agents.world_model import WorldModel, WorldModelConfig, WorldModelLearner

__all__ = [
    "ETA_SCHEDULES", "TEACHER_MODES", "ActorCritic", "BehaviorConfig", "WorldModel", "WorldModelConfig",
    "WorldModelLearner", "distillation_kl", "eta", "lambda_return",
]
