import numpy as np
import pytest

from diswm.data import (
    EpisodeFileError,
    EpisodeRecorder,
    EpisodeReplay,
    ReplayError,
    load_episode,
    save_episode,
)


def make_episode(length=12, action_dim=3, seed=0, image=16):
    rng = np.random.default_rng(seed)
    return {
        "image": rng.integers(0, 256, (length, image, image, 3), dtype=np.uint8),
        "action": rng.uniform(-1, 1, (length, action_dim)).astype(np.float32),
        "reward": rng.normal(size=length).astype(np.float32),
        "discount": np.ones(length, np.float32),
        "is_terminal": np.zeros(length, bool),
        "env_steps": np.full(length, 2, np.int64),
        "factor_colours": rng.uniform(size=(length, 13, 3)).astype(np.float32),
    }


def test_round_trip_preserves_every_array(tmp_path):
    episode = make_episode()
    path = save_episode(tmp_path, episode, "ep-000000-12.npz")
    loaded = load_episode(path)
    assert loaded.keys() == episode.keys()
    for key in episode:
        assert loaded[key].dtype == episode[key].dtype
        np.testing.assert_array_equal(loaded[key], episode[key])
    assert [p.name for p in tmp_path.iterdir()] == ["ep-000000-12.npz"]  # no temporary left behind


def test_truncated_file_gives_an_error_naming_it(tmp_path):
    path = save_episode(tmp_path, make_episode(), "ep-000000-12.npz")
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(EpisodeFileError, match=r"ep-000000-12\.npz.*corrupt or truncated"):
        load_episode(path)


def test_garbage_and_missing_files(tmp_path):
    bad = tmp_path / "ep-000000-5.npz"
    bad.write_bytes(b"not a zip at all")
    with pytest.raises(EpisodeFileError, match="corrupt"):
        load_episode(bad)
    with pytest.raises(EpisodeFileError, match="no such file"):
        load_episode(tmp_path / "absent.npz")


@pytest.mark.parametrize(
    "mutate, match",
    [
        (lambda ep: ep.pop("reward"), "missing keys"),
        (lambda ep: ep.update(image=ep["image"].astype(np.float32)), "uint8"),
        (lambda ep: ep.update(action=ep["action"][:-1]), "'action' has"),
        (lambda ep: ep.update(reward=np.full_like(ep["reward"], np.nan)), "NaN"),
        (lambda ep: ep.update(image=ep["image"][:1], action=ep["action"][:1]), "at least 2 frames"),
    ],
)
def test_wrongly_shaped_episodes_are_rejected_on_save_and_load(tmp_path, mutate, match):
    episode = make_episode()
    mutate(episode)
    with pytest.raises(EpisodeFileError, match=match):
        save_episode(tmp_path, episode, "ep.npz")
    np.savez_compressed(tmp_path / "raw.npz", **episode)  # written behind the validator's back
    with pytest.raises(EpisodeFileError, match=match):
        load_episode(tmp_path / "raw.npz")


def test_replay_samples_fixed_length_sequences_reproducibly(tmp_path):
    replay = EpisodeReplay(tmp_path)
    for seed, length in enumerate([12, 30, 5]):
        replay.add(make_episode(length=length, seed=seed))
    reloaded = EpisodeReplay.from_directory(tmp_path)
    assert reloaded.names == replay.names and reloaded.num_frames == 47
    a = replay.sample(6, 10, np.random.default_rng(3))
    b = reloaded.sample(6, 10, np.random.default_rng(3))
    assert a["image"].shape == (6, 10, 16, 16, 3) and a["action"].shape == (6, 10, 3)
    for key in a:
        np.testing.assert_array_equal(a[key], b[key])
    # Sequences are contiguous slices of one episode: env_steps are all 2, rewards match some episode.
    starts = {tuple(replay.episode(i)["reward"][j : j + 10]) for i in range(2) for j in range(21)}
    assert all(tuple(seq) in starts for seq in a["reward"])


def test_replay_errors_are_clear(tmp_path):
    replay = EpisodeReplay(tmp_path)
    with pytest.raises(ReplayError, match="no episode has 10 frames"):
        replay.sample(2, 10, np.random.default_rng(0))
    replay.add(make_episode(length=5))
    with pytest.raises(ReplayError, match="longest 5"):
        replay.sample(2, 10, np.random.default_rng(0))
    with pytest.raises(ReplayError, match="unknown keys"):
        replay.sample(2, 3, np.random.default_rng(0), keys=["image", "depth"])
    with pytest.raises(EpisodeFileError, match="does not match"):
        replay.add(make_episode(action_dim=4))
    with pytest.raises(ReplayError, match="does not exist"):
        EpisodeReplay.from_directory(tmp_path / "nowhere")


def test_a_corrupt_file_in_a_directory_is_named(tmp_path):
    replay = EpisodeReplay(tmp_path)
    replay.add(make_episode(seed=0))
    replay.add(make_episode(seed=1))
    victim = tmp_path / replay.names[1]
    victim.write_bytes(victim.read_bytes()[:100])
    with pytest.raises(EpisodeFileError, match=replay.names[1]):
        EpisodeReplay.from_directory(tmp_path)


def test_recorder_builds_episodes_in_the_official_layout(env_factory):
    env = env_factory("cartpole_swingup", distractor="train", seed=0, time_limit=10)
    recorder = EpisodeRecorder()
    obs, info = env.reset()
    recorder.start(obs, info, action_dim=1)
    done = False
    while not done:
        action = np.array([0.5], np.float32)
        obs, reward, terminated, truncated, info = env.step(action)
        recorder.step(action, obs, reward, terminated, info)
        done = terminated or truncated
    episode = recorder.finish()
    assert episode["image"].shape == (6, 64, 64, 3)  # reset frame + 5 agent steps of 2 control steps
    np.testing.assert_array_equal(episode["action"][0], [0.0])
    assert episode["reward"][0] == 0 and episode["discount"][0] == 1
    assert episode["env_steps"].tolist() == [0, 2, 2, 2, 2, 2]
    assert episode["factor_colours"].shape == (6, 13, 3)
    assert not episode["is_terminal"].any()
