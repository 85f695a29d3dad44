"""Environments in worker processes: N environments step at once, each rendering on its own CPU core.

MuJoCo rendering is CPU work (software EGL on a machine without a GPU, and the physics anywhere), so
environments stepped in turn in one process leave the other cores idle while the policy waits. An
:class:`EnvWorker` holds one :class:`~diswm.envs.base.DistractedEnv` in its own process (its own EGL context)
and answers the calls evaluation makes; :func:`step_all` sends every action before it waits for any result, so
the environments step side by side. An environment gives the same observations, rewards and infos in a worker
as in this process (tested), so where it runs changes speed, never episodes.

A worker is a fresh interpreter (``python -m diswm.envs.workers``: no inherited threads or GL state, and,
unlike multiprocessing's ``spawn``, no re-import of the caller's main script); it exits when its socket closes
(:meth:`EnvWorker.close`, or this process dying, even by SIGKILL). An error in a worker is raised here, of the
same builtin class (else ``RuntimeError``), as one line naming the worker's task.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import traceback
from multiprocessing.connection import Connection
from typing import Any

import numpy as np

from diswm.envs import make_env_from_spec
from diswm.envs.base import EnvSpec


def _serve(connection: Connection, spec: EnvSpec) -> None:
    """A worker's loop: build the environment, then answer ``(method, args)`` until told to close."""
    try:
        env = make_env_from_spec(spec)
    except Exception as error:  # noqa: BLE001 - reported to the parent, which raises it
        connection.send(("error", _portable(error)))
        return
    connection.send(("ok", (env.action_space, env.observation_space)))
    try:
        while True:
            try:
                method, args, kwargs = connection.recv()
            except (EOFError, OSError):  # the parent is gone
                break
            if method == "close":
                break
            try:
                connection.send(("ok", getattr(env, method)(*args, **kwargs)))
            except Exception as error:  # noqa: BLE001
                connection.send(("error", _portable(error)))
    finally:
        env.close()


def _portable(error: Exception) -> tuple[type, str, str]:
    """An error as the parent re-raises it: its class where a builtin one, its message and its traceback."""
    kind = type(error) if type(error).__module__ == "builtins" else RuntimeError
    message = str(error) if kind is type(error) else f"{type(error).__name__}: {error}"
    return kind, message, traceback.format_exc()


def _worker_environment() -> dict[str, str]:
    """The worker's environment variables: this process's, with Mesa's software rasteriser on one thread
    (``LP_NUM_THREADS``; unless set here) since the workers themselves are the parallelism. A GPU's EGL ignores it."""
    return {**os.environ, "LP_NUM_THREADS": os.environ.get("LP_NUM_THREADS", "1")}


class EnvWorker:
    """One environment of ``spec`` in a worker process, with the calls evaluation makes
    (:meth:`set_distractor`, :meth:`reset`, :meth:`step`, :meth:`evaluation_set`, :meth:`close`) and their
    two halves (:meth:`call_async`, :meth:`result`) for stepping several at once. The process starts at once;
    the first call (or :meth:`ready`, or :func:`start_workers` for several) waits for its environment."""

    def __init__(self, spec: EnvSpec):
        spec.validate()
        self.spec_ = spec
        mine, theirs = socket.socketpair()
        self._process = subprocess.Popen(
            [sys.executable, "-m", "diswm.envs.workers", str(theirs.fileno()), json.dumps(spec.to_dict())],
            pass_fds=(theirs.fileno(),), stdin=subprocess.DEVNULL, env=_worker_environment())
        theirs.close()
        self._connection = Connection(mine.detach())
        self._waiting = False
        self._spaces: tuple | None = None  # (action space, observation space), once the worker has built its env

    def ready(self) -> EnvWorker:
        """Wait until the worker has built its environment (raising its error if it could not)."""
        if self._spaces is None:
            try:
                self._spaces = self._receive()
            except BaseException:
                self.close()
                raise
        return self

    @property
    def action_space(self):
        return self.ready()._spaces[0]

    @property
    def observation_space(self):
        return self.ready()._spaces[1]

    def call_async(self, method: str, *args: Any, **kwargs: Any) -> None:
        """Send a call; :meth:`result` waits for its answer."""
        self.ready()
        if self._waiting:
            raise RuntimeError(f"{self._name}: a call is still waiting for its result")
        self._connection.send((method, args, kwargs))
        self._waiting = True

    def result(self) -> Any:
        self._waiting = False
        return self._receive()

    def _call(self, method: str, *args: Any, **kwargs: Any) -> Any:
        self.call_async(method, *args, **kwargs)
        return self.result()

    def _receive(self) -> Any:
        try:
            status, value = self._connection.recv()
        except (EOFError, OSError):
            raise RuntimeError(f"{self._name} exited (exit code {self._process.poll()})") from None
        if status == "error":  # the worker's error, of its builtin class, naming the worker; its traceback as a note
            kind, message, trace = value
            try:
                error = kind(f"{self._name}: {message}")
            except TypeError:  # a builtin error with other arguments (UnicodeDecodeError, ...)
                error = RuntimeError(f"{self._name}: {kind.__name__}: {message}")
            error.add_note(f"in the worker:\n{trace}")
            raise error
        return value

    @property
    def _name(self) -> str:
        return f"environment worker {self.spec_.task} (pid {self._process.pid})"

    def set_distractor(self, colour_set: str) -> None:
        self._call("set_distractor", colour_set)

    def evaluation_set(self, training_set: str) -> str:
        return self._call("evaluation_set", training_set)

    def reset(self, *, seed: int | None = None) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
        return self._call("reset", seed=seed)

    def step(self, action: np.ndarray) -> tuple:
        return self._call("step", action)

    def close(self) -> None:
        if self._process.poll() is None:
            try:
                self._connection.send(("close", (), {}))
            except OSError:
                pass
            try:
                self._process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()
        self._connection.close()


def start_workers(spec: EnvSpec, count: int) -> list[EnvWorker]:
    """``count`` workers of ``spec``, started together (each builds its environment at the same time) and
    ready: an environment that cannot be built fails here, not at its first step."""
    workers = [EnvWorker(spec) for _ in range(count)]
    try:
        return [worker.ready() for worker in workers]
    except BaseException:
        for worker in workers:
            worker.close()
        raise


def make_envs(spec: EnvSpec, count: int, *, workers: bool) -> list:
    """``count`` environments of ``spec``: in worker processes (:func:`start_workers`) or in this one."""
    if workers:
        return start_workers(spec, count)
    return [make_env_from_spec(spec) for _ in range(count)]


def call_all(envs: list, method: str, args: list[tuple], kwargs: list[dict] | None = None) -> list:
    """``getattr(envs[i], method)(*args[i], **kwargs[i])`` for every ``i``: worker environments all at once
    (every call sent before any result is awaited), in-process ones in turn. Returns the results in order."""
    kwargs = kwargs or [{} for _ in envs]
    calls = list(zip(envs, args, kwargs, strict=True))
    for env, a, k in calls:
        if isinstance(env, EnvWorker):
            env.call_async(method, *a, **k)
    return [env.result() if isinstance(env, EnvWorker) else getattr(env, method)(*a, **k) for env, a, k in calls]


def step_all(envs: list, actions: np.ndarray) -> list[tuple]:
    """Step ``envs[i]`` with ``actions[i]``, side by side where the environments are workers."""
    return call_all(envs, "step", [(action,) for action in actions])


def reset_all(envs: list, seeds: list[int]) -> list[tuple]:
    """Reset ``envs[i]`` with ``seeds[i]`` (reset renders the first frame), side by side where they are workers."""
    return call_all(envs, "reset", [() for _ in envs], [{"seed": seed} for seed in seeds])


if __name__ == "__main__":  # a worker: python -m diswm.envs.workers FD SPEC_JSON
    _serve(Connection(int(sys.argv[1])), EnvSpec(**json.loads(sys.argv[2])))
