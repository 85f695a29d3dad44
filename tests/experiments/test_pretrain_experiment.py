import json

import pytest
import torch
from sacred.observers import FileStorageObserver

from diswm.checkpoint import file_sha256, load_checkpoint
from diswm.data.collect import CollectConfig, DatasetError, collect
from diswm.envs import EnvSpec
from diswm_app.experiments.pretrain import ex


@pytest.mark.slow
def test_pretrain_run_on_random_videos_records_checkpoints_with_hashes(tmp_path):
    videos = tmp_path / "videos"
    collect(CollectConfig(env=EnvSpec("finger_spin", render_quality="fast", time_limit=20), out_dir=str(videos),
                          num_episodes=2, progress=False))
    observer = FileStorageObserver(str(tmp_path / "runs"))
    ex.observers.append(observer)
    try:
        run = ex.run(named_configs=["finger_spin", "smoke"],
                     config_updates={"videos": "random", "data_dir": str(videos), "out_dir": str(tmp_path / "ckpt"),
                                     "updates": 4,
                                     "checkpoint_every": 2, "log_every": 2, "length": 6, "batch_size": 2})
    finally:
        ex.observers.remove(observer)
    assert run.status == "COMPLETED" and run.result["updates"] == 4
    record = tmp_path / "runs" / str(run._id)
    config = json.loads((record / "config.json").read_text())
    assert config["num_actions"] == 2 and config["rssm"]["num_actions"] == 2 and config["beta"] == 0.015  # finger_spin
    info = json.loads((record / "info.json").read_text())
    assert info["videos"]["kind"] == "random" and info["videos"]["provenance"]["policy"] == "random"
    assert info["videos"]["sha256"] == file_sha256(videos / "dataset.json")
    encoder = info["checkpoints"]["encoder"]
    assert encoder["sha256"] == file_sha256(encoder["path"])
    assert load_checkpoint(tmp_path / "ckpt" / "latest.pt")["model"]["rssm.img_in.weight"].shape[1] == 8 + 2
    metrics = json.loads((record / "metrics.json").read_text())
    assert metrics["pretrain/image_nll"]["steps"] == [2, 4]
    assert all(torch.isfinite(torch.tensor(metrics["pretrain/model_loss"]["values"])))
    assert not any(p.suffix == ".pt" for p in record.iterdir())  # checkpoints stay out of the record


def test_pretrain_without_videos_names_the_missing_dataset_and_the_command_that_makes_it(tmp_path):
    with pytest.raises(DatasetError, match=r"no source-agent run at .*none; run `diswm source_agent with"):
        ex.run(config_updates={"data_dir": str(tmp_path / "none"), "out_dir": str(tmp_path / "ckpt")})
    with pytest.raises(DatasetError, match=r"no dataset at .*none; collect it first with `diswm collect with"):
        ex.run(config_updates={"videos": "random", "data_dir": str(tmp_path / "none"),
                               "out_dir": str(tmp_path / "ckpt")})
    assert not (tmp_path / "ckpt").exists()


@pytest.mark.slow
def test_a_finished_pretrain_is_not_reused_after_its_videos_changed(tmp_path):
    """Pretrained on a dataset that later grew (a collection resumed to more episodes): the rerun refuses,
    naming the changed videos, instead of reporting the old run as complete."""
    videos = tmp_path / "videos"

    def videos_of(episodes):
        collect(CollectConfig(env=EnvSpec("finger_spin", render_quality="fast", time_limit=20), out_dir=str(videos),
                              num_episodes=episodes, colour_schedule="train", progress=False))

    updates = {"videos": "random", "colour_schedule": "train", "data_dir": str(videos),
               "out_dir": str(tmp_path / "ckpt"), "updates": 2, "checkpoint_every": 2, "log_every": 2, "length": 6,
               "batch_size": 2}
    videos_of(2)
    assert ex.run(named_configs=["finger_spin", "smoke"], config_updates=updates).status == "COMPLETED"
    assert ex.run(named_configs=["finger_spin", "smoke"], config_updates=updates).status == "COMPLETED"  # same data
    before = file_sha256(tmp_path / "ckpt" / "latest.pt")
    videos_of(3)
    with pytest.raises(ValueError, match=r"the videos in .*videos changed since .*latest\.pt"):
        ex.run(named_configs=["finger_spin", "smoke"], config_updates=updates)
    assert file_sha256(tmp_path / "ckpt" / "latest.pt") == before


def test_videos_of_another_frame_size_are_refused_naming_a_file(tmp_path):
    videos = tmp_path / "videos"
    collect(CollectConfig(env=EnvSpec("finger_spin", render_quality="fast", time_limit=10, size=32),
                          out_dir=str(videos), num_episodes=1, progress=False))
    with pytest.raises(ValueError, match=rf"{videos}/\S+\.npz: frames are 32x32, the video model takes 64x64"):
        ex.run(named_configs=["finger_spin", "smoke"],
               config_updates={"videos": "random", "data_dir": str(videos), "out_dir": str(tmp_path / "ckpt")})
    assert not (tmp_path / "ckpt").exists() or not any((tmp_path / "ckpt").glob("*.pt"))
