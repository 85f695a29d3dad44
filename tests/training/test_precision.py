"""bf16 as an opt-in switch: autocast forward passes, losses, backward and optimiser in fp32."""

import numpy as np
import pytest
import torch

from diswm.agents import ActorCritic, WorldModel
from diswm.configs import finetune_config, replace_settings
from diswm.training.learners import BehaviorLearner, WorldModelLearner


def synthetic_batch(batch: int, length: int, actions: int, seed: int) -> dict[str, torch.Tensor]:
    rng = np.random.default_rng(seed)
    return {"image": torch.as_tensor(rng.integers(0, 256, (batch, length, 64, 64, 3), dtype=np.uint8)),
            "action": torch.as_tensor(rng.uniform(-1, 1, (batch, length, actions)), dtype=torch.float32),
            "reward": torch.as_tensor(rng.uniform(0, 1, (batch, length)), dtype=torch.float32)}


def _updates(precision: str, updates: int = 3):
    settings = finetune_config(scale="smoke", method="no_distill", task="cheetah_run", source="finger_spin")
    torch.manual_seed(0)
    model = WorldModel(settings.world_model)
    behavior = ActorCritic(settings.behavior, model.rssm.feat_size, 6)
    world, actor = WorldModelLearner(model, precision=precision), BehaviorLearner(behavior, precision=precision)
    history = []
    for i in range(updates):
        metrics, post = world.update(synthetic_batch(4, 8, 6, seed=i))
        assert all(v.dtype == torch.float32 for v in post.values())  # what behaviour learning starts from
        history.append(metrics | actor.update(model.rssm, model.reward, post))
    return history, [p.dtype for p in model.parameters()]


def test_bf16_updates_are_finite_close_to_fp32_and_keep_fp32_weights():
    fp32, _ = _updates("fp32")
    bf16, dtypes = _updates("bf16")
    assert set(dtypes) == {torch.float32}  # autocast: the weights and the optimiser stay fp32
    for ours, reference in zip(bf16, fp32, strict=True):
        assert all(np.isfinite(v) for v in ours.values())
        for key in ("kl_loss", "reward_loss", "actor_loss", "value_loss"):
            assert ours[key] == pytest.approx(reference[key], rel=0.05, abs=1e-3), key
    assert any(ours["actor_loss"] != reference["actor_loss"] for ours, reference in zip(bf16, fp32, strict=True))


def test_an_unknown_precision_is_refused():
    settings = finetune_config(scale="smoke", method="no_distill", task="cheetah_run", source="finger_spin")
    with pytest.raises(ValueError, match="precision='fp16'"):
        replace_settings(settings, {"precision": "fp16", "out_dir": "x"}).validate()
    with pytest.raises(ValueError, match="precision='fp8'"):
        WorldModelLearner(WorldModel(settings.world_model), precision="fp8")
