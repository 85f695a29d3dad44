import pytest
import torch

from diswm.agents.video_model import PretrainConfig, VideoModel
from diswm.checkpoint import CheckpointError, load_checkpoint
from diswm.data.collect import CollectConfig, collect
from diswm.envs import EnvSpec
from diswm.models import BetaVAEEncoder, RSSMConfig
from diswm.training.pretrain import pretrain


@pytest.fixture(scope="module")
def videos(tmp_path_factory):
    out = tmp_path_factory.mktemp("videos")
    env = EnvSpec("cheetah_run", render_quality="fast", time_limit=24)
    collect(CollectConfig(env=env, out_dir=str(out), num_episodes=2, progress=False))
    return out


def config(videos, out, **kwargs):
    defaults = dict(data_dir=str(videos), out_dir=str(out), batch_size=2, length=6, updates=6, checkpoint_every=2,
                    rssm=RSSMConfig(stoch=8, deter=16, hidden=16))
    return PretrainConfig(**{**defaults, **kwargs})


@pytest.mark.slow
def test_pretraining_writes_official_checkpoints_and_learns(videos, tmp_path):
    logs = []
    from diswm_app.paper_figures.video import save_prediction

    result = pretrain(config(videos, tmp_path, updates=8), on_log=lambda i, m: logs.append(m), progress=False,
                      on_checkpoint=save_prediction)
    assert result["updates"] == 8 and len(logs) == 8
    assert all(torch.isfinite(torch.tensor(list(m.values()))).all() for m in logs)
    for folder in ("2", "4", "6", "8", "."):
        for name in ("encoder", "decoder", "rssm"):
            assert (tmp_path / folder / f"{name}.pt").is_file()
    import imageio.v3 as iio

    strip = iio.imread(tmp_path / "8" / "openl.png")  # truth / model / error rows of 2 sequences, 6 frames
    assert strip.shape == (2 * 3 * 64, 6 * 64, 3) and strip.std() > 0
    encoder = BetaVAEEncoder(20)
    encoder.load_state_dict(load_checkpoint(tmp_path / "encoder.pt"))  # loads as the teacher will
    assert logs[-1]["image_nll"] < logs[0]["image_nll"]


@pytest.mark.slow
def test_interrupted_pretraining_resumes_to_identical_weights(videos, tmp_path):
    pretrain(config(videos, tmp_path / "whole"), progress=False)
    pretrain(config(videos, tmp_path / "split"), progress=False, stop_after=3)  # last checkpoint: update 2
    assert not (tmp_path / "split" / "encoder.pt").exists()
    result = pretrain(config(videos, tmp_path / "split"), progress=False)
    assert result["updates"] == 6
    whole = load_checkpoint(tmp_path / "whole" / "latest.pt")
    split = load_checkpoint(tmp_path / "split" / "latest.pt")
    for key, value in whole["model"].items():
        assert torch.equal(value, split["model"][key]), key


def test_resume_refuses_other_settings_and_corrupt_checkpoints(videos, tmp_path):
    pretrain(config(videos, tmp_path, updates=2), progress=False)
    with pytest.raises(ValueError, match="other settings"):
        pretrain(config(videos, tmp_path, updates=2, beta=0.5), progress=False)
    latest = tmp_path / "latest.pt"
    latest.write_bytes(latest.read_bytes()[:100])
    with pytest.raises(CheckpointError, match="latest.pt"):
        pretrain(config(videos, tmp_path, updates=2), progress=False)


def test_pretraining_needs_episodes(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match="no episodes"):
        pretrain(config(tmp_path / "empty", tmp_path / "out"), progress=False)


def test_video_model_is_action_free():
    model = VideoModel(PretrainConfig(data_dir="", out_dir="", num_actions=6, rssm=RSSMConfig(stoch=8, deter=16,
                                                                                               hidden=16)))
    assert model.rssm.config.num_actions == 6 and model.rssm.config.embed == 20
