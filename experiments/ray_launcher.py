"""``diswm reproduce --launcher ray``: each level's stages as Ray tasks, on a local instance or a cluster.

- **Node loss**: a stage whose worker or node dies is retried by Ray (``max_retries`` times, default
  :data:`MAX_RETRIES`) and resumes from its last checkpoint (every stage resumes exactly); a stage that fails by
  itself (a bad config, a failed check: a non-zero exit) is not retried. Each attempt is recorded in the run's
  info (``launch``: attempt, node, CPUs) and in ``$DISWM_HOME/.ray_launch/<token>/``.
- **Shared storage**: before any stage runs, the driver writes a token into ``$DISWM_HOME`` and a probe task on
  every alive node reads it; a node that cannot fails the reproduce with one line naming it, the path and the
  fix. Every stage checks the token again on the node it lands on (nodes that joined later).
- **Resources**: each stage asks Ray for ``cpus_per_stage`` CPUs (or ``1 / runs_per_gpu`` of a GPU) and sets
  torch's, OpenMP's and Mesa llvmpipe's threads to them, so stages sharing a node do not oversubscribe it.
- **Progress**: every ``progress_every`` seconds the driver prints each unfinished stage, its node and attempt,
  and how far its newest record has got; a stage that fails prints its own last error line.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import importlib
import io
import json
import os
import sys
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from diswm.atomic import write_json
from diswm.paths import outputs_home
from diswm_app import SOURCE_ROOT
from diswm_app.experiments.common import GPU_MEMORY_ENV, LAUNCH_ENV  # the stage records $DISWM_LAUNCH in its info

MAX_RETRIES = 3  # attempts after the first when a stage's worker or node dies
STORAGE_EXIT = 3  # a stage's node cannot see the driver's DISWM_HOME
THREAD_VARIABLES = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "LP_NUM_THREADS")

Stage = tuple[str, list[str]]


class SharedStorageError(RuntimeError):
    """A Ray node does not see the driver's ``DISWM_HOME`` (one line: the node, the path, the fix)."""


def stage_key(stage: str, argv: list[str]) -> str:
    return hashlib.sha1(json.dumps([stage, argv]).encode()).hexdigest()[:12]


def storage_message(node: str, token_path: str) -> str:
    home = str(Path(token_path).parents[2])
    return (f"Ray node {node} cannot see {token_path}: DISWM_HOME={home} is not shared with it; mount shared "
            f"storage at {home} on every node, or set DISWM_HOME to a path every node shares")


def this_node() -> tuple[str, str]:
    """(node id, IP address) of the Ray node this runs on."""
    import ray

    return ray.get_runtime_context().get_node_id(), ray.util.get_node_ip_address()


def probe(token_path: str, token: str) -> dict[str, Any]:
    """On one node: whether the driver's token is readable at its path."""
    node_id, ip = this_node()
    path = Path(token_path)
    return {"node_id": node_id, "ip": ip, "sees": path.is_file() and path.read_text() == token}


def check_shared_storage(ray, token_path: Path, token: str) -> int:
    """A probe on every alive node; the number of nodes checked, or :class:`SharedStorageError`."""
    from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

    remote = ray.remote(num_cpus=0, max_retries=0)(probe)
    nodes = [node for node in ray.nodes() if node.get("Alive")]
    reports = ray.get([remote.options(scheduling_strategy=NodeAffinitySchedulingStrategy(node["NodeID"], soft=False))
                       .remote(str(token_path), token) for node in nodes])
    for report in reports:
        if not report["sees"]:
            raise SharedStorageError(storage_message(f"{report['ip']} ({report['node_id'][:8]})", str(token_path)))
    return len(reports)


def limit_threads(cpus: int) -> None:
    """Torch, OpenMP/BLAS and Mesa llvmpipe (the renderer; read when its first context is made) use ``cpus``."""
    for name in THREAD_VARIABLES:
        os.environ[name] = str(cpus)
    import torch

    torch.set_num_threads(cpus)


def record_attempt(folder: Path, stage: str, argv: list[str], node: tuple[str, str], cpus: int) -> int:
    """Append this attempt to the stage's attempts file (under a kernel lock); its number, from 1."""
    path = folder / f"{stage_key(stage, argv)}.json"
    with open(folder / ".lock", "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        record = json.loads(path.read_text()) if path.is_file() else {"stage": stage, "argv": argv, "attempts": []}
        record["attempts"].append({"node_id": node[0], "ip": node[1], "cpus": cpus, "pid": os.getpid(),
                                   "started": datetime.now(UTC).isoformat(timespec="seconds")})
        write_json(path, record)
    return len(record["attempts"])


class LastLine(io.TextIOBase):
    """A stderr that passes everything through and keeps the last non-empty line."""

    def __init__(self, stream):
        self.stream, self.last, self._partial = stream, "", ""

    def write(self, text: str) -> int:
        self.stream.write(text)
        lines = (self._partial + text).split("\n")
        self._partial = lines.pop()
        for line in lines:
            if line.strip():
                self.last = line.strip()
        return len(text)

    def flush(self) -> None:
        self.stream.flush()


def run_stage_task(stage: str, argv: list[str], memory_fraction: float | None, cpus: int, token_path: str,
                   token: str) -> tuple[int, str]:
    """One stage in a Ray worker: check the shared storage, record the attempt, bound threads (and GPU memory),
    run the stage's Sacred experiment. Returns its exit status and its last error line."""
    node = this_node()
    if not (Path(token_path).is_file() and Path(token_path).read_text() == token):
        message = storage_message(f"{node[1]} ({node[0][:8]})", token_path)
        print(f"error: {message}", file=sys.stderr)
        return STORAGE_EXIT, message
    attempt = record_attempt(Path(token_path).parent, stage, argv, node, cpus)
    os.environ[LAUNCH_ENV] = json.dumps({"launcher": "ray", "attempt": attempt, "retries": attempt - 1,
                                         "node_id": node[0], "ip": node[1], "cpus": cpus,
                                         "stage_key": stage_key(stage, argv)})
    if memory_fraction is None:
        os.environ.pop(GPU_MEMORY_ENV, None)
    else:
        os.environ[GPU_MEMORY_ENV] = f"{memory_fraction:g}"
    limit_threads(cpus)
    errors = LastLine(sys.stderr)
    with contextlib.redirect_stderr(errors):
        try:
            code = importlib.import_module(f"diswm_app.experiments.{stage}").run_cli(argv)
        except SystemExit as exit_:  # a stage's own failure (a bad input): an exit status, not a dead worker to retry
            code = exit_.code if isinstance(exit_.code, int) else 1
    return code, errors.last


def progress_lines(folder: Path, level: list[Stage], done: set[int], runs_dir: Path) -> list[str]:
    """One line per unfinished stage: where its last attempt runs and how far its newest record has got."""
    lines = []
    for index, (stage, argv) in enumerate(level):
        if index in done:
            continue
        key = stage_key(stage, argv)
        path = folder / f"{key}.json"
        attempts = json.loads(path.read_text())["attempts"] if path.is_file() else []
        where = f"on {attempts[-1]['ip']} ({attempts[-1]['node_id'][:8]}), attempt {len(attempts)}" if attempts \
            else "waiting for resources"
        lines.append(f"  diswm {stage} {' '.join(argv)}: {where}{record_progress(runs_dir / stage, key)}")
    return lines


def record_progress(folder: Path, key: str) -> str:
    """``, at step N`` from the newest record of the stage (its metrics' furthest step), or ``""``."""
    newest = None
    for info in folder.glob("[0-9]*/info.json") if folder.is_dir() else ():  # Sacred's file storage
        with contextlib.suppress(OSError, ValueError):
            if json.loads(info.read_text()).get("launch", {}).get("stage_key") == key:
                newest = max(newest or info, info, key=lambda p: int(p.parent.name))
    if newest is None:
        return ""
    with contextlib.suppress(OSError, ValueError):
        metrics = json.loads((newest.parent / "metrics.json").read_text())
        steps = [max(series["steps"]) for series in metrics.values() if series.get("steps")]
        if steps:
            return f", at step {max(steps):,}"
    return ""


def launch_ray(levels: list[list[Stage]], label: str, check, address: str | None = None,
               init_options: dict[str, Any] | None = None, runs_per_gpu: int = 1, cpus_per_stage: int = 1,
               max_retries: int = MAX_RETRIES, progress_every: float = 60.0) -> None:
    """Run ``levels`` as Ray tasks, a level after the one before; ``check`` gets each level's
    ``[((stage, argv), code, last_error_line), ...]`` and raises when a stage failed."""
    try:
        import ray
    except ImportError as error:  # the `ray` extra; environment.lock has it
        raise RuntimeError("--launcher ray needs Ray: pip install 'diswm[ray]'") from error
    home = outputs_home()
    env_vars = {"DISWM_HOME": str(home),
                "PYTHONPATH": os.pathsep.join(filter(None, [str(SOURCE_ROOT), os.environ.get("PYTHONPATH")]))}
    started = not ray.is_initialized()
    if started:
        ray.init(address=address, runtime_env={"env_vars": env_vars}, **(init_options or {}))
    token = uuid.uuid4().hex
    folder = home / ".ray_launch" / token
    folder.mkdir(parents=True)
    token_path = folder / "token"
    token_path.write_text(token)
    try:
        nodes = check_shared_storage(ray, token_path, token)
        print(f"[reproduce] {label}: {nodes} Ray node(s) see DISWM_HOME={home}", flush=True)
        gpus = 1 / runs_per_gpu if ray.cluster_resources().get("GPU", 0) >= 1 else 0
        task = ray.remote(num_cpus=0 if gpus else cpus_per_stage, num_gpus=gpus, max_retries=max_retries,
                          retry_exceptions=False)(run_stage_task)
        share = f" ({gpus:g} GPU)" if gpus else f" ({cpus_per_stage} CPU)"
        for level in levels:
            for stage, argv in level:
                print(f"[reproduce] {label}: ray task{share}: diswm {stage} {' '.join(argv)}", flush=True)
            refs = [task.remote(stage, argv, gpus if runs_per_gpu > 1 and gpus else None, cpus_per_stage,
                                str(token_path), token) for stage, argv in level]
            results = wait_level(ray, refs, level, label, folder, home / "runs", max_retries, progress_every)
            check(results)
    finally:
        with contextlib.suppress(OSError):
            token_path.unlink()
        if started:
            ray.shutdown()


def wait_level(ray, refs: list, level: list[Stage], label: str, folder: Path, runs_dir: Path, max_retries: int,
               progress_every: float) -> list[tuple[Stage, int, str]]:
    results: dict[int, tuple[int, str]] = {}
    index_of = {ref: i for i, ref in enumerate(refs)}
    pending, last_print = list(refs), time.monotonic()
    while pending:
        ready, pending = ray.wait(pending, num_returns=1, timeout=min(progress_every, 5.0))
        for ref in ready:
            try:
                results[index_of[ref]] = tuple(ray.get(ref))
            except ray.exceptions.RayError as error:  # its node or worker died more than max_retries times
                first = (str(error).strip().splitlines() or [type(error).__name__])[0]
                results[index_of[ref]] = (1, f"lost its Ray worker or node {max_retries + 1} times ({first})")
        if pending and time.monotonic() - last_print >= progress_every:
            last_print = time.monotonic()
            print(f"[reproduce] {label}: {len(results)}/{len(refs)} stages of this level done", flush=True)
            for line in progress_lines(folder, level, set(results), runs_dir):
                print(line, flush=True)
    return [(level[i], *results[i]) for i in range(len(refs))]
