import numpy as np
import pytest
import torch

from diswm.envs import ACTION_DIMS, TASKS, ColourBox, make_env


def rollout(env, steps, seed=None, action_seed=0):
    obs, info = env.reset(seed=seed)
    frames, colours, rewards, env_steps = [obs["image"]], [info["factors"]["colours"]], [], []
    rng = np.random.default_rng(action_seed)
    for _ in range(steps):
        obs, reward, terminated, truncated, info = env.step(rng.uniform(-1, 1, env.action_space.shape))
        frames.append(obs["image"])
        colours.append(info["factors"]["colours"])
        rewards.append(reward)
        env_steps.append(info["env_steps"])
        if terminated or truncated:
            break
    return np.stack(frames), np.stack(colours), np.array(rewards), np.array(env_steps)


@pytest.mark.parametrize("task", TASKS)
def test_every_task_resets_steps_and_renders(env_factory, task):
    env = env_factory(task, distractor="train", seed=0)
    obs, info = env.reset()
    assert obs["image"].shape == (64, 64, 3) and obs["image"].dtype == np.uint8
    assert env.observation_space.contains(obs)
    assert env.action_space.low.min() == -1 and env.action_space.high.max() == 1
    assert env.action_space.shape == (ACTION_DIMS[task],)
    obs, reward, terminated, truncated, info = env.step(env.action_space.sample())
    assert np.isfinite(reward) and not terminated
    assert obs["image"].std() > 0  # not a blank frame
    for image in (obs["image"], env.reset()[0]["image"]):  # what torch and the replay take as they are
        assert image.flags["C_CONTIGUOUS"] and min(image.strides) > 0
        torch.as_tensor(image)
    factors = info["factors"]
    assert factors["colours"].shape == (len(env.colour_names), 3)
    assert factors["qpos"].ndim == 1 and factors["qvel"].ndim == 1
    if task == "pusher":
        assert obs["observation"].shape == (23,)


@pytest.mark.parametrize("task", ["cheetah_run", "pusher"])
def test_distractor_changes_rendered_pixels(env_factory, task):
    frames = {}
    for distractor in ("none", "train", "test"):
        env = env_factory(task, distractor=distractor, seed=3)
        frames[distractor] = env.reset()[0]["image"].astype(int)
    for a, b in [("none", "train"), ("none", "test"), ("train", "test")]:
        changed = np.any(frames[a] != frames[b], axis=-1).mean()
        assert changed > 0.1, f"{a} vs {b}: only {changed:.1%} of pixels differ"


@pytest.mark.slow
@pytest.mark.parametrize("task", ["walker_walk", "pusher"])
def test_same_seed_same_frames_different_seed_differs(env_factory, task):
    a = rollout(env_factory(task, distractor="train", seed=7), 20)
    b = rollout(env_factory(task, distractor="train", seed=7), 20)
    c = rollout(env_factory(task, distractor="train", seed=8), 20)
    for x, y in zip(a, b, strict=True):
        np.testing.assert_array_equal(x, y)
    assert not np.array_equal(a[0], c[0])
    assert not np.array_equal(a[1], c[1])


def test_reset_seed_reproduces_an_episode(env_factory):
    env = env_factory("reacher_easy", distractor="test", seed=0)
    first = rollout(env, 10, seed=123)
    rollout(env, 5)  # advance the streams
    again = rollout(env, 10, seed=123)
    for x, y in zip(first, again, strict=True):
        np.testing.assert_array_equal(x, y)


def test_logged_colours_are_the_models_material_colours(env_factory):
    env = env_factory("cheetah_run", distractor="train", seed=0)
    _, info = env.reset()
    model = env._physics.model
    for _ in range(3):
        np.testing.assert_allclose(info["factors"]["colours"], model.mat_rgba[:, :3], atol=1e-6)
        np.testing.assert_allclose(info["factors"]["qpos"], env._physics.data.qpos, atol=1e-6)
        _, _, _, _, info = env.step(np.zeros(6))
    assert ColourBox.for_set("train", 0.2).contains(info["factors"]["colours"]).all()
    assert set(env.visible_colour_names) >= {"self", "grid"}


def test_pusher_colours_are_the_geom_colours(env_factory):
    env = env_factory("pusher", distractor="test", seed=0)
    _, info = env.reset()
    rgba = env._env.model.geom_rgba
    np.testing.assert_allclose(info["factors"]["colours"][0], rgba[env._table, :3], atol=1e-6)
    for geom in env._arm:
        np.testing.assert_allclose(info["factors"]["colours"][1], rgba[geom, :3], atol=1e-6)
    np.testing.assert_array_equal(rgba[env._object], [[0, 0, 0, 1]])
    before = info["factors"]["colours"]
    _, _, _, _, info = env.step(np.zeros(7))
    np.testing.assert_array_equal(before, info["factors"]["colours"])  # static within an episode


def test_dmc_colours_random_walk_every_step(env_factory):
    env = env_factory("finger_spin", distractor="train", seed=0)
    colours = rollout(env, 5)[1]
    assert all(not np.allclose(colours[i], colours[i + 1]) for i in range(5))


def test_none_keeps_the_models_colours(env_factory):
    env = env_factory("hopper_stand", distractor="none", seed=0)
    colours = rollout(env, 3)[1]
    for c in colours:
        np.testing.assert_array_equal(c, env.default_colours.astype(np.float32))


def test_switching_colour_sets_without_rebuilding(env_factory):
    env = env_factory("reacher_easy", distractor="train", seed=0)
    _, info = env.reset()
    assert info["distractor"] == "train"
    env.set_distractor("test")
    info = env.step(np.zeros(2))[-1]
    assert info["distractor"] == "train"  # the switch applies at the next reset
    _, info = env.reset()
    assert info["distractor"] == "test"
    assert ColourBox.for_set("test", 0.2).contains(info["factors"]["colours"]).all()
    with pytest.raises(ValueError, match="distractor"):
        env.set_distractor("blue")


@pytest.mark.parametrize("task", ["cartpole_swingup", "pusher"])
def test_action_repeat_accounting(env_factory, task):
    """Both modes against per-control-step rewards of the same trajectory (identical seeds and actions)."""
    limit = 40
    single = env_factory(task, seed=5, action_repeat=1, time_limit=limit)
    correct = env_factory(task, seed=5, action_repeat=2, time_limit=limit)
    official = env_factory(task, seed=5, action_repeat=2, repeat_mode="official", time_limit=limit)
    inner = 2 if task != "pusher" else 1  # dmc2gym's frame_skip (DMC only)
    per_step = 2 * inner
    base_rewards, base_steps = _constant_action_rollout(single, limit)
    assert len(base_rewards) == limit and set(base_steps) == {1}

    rewards, steps = _constant_action_rollout(correct, limit // 2)
    assert len(rewards) == limit // 2 and set(steps) == {2}
    np.testing.assert_allclose(rewards, base_rewards.reshape(-1, 2).sum(1), rtol=1e-6)

    rewards, steps = _constant_action_rollout(official, limit // per_step)
    assert len(rewards) == limit // per_step and set(steps) == {per_step}
    last_outer = base_rewards.reshape(-1, per_step)[:, -inner:].sum(1)
    np.testing.assert_allclose(rewards, 2 * last_outer, rtol=1e-6)


def _constant_action_rollout(env, max_steps):
    env.reset()
    action = np.linspace(-0.8, 0.8, env.action_space.shape[0])
    rewards, steps = [], []
    for _ in range(max_steps + 5):
        _, reward, terminated, truncated, info = env.step(action)
        rewards.append(reward)
        steps.append(info["env_steps"])
        if terminated or truncated:
            break
    return np.array(rewards), np.array(steps)


@pytest.mark.slow
def test_native_episode_lengths(env_factory):
    env = env_factory("reacher_easy", seed=0)
    _, _, _, steps = rollout(env, 10_000)
    assert steps.sum() == 1000 and len(steps) == 500  # 1000 control steps at repeat 2
    pusher = env_factory("pusher", seed=0, repeat_mode="official")
    _, _, _, steps = rollout(pusher, 10_000)
    assert steps.sum() == 100 and len(steps) == 50  # the official 50 agent steps


def test_step_before_reset_and_bad_actions_fail(env_factory):
    env = env_factory("cartpole_swingup", seed=0)
    with pytest.raises(RuntimeError, match="reset"):
        env.step(np.zeros(1))
    env.reset()
    with pytest.raises(ValueError, match="non-finite"):
        env.step(np.array([np.nan]))


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"task": "atari_pong"}, "unknown task"),
        ({"task": "cheetah_run", "distractor": "blue"}, "distractor"),
        ({"task": "cheetah_run", "repeat_mode": "twice"}, "repeat_mode"),
        ({"task": "cheetah_run", "max_delta": 0.5}, "overlap"),
        ({"task": "cheetah_run", "action_repeat": 0}, "action_repeat"),
        ({"task": "cheetah_run", "seed": -1}, "seed"),
    ],
)
def test_bad_env_arguments_name_the_problem(kwargs, match):
    task = kwargs.pop("task")
    with pytest.raises(ValueError, match=match):
        make_env(task, **kwargs)


@pytest.mark.parametrize("render_quality", ["fast", "default"])
def test_dmc_kept_camera_draws_what_physics_render_draws(env_factory, render_quality):
    """DMC frames come from one camera kept across frames (not one allocated per frame): every frame of an
    episode, through colour changes and a reset, equals dm_control's own ``physics.render`` of the same state."""
    env = env_factory("finger_spin", distractor="train", seed=1, render_quality=render_quality)
    physics = env._physics
    rng = np.random.default_rng(0)
    for seed in (4, 5):
        observation, _ = env.reset(seed=seed)
        for _ in range(12):
            assert np.array_equal(observation["image"], physics.render(64, 64, camera_id=0))
            observation, *_ = env.step(rng.uniform(-1, 1, env.action_space.shape))
