"""Environments in worker processes (diswm.envs.workers): the same episodes as in this process, side by side,
errors named here, and no worker left behind, even when its parent is killed."""

import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from diswm.envs import make_env_from_spec
from diswm.envs.base import EnvSpec
from diswm.envs.workers import EnvWorker, reset_all, start_workers, step_all


def _episodes(envs, seeds, steps):
    for env in envs:
        env.set_distractor("train")
    records = [list(reset_all(envs, seeds))]
    rng = np.random.default_rng(0)
    for _ in range(steps):
        actions = rng.uniform(-1, 1, (len(envs), *envs[0].action_space.shape)).astype(np.float32)
        records.append(step_all(envs, actions))
    return records


def _assert_same(a, b):
    """Nested results (tuples, dicts, arrays, numbers) equal exactly."""
    if isinstance(a, dict):
        assert a.keys() == b.keys()
        for key in a:
            _assert_same(a[key], b[key])
    elif isinstance(a, tuple | list):
        assert len(a) == len(b)
        for x, y in zip(a, b, strict=True):
            _assert_same(x, y)
    elif isinstance(a, np.ndarray):
        assert a.dtype == b.dtype and np.array_equal(a, b)
    else:
        assert a == b


@pytest.mark.parametrize("task", ["reacher_easy", "pusher"])
def test_workers_step_side_by_side_exactly_as_in_process(task):
    spec = EnvSpec(task=task, distractor="train", render_quality="fast", time_limit=30)
    workers = start_workers(spec, 2)
    local = [make_env_from_spec(spec) for _ in range(2)]
    try:
        assert workers[0].action_space == local[0].action_space
        assert workers[0].evaluation_set("train") == local[0].evaluation_set("train")
        in_workers, in_process = _episodes(workers, [3, 4], 10), _episodes(local, [3, 4], 10)
    finally:
        for env in workers + local:
            env.close()
    _assert_same(in_workers, in_process)
    assert not np.array_equal(in_workers[-1][0][0]["image"], in_workers[-1][1][0]["image"])  # seeds differ


def test_a_worker_error_is_raised_here_naming_the_task():
    worker = EnvWorker(EnvSpec(task="cartpole_swingup", render_quality="fast"))
    try:
        with pytest.raises(RuntimeError, match=r"environment worker cartpole_swingup .*reset"):
            worker.step(np.zeros(1, np.float32))  # before reset
        worker.reset(seed=0)
        with pytest.raises(ValueError, match=r"environment worker cartpole_swingup .*non-finite"):
            worker.step(np.array([np.nan], np.float32))
        observation, *_ = worker.step(np.zeros(1, np.float32))  # the worker still serves
        assert observation["image"].shape == (64, 64, 3)
    finally:
        worker.close()
    assert worker._process.returncode == 0


def test_a_bad_spec_fails_here_or_in_the_worker_naming_it():
    with pytest.raises(ValueError, match="distractor"):  # before any worker starts
        EnvWorker(EnvSpec(task="cheetah_run", distractor="blue"))
    with pytest.raises(ValueError, match="environment worker atari_pong .*unknown task"):
        start_workers(EnvSpec(task="atari_pong"), 2)


PARENT = """
import sys, time
from diswm.envs.base import EnvSpec
from diswm.envs.workers import EnvWorker
worker = EnvWorker(EnvSpec(task="cartpole_swingup", render_quality="fast"))
print(worker._process.pid, flush=True)
time.sleep(600)
"""


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    with open(f"/proc/{pid}/stat") as handle:  # a zombie has exited; only its parent's wait is missing
        return handle.read().split(")")[-1].split()[0] != "Z"


def test_a_worker_exits_when_its_parent_is_killed():
    parent = subprocess.Popen([sys.executable, "-c", PARENT], stdout=subprocess.PIPE, text=True)
    try:
        worker_pid = int(parent.stdout.readline())
        assert _alive(worker_pid)
        parent.send_signal(signal.SIGKILL)
        parent.wait()
        for _ in range(200):  # its socket closes with the parent; it exits on its own (polled, not timed)
            if not _alive(worker_pid):
                break
            time.sleep(0.05)
        assert not _alive(worker_pid)
    finally:
        parent.kill()
        parent.stdout.close()
