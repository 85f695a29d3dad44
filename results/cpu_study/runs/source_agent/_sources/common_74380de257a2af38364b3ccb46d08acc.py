"""What every Sacred experiment shares: where outputs go, observers, and provenance records."""

from __future__ import annotations

import contextlib
import inspect
import json
import os
import platform
import signal
import subprocess
import sys
import threading
import warnings
from collections.abc import Callable
from dataclasses import fields
from importlib import metadata
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

warnings.filterwarnings("ignore", message="pkg_resources is deprecated")  # sacred 0.8.7 imports it

from sacred import Experiment  # noqa: E402
from sacred.observers import FileStorageObserver  # noqa: E402
from sacred.settings import SETTINGS  # noqa: E402
from sacred.utils import apply_backspaces_and_linefeeds  # noqa: E402

from diswm.atomic import atomic_writer  # noqa: E402
from diswm.checkpoint import LOCATION_KEYS  # noqa: E402
from diswm.config_io import dataclass_from_dict  # noqa: E402
from diswm.configs import leaf_paths, merge  # noqa: E402
from diswm.lock import FolderLockedError  # noqa: E402
from diswm.paths import outputs_home  # noqa: E402
from diswm_app import REPOSITORY  # noqa: E402

# tqdm progress bars in captured output: keep the last state of each line only.
SETTINGS.CAPTURE_MODE = "sys"
MONGO_ENV = "DISWM_MONGO_URL"
RECORDED_PACKAGES = ("diswm", "torch", "numpy", "mujoco", "dm_control", "gymnasium", "sacred", "scikit-learn")


def stage_settings(cls, config: dict[str, Any], **changes: Any):
    """A stage's settings dataclass from its Sacred config, with ``changes`` on top (keys that are not fields of
    ``cls``, such as the run's own ``method`` or ``scale``, are left out). An ``env`` section must agree with
    the run's own ``task`` and ``seed``: its copies follow them, and are not set on their own."""
    settings = dataclass_from_dict(cls, {**config, **changes})
    env = getattr(settings, "env", None)
    if env is not None and (env.task, env.seed) != (config["task"], config["seed"]):
        raise ValueError(f"env.task={env.task!r}, env.seed={env.seed} disagree with task={config['task']!r}, "
                         f"seed={config['seed']}: set task= and seed=, not their env copies")
    return settings


def default_device() -> str:
    """``cuda`` when PyTorch sees a GPU, else ``cpu``: the stages' default ``device``."""
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


class StageExperiment(Experiment):
    """A Sacred experiment whose nested settings can also be set by a bare leaf name: ``eta_max=0.05`` sets
    ``world_model.eta_max``, and a name under several sections (``units``) sets each of them. The names that
    are keys of the config's top level (``aliases`` leaves them out) keep their own meaning."""

    def __init__(self, name: str, aliases: dict[str, list[tuple[str, ...]]] | None = None):
        super().__init__(name, save_git_info=False)  # git state is recorded in provenance() instead
        self.aliases = aliases or {}

    def expand(self, updates: dict[str, Any] | None) -> dict[str, Any] | None:
        """``updates`` with every bare leaf name replaced by its full paths (explicit paths win)."""
        if not updates or not self.aliases:
            return updates
        expanded: dict[str, Any] = {}
        for key, value in updates.items():
            for path in self.aliases.get(key, [(key,)]):
                node = expanded
                for part in path[:-1]:
                    node = node.setdefault(part, {})
                node[path[-1]] = value
        return merge(expanded, {k: v for k, v in updates.items() if k not in self.aliases})

    def _create_run(self, command_name=None, config_updates=None, *args, **kwargs):
        return super()._create_run(command_name, self.expand(config_updates), *args, **kwargs)


def new_experiment(name: str, settings: type | None = None, top_level: tuple[str, ...] = ()) -> StageExperiment:
    """The Sacred experiment of a stage; ``settings``: the stage's config dataclass, whose nested fields take
    bare-name overrides (leaf names that are ``top_level`` config keys or top-level fields excepted)."""
    aliases = {} if settings is None else {
        name: paths for name, paths in leaf_paths(settings).items()
        if name not in top_level and name not in {field.name for field in fields(settings)}}
    experiment = StageExperiment(name, aliases)
    experiment.captured_out_filter = apply_backspaces_and_linefeeds
    # Sacred records the file that created the Experiment (this one): add the experiment's own file too
    experiment.add_source_file(inspect.stack()[1].filename)
    return experiment


class RecordObserver(FileStorageObserver):
    """Sacred's FileStorageObserver with whole files: ``cout.txt`` rewritten with the complete (filtered) output
    at every heartbeat (Sacred appends from a cursor into text that its filter has since shortened, and the file
    stopped mid progress bar), and JSON files replaced atomically (a kill while writing leaves the old file, not
    an empty one)."""

    def save_cout(self):
        with atomic_writer(Path(self.dir) / "cout.txt", "w") as handle:
            handle.write(self.cout)

    def save_json(self, obj, filename):
        from sacred.serializer import flatten

        with atomic_writer(Path(self.dir) / filename, "w") as handle:
            json.dump(flatten(obj), handle, sort_keys=True, indent=2)


def run_name(experiment: str, config: dict[str, Any]) -> str:
    """What a run is, as the runs list of Omniboard shows it: ``finetune diswm finger_spin→reacher_easy smoke
    seed 0``, ``pretrain beta_vae β=0.015 finger_spin cpu seed 0``, ``source_agent cheetah_run paper seed 1``."""
    parts = [experiment]
    if "method" in config:
        parts.append(str(config["method"]))
    if experiment == "pretrain" and "image_model" in config:
        parts.append(config["image_model"] + (f" β={config['beta']}" if config["image_model"] == "beta_vae" else ""))
    if experiment == "collect" and "policy" in config:
        parts.append(str(config["policy"]))
    if experiment == "evaluate" and "part" in config:  # what it scores: the encoder's latents, the agent's returns
        parts += [str(config["part"])] if config.get("disentanglement", True) else []
        episodes = config.get("episodes")
        parts += [f"returns x{episodes} {config.get('colour_set', 'train')}"] if episodes else []
    if "source" in config and "task" in config and experiment == "finetune":
        parts.append(f"{config['source']}→{config['task']}")
    elif "task" in config:
        parts.append(str(config["task"]))
    parts += [str(config["scale"])] if "scale" in config else []
    parts += [f"seed {config['seed']}"] if "seed" in config else []
    folder = Path(str(config.get("out_dir") or ""))
    if experiment == "finetune" and "-" in folder.name:  # other settings than the method's own: their digest
        parts.append(f"· {folder.name.rsplit('-', 1)[1]}")
    return " ".join(parts)


def resolve_config(experiment: Experiment, argv: list[str]) -> dict[str, Any]:
    """The config that the command line ``argv`` (``[COMMAND] with <named> <key=value> ... [options]``) gives
    ``experiment``'s main command, resolved without running anything."""
    from sacred.arg_parser import get_config_updates
    from sacred.initialize import create_run

    updates, named = get_config_updates([a for a in argv[argv.index("with") + 1:] if not a.startswith("-")]) \
        if "with" in argv else ({}, [])
    expanded = experiment.expand(updates) if isinstance(experiment, StageExperiment) else updates
    return dict(create_run(experiment, experiment.default_command, expanded, named_configs=named).config)


def describe(experiment: Experiment, argv: list[str]) -> str | None:
    """:func:`run_name` of the run that ``argv`` starts; None when its config does not resolve (the run itself
    then reports why)."""
    try:
        config = resolve_config(experiment, argv)
    except Exception:  # noqa: BLE001 - a bad value: the run reports it in one line
        return None
    return run_name(experiment.path, config)


#: where the file records go instead of ``$DISWM_HOME/runs`` (the cpu study keeps its records in the repository and
#: its checkpoints outside it)
RUNS_ENV = "DISWM_RUNS_DIR"


def records_dir() -> Path:
    """Where the command line's file records go: ``$DISWM_RUNS_DIR``, else ``$DISWM_HOME/runs``."""
    return Path(os.environ.get(RUNS_ENV) or outputs_home() / "runs")


def completed_record(experiment: str, out_dir: str) -> Path | None:
    """A COMPLETED file record of ``experiment`` whose ``out_dir`` is ``out_dir`` (None: there is none)."""
    for folder in sorted((records_dir() / experiment).glob("[0-9]*")):
        try:
            status = json.loads((folder / "run.json").read_text()).get("status")
            config = json.loads((folder / "config.json").read_text())
        except (OSError, ValueError):
            continue
        if status == "COMPLETED" and str(config.get("out_dir")) == str(out_dir):
            return folder
    return None


def attach_observers(experiment: Experiment, runs_dir: Path | str | None = None) -> None:
    """File records under ``runs/<experiment>/`` (``$DISWM_RUNS_DIR/<experiment>/`` when set); also MongoDB when
    ``$DISWM_MONGO_URL`` is set.

    Called from command-line entry points only, so tests and library callers of ``ex.run`` choose
    their own observers.
    """
    runs_dir = records_dir() if runs_dir is None else Path(runs_dir)
    experiment.observers.clear()  # idempotent: entry points may run several times in one process
    experiment.observers.append(RecordObserver(str(runs_dir / experiment.path)))
    url = os.environ.get(MONGO_ENV)
    if url:
        experiment.observers.append(mongo_observer(url))


def run_command_line(experiment: Experiment, argv: list[str],
                     finished: Callable[[dict[str, Any]], str | None] | None = None) -> int:
    """Run ``experiment`` from command-line arguments (``with ...``) with observers; return an exit code.

    ``finished(config)`` says why the run's work is already done (its checkpoint complete, for these settings), or
    None; when it is done and a COMPLETED record of it exists, nothing runs and no new record is written (one line
    says so), so rerunning finished work never adds empty runs to Omniboard.

    SIGTERM (what ``timeout``, Ray and Docker send) is handled like Ctrl-C: the run's record is marked
    INTERRUPTED instead of staying RUNNING, and the stages' checkpoints, written atomically, stay consistent.
    """
    if finished is not None and (not argv or argv[0] in ("with", experiment.default_command)):
        reason = already_done(experiment, argv, finished)
        if reason:
            print(f"[{experiment.path}] {reason}: nothing to do, no new run record")
            return 0
    attach_observers(experiment)
    name = describe(experiment, argv) if not any(a in ("-n", "--name") or a.startswith("--name=") for a in argv) \
        else None
    try:
        with sigterm_as_interrupt(), one_line_input_errors():
            run = experiment.run_commandline([experiment.path, *argv, *([f"--name={name}"] if name else [])])
    finally:  # leave no observer behind on the module-level experiment (later runs in this process choose theirs)
        experiment.observers.clear()
    return 0 if run is not None and run.status == "COMPLETED" else 1


def already_done(experiment: Experiment, argv: list[str], finished: Callable[[dict[str, Any]], str | None]
                 ) -> str | None:
    """``finished``'s reason for the run ``argv`` starts, when a COMPLETED record of that run also exists; None
    when either is missing, or the config does not resolve (the run itself then reports why)."""
    try:
        config = resolve_config(experiment, [a for a in argv if a != experiment.default_command])
        reason = finished(config)
    except Exception:  # noqa: BLE001 - a bad value or a damaged file: the run reports it in its own way
        return None
    if reason and completed_record(experiment.path, config["out_dir"]) is not None:
        return reason
    return None


#: set by ``reproduce --launcher ray --runs-per-gpu K`` in each stage's worker: the fraction of the GPU's memory
#: the stage may use (``torch.cuda.set_per_process_memory_fraction``), recorded in its run's info
GPU_MEMORY_ENV = "DISWM_GPU_MEMORY_FRACTION"


#: set by the Ray launcher for the stage it runs (diswm_app.experiments.ray_launcher.LAUNCH_ENV): its attempt, node
LAUNCH_ENV = "DISWM_LAUNCH"


def bound_gpu_memory(run, device: str) -> None:
    """Bound this process's share of the GPU's memory to ``$DISWM_GPU_MEMORY_FRACTION`` (when set) and record
    it as ``gpu_memory_fraction`` in the run's info (``applied``: whether the stage runs on a GPU); record the
    launcher's ``$DISWM_LAUNCH`` (attempt, retries, node, CPUs) as ``launch``."""
    if os.environ.get(LAUNCH_ENV):
        run.info["launch"] = json.loads(os.environ[LAUNCH_ENV])
    value = os.environ.get(GPU_MEMORY_ENV)
    if not value:
        return
    fraction = float(value)
    applied = str(device).startswith("cuda")
    if applied:
        import torch

        torch.cuda.set_per_process_memory_fraction(fraction, torch.device(device))
    run.info["gpu_memory_fraction"] = {"fraction": fraction, "applied": applied}


#: errors that name a bad input (a value, a file): shown as one line, without the traceback (``-d`` shows it)
INPUT_ERRORS = (ValueError, FileNotFoundError, FolderLockedError)


#: config keys that say where and how a run executes, not what it computes
EXECUTION_KEYS = frozenset({"out_dir", "device", "compile", "cuda_graph", "eval_batch", "eval_workers"})
#: what does not change a run's result: how it ran and where it read and wrote (paths differ between homes)
NOT_IDENTITY = EXECUTION_KEYS | LOCATION_KEYS


def identity(config: dict[str, Any]) -> dict[str, Any]:
    """The settings that determine a run's result, budget included, as JSON data (paths and devices left out)."""
    return json.loads(json.dumps({k: v for k, v in config.items() if k not in NOT_IDENTITY}, default=str))


def settings_differences(config: dict[str, Any], baseline: dict[str, Any], prefix: str = "") -> dict[str, list[Any]]:
    """``{dotted path: [baseline value, value]}`` for every setting of ``config`` that is not ``baseline``'s
    (:data:`EXECUTION_KEYS` aside): what makes a run other than the default run of its method and scale."""
    found: dict[str, list[Any]] = {}
    for key, value in sorted(config.items()):
        if not prefix and key in EXECUTION_KEYS:
            continue
        base = baseline.get(key)
        if isinstance(value, dict) and isinstance(base, dict):
            found.update(settings_differences(value, base, f"{prefix}{key}."))
        elif base != value:
            found[f"{prefix}{key}"] = [base, value]
    return found


def check_choice(name: str, value: Any, allowed) -> None:
    """For config scopes: a value with a domain, refused with one line naming it and the allowed ones."""
    if value not in allowed:
        raise ValueError(f"{name}={value!r} is not allowed; expected one of: {', '.join(map(str, allowed))}")


def check_at_least(name: str, value: Any, minimum: int) -> None:
    if not isinstance(value, int) or isinstance(value, bool) or value < minimum:
        raise ValueError(f"{name}={value!r} is not allowed; expected an integer >= {minimum}")


@contextlib.contextmanager
def one_line_input_errors():
    """Sacred prints a traceback for any error of a run; for :data:`INPUT_ERRORS` print one line instead."""
    import sacred.experiment

    original = sacred.experiment.print_filtered_stacktrace

    def print_error() -> None:
        error = sys.exc_info()[1]
        if isinstance(error, INPUT_ERRORS):
            print(f"error: {error} (run with -d for the traceback)", file=sys.stderr)
        else:
            original()

    sacred.experiment.print_filtered_stacktrace = print_error
    try:
        yield
    finally:
        sacred.experiment.print_filtered_stacktrace = original


@contextlib.contextmanager
def sigterm_as_interrupt():
    """Within the block, SIGTERM raises KeyboardInterrupt (as SIGINT does); the old handler is restored after.
    Only in the main thread, where Python delivers signals; elsewhere a no-op."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def interrupt(signum, frame):
        raise KeyboardInterrupt(f"signal {signal.Signals(signum).name}")

    previous = signal.signal(signal.SIGTERM, interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def mongo_observer(url: str):
    """A MongoObserver for ``mongodb://host:port/<db>`` (database ``sacred`` when the URL names none), with our
    Omniboard columns installed in that database (as ``diswm records import`` does), so that runs recorded live show
    method, source, task, scale, seed and the last evaluation return in Omniboard's runs list."""
    from sacred.observers import MongoObserver

    from diswm_app.experiments.omniboard import install_columns

    observer = MongoObserver(url=url, db_name=mongo_db_name(url))
    install_columns(observer.runs.database)
    return observer


def mongo_db_name(url: str) -> str:
    return urlparse(url).path.lstrip("/") or "sacred"


def provenance() -> dict[str, Any]:
    """Package versions, git commit and machine, for ``_run.info``."""
    versions = {}
    for package in RECORDED_PACKAGES:
        try:
            versions[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            versions[package] = None
    return {
        "versions": versions,
        "git": git_state(REPOSITORY),
        "python": platform.python_version(),
        "machine": {"platform": platform.platform(), "processor": platform.processor(), "cpus": os.cpu_count()},
    }


def git_state(directory: Path) -> dict[str, Any] | None:
    def git(*args: str) -> str:
        return subprocess.run(
            ["git", "-C", str(directory), *args], capture_output=True, text=True, check=True, timeout=10
        ).stdout.strip()

    try:
        return {"commit": git("rev-parse", "HEAD"), "dirty": bool(git("status", "--porcelain"))}
    except (OSError, subprocess.SubprocessError):  # no git or no .git: the Docker image says what it was built from
        commit = os.environ.get("DISWM_GIT_COMMIT")
        return {"commit": commit, "dirty": None, "from": "image build argument"} if commit else None
