import hashlib
import json

import numpy as np
import pytest

from diswm.data import EpisodeReplay, load_episode
from diswm.data.collect import CollectConfig, DatasetError, check_video_dataset, collect, place_episode
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
    assert manifest["task"] == "reacher_easy"
    assert manifest["provenance"] == {"policy": "random", "experiment": "collect", "out_dir": str(tmp_path),
                                      "finished": True, "episodes": 4, "frames": 40}
    assert [ep["distractor"] for ep in manifest["episodes"]] == ["train", "train", "test", "test"]
    assert manifest["colour_protocol"]["first_test_episode"] == 2
    for record in manifest["episodes"]:
        episode = load_episode(tmp_path / record["file"])
        box = ColourBox.for_set(record["distractor"], 0.2)
        assert box.contains(episode["factor_colours"]).all()
    assert len(EpisodeReplay.from_directory(tmp_path)) == 4


@pytest.mark.slow
def test_interrupted_collection_resumes_to_identical_files(tmp_path):
    whole, split = tmp_path / "whole", tmp_path / "split"
    collect(config(whole, colour_schedule="train"))
    collect(config(split, num_episodes=2, colour_schedule="train"))  # "interrupted" after 2 episodes
    resumed = collect(config(split, colour_schedule="train"))
    assert resumed.newly_collected == 2
    assert digests(whole) == digests(split)
    again = collect(config(split, colour_schedule="train"))  # nothing left to do
    assert again.newly_collected == 0


@pytest.mark.slow
@pytest.mark.parametrize("kill", ["before the first episode", "after an episode file, before its manifest entry"])
def test_collection_killed_at_any_point_resumes_to_identical_files(kill, tmp_path, monkeypatch):
    import diswm.data.collect as module

    whole, killed = tmp_path / "whole", tmp_path / "killed"
    collect(config(whole, num_episodes=2))
    real_save, real_write = module.save_episode, module.write_json
    saved = []

    def save(directory, episode, name):
        if kill == "before the first episode":
            raise KeyboardInterrupt
        real_save(directory, episode, name)
        saved.append(name)

    def write(path, value):
        if saved:  # the episode file is there, the manifest listing it is not
            raise KeyboardInterrupt
        real_write(path, value)

    monkeypatch.setattr(module, "save_episode", save)
    monkeypatch.setattr(module, "write_json", write)
    with pytest.raises(KeyboardInterrupt):
        collect(config(killed, num_episodes=2))
    monkeypatch.undo()
    manifest = json.loads((killed / "dataset.json").read_text())  # written before any episode
    assert manifest["episodes"] == [] and not manifest["provenance"]["finished"]
    with pytest.raises(DatasetError, match="did not finish|unfinished|finished"):
        check_video_dataset(killed, policy="random", task="reacher_easy", colour_schedule="switch", missing="none")
    collect(config(killed, num_episodes=2))
    assert digests(killed) == digests(whole)
    assert json.loads((killed / "dataset.json").read_text()) == json.loads((whole / "dataset.json").read_text()) | {
        "provenance": {**json.loads((whole / "dataset.json").read_text())["provenance"], "out_dir": str(killed)}}


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


class PushRight:
    """A stand-in agent: the data package takes any policy object (the experiment layer builds real ones)."""

    def reset(self, rng):
        pass

    def act(self, observation):
        return np.ones(2, np.float32)


def test_checkpoint_policy_acts_with_the_policy_passed_in_and_names_its_checkpoint(tmp_path):
    agent = config(tmp_path, num_episodes=1, policy="checkpoint", policy_checkpoint="agent.pt", policy_sha256="ab")
    with pytest.raises(ValueError, match="needs the agent's policy passed to collect"):
        collect(agent)
    with pytest.raises(ValueError, match="policy='random' collects with the uniform policy"):
        collect(config(tmp_path / "random", num_episodes=1), policy=PushRight())
    result = collect(agent, policy=PushRight())
    assert (load_episode(tmp_path / result.episodes[0]["file"])["action"][1:] == 1.0).all()
    provenance = json.loads((tmp_path / "dataset.json").read_text())["provenance"]
    assert provenance["policy"] == "checkpoint" and provenance["checkpoint"] == {"path": "agent.pt", "sha256": "ab"}
    with pytest.raises(ValueError, match="different settings"):  # another agent cannot extend these videos
        collect(config(tmp_path, num_episodes=1, policy="checkpoint", policy_checkpoint="agent.pt",
                       policy_sha256="cd"), policy=PushRight())


def test_video_datasets_are_checked_before_use(tmp_path):
    result = collect(config(tmp_path, num_episodes=2))
    check = {"policy": "random", "task": "reacher_easy", "colour_schedule": "switch", "missing": "none here"}
    assert check_video_dataset(tmp_path, **check)["episodes"] == result.episodes
    with pytest.raises(DatasetError, match="^none here$"):
        check_video_dataset(tmp_path / "elsewhere", **check)
    with pytest.raises(DatasetError, match="videos made by policy 'random', but videos='dreamerv2_replay'"):
        check_video_dataset(tmp_path, **{**check, "policy": "dreamerv2_replay"})
    # a manifest written before manifests had a provenance: a random collection, finished when it has every episode
    manifest = json.loads((tmp_path / "dataset.json").read_text())
    del manifest["provenance"], manifest["task"]
    (tmp_path / "dataset.json").write_text(json.dumps(manifest))
    assert check_video_dataset(tmp_path, **check)
    (tmp_path / "dataset.json").write_text(json.dumps({**manifest, "num_episodes": 3}))
    with pytest.raises(DatasetError, match="did not finish"):
        check_video_dataset(tmp_path, **check)
    (tmp_path / "dataset.json").write_text(json.dumps(manifest))
    (tmp_path / "extra.npz").write_bytes((tmp_path / result.episodes[0]["file"]).read_bytes())
    with pytest.raises(DatasetError, match="holds 3 episode files; not listed: extra.npz"):
        check_video_dataset(tmp_path, **check)


def test_episodes_are_placed_by_hard_link_or_copy_atomically(tmp_path, monkeypatch):
    result = collect(config(tmp_path / "source", num_episodes=1))
    source = tmp_path / "source" / result.episodes[0]["file"]
    (tmp_path / "linked").mkdir()
    assert place_episode(source, tmp_path / "linked") == "link"
    assert (tmp_path / "linked" / source.name).samefile(source)
    assert place_episode(source, tmp_path / "linked") == "link"  # already there: nothing to do

    def no_links(*args):
        raise OSError(18, "Invalid cross-device link")

    monkeypatch.setattr("diswm.data.collect.os.link", no_links)
    (tmp_path / "copied").mkdir()
    assert place_episode(source, tmp_path / "copied") == "copy"
    copied = tmp_path / "copied" / source.name
    assert not copied.samefile(source) and copied.read_bytes() == source.read_bytes()
    assert sorted(p.name for p in (tmp_path / "copied").iterdir()) == [source.name]  # no temporary left
