import hashlib
import json

import numpy as np
import pytest

from diswm.data import EpisodeReplay, load_episode
from diswm.data.collect import CollectConfig, collect
from diswm.envs import ColourBox, EnvSpec


def config(out_dir, num_episodes=4, **kwargs):
    env = EnvSpec("reacher_easy", seed=kwargs.pop("seed", 0), render_quality="fast", time_limit=20)
    return CollectConfig(env=env, out_dir=str(out_dir), num_episodes=num_episodes, progress=False, **kwargs)


def digests(directory):
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(directory.glob("*.npz"))}


def test_collects_the_switch_schedule_with_factors(tmp_path):
    result = collect(config(tmp_path))
    assert result.newly_collected == 4 and result.num_frames == 4 * 11 and result.env_steps == 80
    manifest = json.loads((tmp_path / "dataset.json").read_text())
    assert [ep["distractor"] for ep in manifest["episodes"]] == ["train", "train", "test", "test"]
    assert manifest["colour_protocol"]["first_test_episode"] == 2
    for record in manifest["episodes"]:
        episode = load_episode(tmp_path / record["file"])
        box = ColourBox.for_set(record["distractor"], 0.2)
        assert box.contains(episode["factor_colours"]).all()
    assert len(EpisodeReplay.from_directory(tmp_path)) == 4


def test_interrupted_collection_resumes_to_identical_files(tmp_path):
    whole, split = tmp_path / "whole", tmp_path / "split"
    collect(config(whole, colour_schedule="train"))
    collect(config(split, num_episodes=2, colour_schedule="train"))  # "interrupted" after 2 episodes
    resumed = collect(config(split, colour_schedule="train"))
    assert resumed.newly_collected == 2
    assert digests(whole) == digests(split)
    again = collect(config(split, colour_schedule="train"))  # nothing left to do
    assert again.newly_collected == 0


def test_resume_refuses_other_settings_and_corrupt_files(tmp_path):
    collect(config(tmp_path, num_episodes=2))
    with pytest.raises(ValueError, match="different settings"):
        collect(config(tmp_path, num_episodes=2, seed=1))
    victim = sorted(tmp_path.glob("*.npz"))[0]
    victim.write_bytes(victim.read_bytes()[:64])
    with pytest.raises(ValueError, match=victim.name):
        collect(config(tmp_path, num_episodes=2))


def test_different_seeds_give_different_videos(tmp_path):
    a = collect(config(tmp_path / "a", num_episodes=1))
    b = collect(config(tmp_path / "b", num_episodes=1, seed=1))
    assert a.episodes[0]["sha256"] != b.episodes[0]["sha256"]
    first = load_episode(tmp_path / "a" / a.episodes[0]["file"])
    assert np.abs(first["action"][1:]).max() <= 1.0


def test_checkpoint_policy_is_refused_clearly_until_agents_exist(tmp_path):
    with pytest.raises(NotImplementedError, match="diswm.agents"):
        collect(config(tmp_path, policy="checkpoint", policy_checkpoint="agent.pt"))
