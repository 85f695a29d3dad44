import numpy as np
import torch

from diswm.agents import WorldModel, WorldModelConfig
from diswm.agents.intrinsic import VideoIntrinsicBonus
from diswm.models import RSSMConfig


def test_intrinsic_bonus_is_the_kth_neighbour_distance_of_window_means():
    torch.manual_seed(0)
    bonus = VideoIntrinsicBonus(feat_size=6, dim=4, k=3, window=2, queue_size=10, momentum=0.0)
    feat = torch.randn(2, 5, 6)
    raw_magnitude_free = bonus(feat)  # momentum 0: normalised by this batch's mean magnitude
    windows = (feat[:, :-1] + feat[:, 1:]) / 2
    projected = (windows @ bonus.projection).reshape(-1, 4)
    distances = torch.cdist(projected, projected)
    expected = distances.sort(-1).values[:, 2].reshape(2, 4)  # 3rd smallest, itself (0) included
    torch.testing.assert_close(raw_magnitude_free, expected / expected.abs().mean(), rtol=1e-5, atol=1e-6)
    assert int(bonus.filled) == 8 and int(bonus.cursor) == 8
    bonus(feat)  # 8 more: the FIFO queue wraps at 10
    assert int(bonus.filled) == 10 and int(bonus.cursor) == 6


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
    total, metrics, post = model.loss(batch, step=0)
    assert {"video_kl_loss", "video_kl", "intrinsic_bonus"} <= set(metrics)
    torch.testing.assert_close(total, metrics["image_loss"] + metrics["reward_loss"] + metrics["kl_loss"]
                               + metrics["video_kl_loss"])
    total.backward()
    assert model.rssm_af.img_in.weight.grad is not None  # the action-free model is finetuned too
    state = model.initial_filter_state(1)
    state = model.filter_step(state, torch.zeros(1, 2), torch.zeros(1, 3, 64, 64))
    assert set(state) == {"post", "video"} and state["post"]["deter"].shape == (1, 8)
