"""DrawerWorld (our MJCF port of Meta-World v1's drawer tasks): success, textures, seeding."""

import numpy as np
import pytest

from diswm.envs import DRAWER_TASK_NAMES
from diswm.envs.drawer import SUCCESS_DISTANCE, TEXTURE_SETS, scripted_action
from diswm.envs.textures import TEXTURE_NAMES, texture


def run_episode(env, policy, seed):
    obs, info = env.reset(seed=seed)
    frames, successes, steps = [obs["image"]], [info.get("success", False)], 0
    done = False
    while not done:
        obs, reward, terminated, truncated, info = env.step(policy(env))
        assert np.isfinite(reward)
        frames.append(obs["image"])
        successes.append(info["success"])
        steps += info["env_steps"]
        done = terminated or truncated
    return np.stack(frames), np.array(successes), steps


@pytest.mark.parametrize("task", DRAWER_TASK_NAMES)
def test_scripted_policy_succeeds_and_zero_policy_does_not(env_factory, task):
    env = env_factory(task, seed=0)
    for seed in (0, 1):
        _, successes, steps = run_episode(env, scripted_action, seed)
        assert steps == 200 and len(successes) == 1 + 100  # 200 control steps, action repeat 2
        assert successes[-1] and not successes[0]
        assert np.all(np.diff(successes.astype(int)) >= 0)  # success at any step counts for the episode
        pull = abs(env.handle_position[1] - env.goal_y)
        assert pull <= SUCCESS_DISTANCE[task]
    _, successes, _ = run_episode(env, lambda e: np.zeros(4), 0)
    assert not successes.any()


def test_drawer_position_is_random_per_episode_and_the_goal_follows_the_task(env_factory):
    opener = env_factory("drawer_open", seed=0)
    xs = []
    for seed in range(4):
        opener.reset(seed=seed)
        xs.append(opener.handle_position[0])
        assert opener.closed_handle_y == pytest.approx(0.7) and opener.goal_y == pytest.approx(0.55)  # v1
        assert opener.handle_position[1] == pytest.approx(opener.closed_handle_y)  # starts closed
    assert np.ptp(xs) > 0.01 and all(-0.1 <= x <= 0.1 for x in xs)
    closer = env_factory("drawer_close", seed=0)
    closer.reset(seed=0)
    assert closer.goal_y == pytest.approx(closer.closed_handle_y)
    assert closer.handle_position[1] == pytest.approx(closer.closed_handle_y - 0.2)  # starts open


def test_train_and_evaluation_textures_differ_in_pixels_and_factors(env_factory):
    env = env_factory("drawer_open", distractor="train", seed=0)
    images, factors = {}, {}
    for name in ("train", "test", "eval"):
        env.set_distractor(name)
        obs, info = env.reset(seed=3)
        images[name], factors[name] = obs["image"].astype(int), int(info["factors"]["texture"][0])
        assert TEXTURE_NAMES[factors[name]] == TEXTURE_SETS[name]
    assert env.evaluation_set("train") == env.evaluation_set("test") == "eval"
    for a, b in (("train", "eval"), ("test", "eval"), ("train", "test")):
        assert np.abs(images[a] - images[b]).mean() > 5, (a, b)
    with pytest.raises(ValueError, match="distractor"):
        env.set_distractor("marble")


def test_same_seed_gives_identical_frames(env_factory):
    rng_policy = lambda e: np.random.default_rng(len(e.data.qpos) + int(e.data.time * 1000)).uniform(-1, 1, 4)  # noqa: E731
    first, _, _ = run_episode(env_factory("drawer_close", seed=5), rng_policy, 7)
    second, _, _ = run_episode(env_factory("drawer_close", seed=5), rng_policy, 7)
    assert np.array_equal(first, second)
    other, _, _ = run_episode(env_factory("drawer_close", seed=5), rng_policy, 8)
    assert not np.array_equal(first, other)


def test_textures_are_deterministic_and_distinct():
    pixels = {name: texture(name) for name in TEXTURE_NAMES}
    assert all(np.array_equal(texture(name), pixels[name]) for name in TEXTURE_NAMES)
    means = [tuple(np.round(p.reshape(-1, 3).mean(0))) for p in pixels.values()]
    assert len(set(means)) == len(TEXTURE_NAMES)
    with pytest.raises(ValueError, match="unknown texture"):
        texture("velvet")
