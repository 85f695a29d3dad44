import os

os.environ.setdefault("MUJOCO_GL", "egl")  # before anything imports dm_control / gymnasium's MuJoCo envs

import pytest  # noqa: E402

from diswm.envs import make_env  # noqa: E402


@pytest.fixture
def env_factory():
    """Build environments (fast rendering by default) and close them all at teardown."""
    built = []

    def build(task, **kwargs):
        kwargs.setdefault("render_quality", "fast")
        env = make_env(task, **kwargs)
        built.append(env)
        return env

    yield build
    for env in built:
        env.close()
