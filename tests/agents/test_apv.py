import numpy as np
import torch

from diswm.agents import WorldModel, WorldModelConfig
from diswm.agents.intrinsic import VideoIntrinsicBonus
from diswm.models import RSSMConfig


def released_bonus(batches, projection, k, window, queue_size):
    """The released ``VideoIntrBonus.compute_bonus`` written out: a shifting queue with the batch in front,
    the mean of the k smallest Euclidean distances (momentum 0: normalised by the batch's mean magnitude)."""
    queue, filled, outputs = torch.zeros(queue_size, projection.shape[1]), 0, []
    for feat in batches:
        windows = feat.unfold(1, window, 1).mean(-1) @ projection
        b, t, d = windows.shape
        flat = windows.reshape(b * t, d)
        queue[b * t:] = queue[:-b * t].clone()
        queue[: b * t] = flat
        filled = min(filled + b * t, queue_size)
        dist = torch.norm(flat[:, None, :] - queue[None, :filled, :], dim=-1)
        bonus = -torch.topk(-dist, k=min(k, filled)).values.mean(1)
        outputs.append((bonus / bonus.abs().mean()).reshape(b, t))
    return outputs


def test_intrinsic_bonus_is_the_released_mean_of_the_k_nearest_distances():
    torch.manual_seed(0)
    bonus = VideoIntrinsicBonus(feat_size=6, dim=4, k=3, window=2, queue_size=10, momentum=0.0)
    batches = [torch.randn(2, 5, 6) for _ in range(3)]
    expected = released_bonus(batches, bonus.projection, k=3, window=2, queue_size=10)
    for feat, want in zip(batches, expected, strict=True):
        torch.testing.assert_close(bonus(feat), want, rtol=1e-5, atol=1e-6)
    assert int(bonus.filled) == 10
    torch.testing.assert_close(bonus.queue[:8], (batches[-1].unfold(1, 2, 1).mean(-1) @ bonus.projection).reshape(8, 4))


def test_intrinsic_bonus_projection_has_the_released_scale():
    torch.manual_seed(0)
    projection = VideoIntrinsicBonus(feat_size=400, dim=128).projection
    assert abs(projection.std().item() - 1 / 128) < 2e-4  # released: N(0, (1/128)^2), not 1/sqrt(128)


def test_stacked_apv_world_model_loss():
    torch.manual_seed(0)
    config = WorldModelConfig(image_model="conv", cnn_depth=4, distill=False, beta=0.0, units=16, stacked=True,
                              video_actions=6, intrinsic_beta=1.0,
                              rssm=RSSMConfig(stoch=4, deter=8, hidden=8, num_actions=2))
    model = WorldModel(config)
    assert model.rssm_af.config.num_actions == 6 and model.rssm.config.embed == model.rssm_af.feat_size
    rng = np.random.default_rng(0)
    batch = {"image": torch.as_tensor(rng.integers(0, 256, (2, 7, 64, 64, 3), dtype=np.uint8)),
             "action": torch.as_tensor(rng.uniform(-1, 1, (2, 7, 2)), dtype=torch.float32),
             "reward": torch.zeros(2, 7)}
    total, metrics, post = model.loss(batch)  # no teacher: no η
    assert {"video_kl_loss", "video_kl", "intrinsic_bonus"} <= set(metrics)
    torch.testing.assert_close(total, metrics["image_loss"] + metrics["reward_loss"] + metrics["kl_loss"]
                               + metrics["video_kl_loss"])
    total.backward()
    assert model.rssm_af.img_in.weight.grad is not None  # the action-free model is finetuned too
    state = model.initial_filter_state(1)
    state = model.filter_step(state, torch.zeros(1, 2), torch.zeros(1, 3, 64, 64))
    assert set(state) == {"post", "video"} and state["post"]["deter"].shape == (1, 8)
