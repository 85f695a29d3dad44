"""The cpu-scale study (issue 24; plan: ``results/cpu_study/PLAN.md``, committed before its first run): DisWM
against its w/o-distillation ablation and DreamerV2 on Reacher Easy -> Cheetah Run, three seeds each, at the
cpu scale (the paper's recipe over its first 100k env steps with small networks).

    diswm cpu-study run [--parallel 2] [--hours H] [--dry-run]   # start or resume whatever is unfinished
    diswm cpu-study status                                       # every stage: done, running, waiting, and why
    diswm cpu-study analyse                                      # results/cpu_study/summary.json and the figure

``run`` is one resumable driver: it starts the unfinished stages of the plan, ``--parallel`` at a time (two
share the two cores, one thread each), in the plan's order and as their inputs exist (the source agent, its
gate, the teacher, then the DisWM seeds; the baselines need neither). Every stage is an ordinary ``diswm``
command (``--dry-run`` prints them), recording into ``results/cpu_study/runs`` (Sacred file storage) with its
checkpoints, replay and videos under ``$DISWM_STUDY_HOME`` (default ``~/.local/share/diswm/cpu_study``: outside
the repository). A stage is done when its checkpoint says so, so a finished stage is never started again
(no empty record). On SIGTERM or SIGINT, or after ``--hours``, the driver stops its stages the way ``timeout``
does (each records INTERRUPTED and keeps its last checkpoint, at most ``CHECKPOINT_EVERY`` steps old) and exits;
rerunning resumes them exactly.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from diswm.lock import lock_holder
from diswm_app import REPOSITORY
from diswm_app.experiments.common import RUNS_ENV

STUDY_DIR = REPOSITORY / "results" / "cpu_study"
HOME_ENV = "DISWM_STUDY_HOME"

# --- the plan (results/cpu_study/PLAN.md says the same in words; tests hold the two together) ------------------
SCALE = "cpu"
SOURCE, FALLBACK_SOURCE, TASK = "reacher_easy", "walker_walk", "cheetah_run"
ARMS = ("diswm", "no_distill", "dreamerv2")
SEEDS = (0, 1, 2)
EXTRA_SEEDS = (3, 4)  # added to every arm when the decision is inconclusive (PLAN.md, "Decision")
ENV_STEPS = 100_000  # the cpu scale's budget
EVAL_EVERY = 5_000  # env steps between evaluations (the cpu scale's 10k halved: 20 points per curve)
#: env (control) steps between finetune checkpoints: ~7 min of a run sharing two cores with another (~5.5 h per
#: 100k env steps), so a stopped session loses at most that much
CHECKPOINT_EVERY = 2_000
#: the source agent's: logged steps (action repeat x agent steps), i.e. the same 2,000 control steps
SOURCE_CHECKPOINT_EVERY = 2_000
GATE_RETURN = 300.0  # the mean of the source agent's last two evaluations must reach this (random policy: ~56)
PRIMARY_FROM = 0.8  # primary score: the evaluations at >= 80% of the budget (after the colour switch at 50%)


def study_home() -> Path:
    return Path(os.environ.get(HOME_ENV) or Path.home() / ".local" / "share" / "diswm" / "cpu_study").expanduser()


def runs_dir() -> Path:
    return STUDY_DIR / "runs"


@dataclass(frozen=True)
class Stage:
    """One ``diswm`` command of the study: its name, its command line and where its checkpoint is."""

    name: str
    command: tuple[str, ...]  # diswm <stage> with ...

    @property
    def experiment(self) -> str:
        return self.command[0]


def source_stage(source: str) -> Stage:
    return Stage(f"source_agent {source}", ("source_agent", "with", source, SCALE, "seed=0",
                                           f"checkpoint_every={SOURCE_CHECKPOINT_EVERY}"))


def teacher_stage(source: str) -> Stage:
    return Stage(f"teacher {source}", ("pretrain", "with", source, SCALE, "seed=0", "video_seed=0"))


def finetune_stage(arm: str, seed: int, source: str = SOURCE) -> Stage:
    # The baselines read no teacher: their runs are the same computation whatever the source (it names their
    # folder only), so a fallback source keeps them.
    return Stage(f"{arm} seed {seed}", ("finetune", "with", arm, SCALE, f"source={source}", f"task={TASK}",
                                        f"seed={seed}", f"env_steps={ENV_STEPS}", f"eval_every={EVAL_EVERY}",
                                        f"checkpoint_every={CHECKPOINT_EVERY}"))


def seeds_planned(home: Path | None = None) -> tuple[int, ...]:
    """The plan's seeds, with the declared extra ones once ``extra_seeds.json`` (written by ``analyse`` when its
    decision is inconclusive) exists."""
    extra = STUDY_DIR / "extra_seeds.json"
    return SEEDS + (EXTRA_SEEDS if extra.exists() else ())


# --- what each stage's files say ---------------------------------------------------------------------------------


def _env(home: Path) -> dict[str, str]:
    env = dict(os.environ)
    env.update({"DISWM_HOME": str(home), RUNS_ENV: str(runs_dir()), "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1",
                "MUJOCO_GL": env.get("MUJOCO_GL", "egl"), "PYTHONUNBUFFERED": "1"})
    return env


_RESOLVED: dict[tuple[Stage, Path], dict[str, Any]] = {}
_DONE: set[tuple[Stage, Path]] = set()


def resolved(stage: Stage, home: Path) -> dict[str, Any]:
    """The Sacred config ``stage``'s command resolves to under ``home`` (no run is made; cached: it is a function
    of the command and the home alone)."""
    if (stage, home) not in _RESOLVED:
        _RESOLVED[stage, home] = _resolve(stage, home)
    return _RESOLVED[stage, home]


def _resolve(stage: Stage, home: Path) -> dict[str, Any]:
    from diswm_app.experiments.common import resolve_config

    previous = os.environ.get("DISWM_HOME")
    os.environ["DISWM_HOME"] = str(home)
    try:
        module = __import__(f"diswm_app.experiments.{stage.experiment}", fromlist=["ex"])
        return resolve_config(module.ex, list(stage.command[1:]))
    finally:
        if previous is None:
            os.environ.pop("DISWM_HOME", None)
        else:
            os.environ["DISWM_HOME"] = previous


def _checkpoint(path: Path) -> dict[str, Any] | None:
    if not path.is_file():
        return None
    from diswm.checkpoint import load_checkpoint

    return load_checkpoint(path)


def stage_state(stage: Stage, home: Path) -> dict[str, Any]:
    """``{"done": bool, "progress": str, "evaluations": [...]}`` from the stage's checkpoint (or manifest)."""
    state = _read_state(stage, home)
    if state["done"]:
        _DONE.add((stage, home))
    return state


def is_done(stage: Stage, home: Path) -> bool:
    """Whether the stage has finished (remembered once true: a finished stage stays finished)."""
    return (stage, home) in _DONE or stage_state(stage, home)["done"]


def _read_state(stage: Stage, home: Path) -> dict[str, Any]:
    config = resolved(stage, home)
    if stage.experiment == "pretrain":
        state = _checkpoint(Path(config["out_dir"]) / "latest.pt")
        updates = state["updates"] if state else 0
        from diswm_app.experiments.pretrain import finished

        # the stage's own test (these settings and videos, the last update, encoder.pt), once the count says so
        return {"done": updates >= config["updates"] and finished(config) is not None,
                "progress": f"{updates}/{config['updates']} updates", "evaluations": []}
    state = _checkpoint(Path(config["out_dir"]) / "latest.pt")
    progress = state["progress"] if state else {"env_steps": 0, "agent_steps": 0, "eval_history": []}
    history = progress.get("eval_history", [])
    if stage.experiment == "source_agent":
        from diswm.data.collect import MANIFEST
        from diswm_app.experiments.source_agent import says_finished

        manifest = Path(config["dataset_dir"]) / MANIFEST
        done = manifest.is_file() and says_finished(manifest)
        return {"done": done, "progress": f"{progress['agent_steps']}/{config['frames']} frames",
                "evaluations": history}
    steps = progress["env_steps"]
    from diswm_app.experiments.finetune import finished

    # the stage's own test (these settings, budget spent), once the counter says so: the checkpoint is read twice
    # only then
    done = bool(state) and (steps >= config["env_steps"] or progress.get("stopped_early", False)) \
        and finished(config) is not None
    return {"done": done, "progress": f"{steps}/{config['env_steps']} env steps", "evaluations": history}


def gate(source: str, home: Path, running: frozenset[Stage] = frozenset()) -> dict[str, Any] | None:
    """The source agent's gate once it has finished: the mean of its last two evaluations against
    :data:`GATE_RETURN`; None while it runs."""
    if source_stage(source) in running:
        return None
    state = stage_state(source_stage(source), home)
    return gate_verdict(source, state["evaluations"]) if state["done"] else None


def gate_verdict(source: str, evaluations: list[dict[str, Any]]) -> dict[str, Any]:
    """The gate of a finished source agent from its evaluation history: the mean of the last two returns."""
    last = [record["return_mean"] for record in evaluations[-2:]]
    score = sum(last) / len(last)
    return {"source": source, "last_two_evaluations": last, "score": score, "threshold": GATE_RETURN,
            "passed": score >= GATE_RETURN}


def record_gate(result: dict[str, Any]) -> None:
    from diswm.atomic import write_json

    path = STUDY_DIR / f"gate_{result['source']}.json"
    if not path.exists():
        write_json(path, result)


def recorded_gates() -> dict[str, dict[str, Any]]:
    """The gates the driver has recorded (``gate_<source>.json`` in :data:`STUDY_DIR`), by source."""
    return {path.stem.removeprefix("gate_"): json.loads(path.read_text())
            for path in sorted(STUDY_DIR.glob("gate_*.json"))}


def diswm_source(gates: dict[str, dict[str, Any]]) -> str:
    """The source of DisWM's teacher under PLAN.md: the fallback once the first source's gate has failed."""
    return FALLBACK_SOURCE if gates.get(SOURCE, {}).get("passed") is False else SOURCE


# --- the schedule ------------------------------------------------------------------------------------------------


def plan_stages(home: Path, running: frozenset[Stage] = frozenset(),
                record: bool = False) -> list[tuple[Stage, str | None]]:
    """Every stage of the plan in priority order, each with why it must wait (None: it can start now). The
    source agent first (the critical path), then seed by seed: DisWM (once its teacher exists), w/o
    distillation, DreamerV2. ``running`` stages are taken as unfinished without reading their files. With
    ``record`` (the driver) a finished source agent's gate is written to ``gate_<source>.json``; status and
    dry runs only read."""

    def done(stage: Stage) -> bool:
        return stage not in running and is_done(stage, home)

    ordered: list[tuple[Stage, str | None]] = []
    gate_result = gate(SOURCE, home, running)
    ordered.append((source_stage(SOURCE), None))
    if gate_result is not None and record:
        record_gate(gate_result)
    source = diswm_source({SOURCE: gate_result} if gate_result is not None else {})
    if source == FALLBACK_SOURCE:
        ordered.append((source_stage(FALLBACK_SOURCE), None))
        fallback = gate(FALLBACK_SOURCE, home, running)
        if fallback is not None and record:
            record_gate(fallback)  # the fallback's teacher is used whatever its gate says (PLAN.md)
    source_done = done(source_stage(source))
    teacher = teacher_stage(source)
    ordered.append((teacher, None if source_done else f"waits for {source_stage(source).name}"))
    teacher_done = source_done and done(teacher)
    for seed in seeds_planned(home):
        for arm in ARMS:
            waits = None if arm != "diswm" or teacher_done else f"waits for {teacher.name}"
            ordered.append((finetune_stage(arm, seed, source if arm == "diswm" else SOURCE), waits))
    return ordered


def pending(home: Path, running: frozenset[Stage] = frozenset(), record: bool = False) -> list[Stage]:
    """The stages that can start now, are not done and are not ``running``, in priority order."""
    return [stage for stage, waits in plan_stages(home, running, record)
            if waits is None and stage not in running and not is_done(stage, home)]


def command_line(stage: Stage) -> list[str]:
    return [sys.executable, "-m", "diswm_app.cli", *stage.command]


def status_lines(home: Path) -> list[str]:
    lines = [f"cpu study: records {runs_dir()}, checkpoints {home}"]
    sources = {source_stage(source): source for source in (SOURCE, FALLBACK_SOURCE)}
    for stage, waits in plan_stages(home):
        state = stage_state(stage, home)
        evals = state["evaluations"]
        last = f", last evaluation {evals[-1]['return_mean']:.1f} at {evals[-1]['env_steps']}" if evals else ""
        holder = lock_holder(resolved(stage, home)["out_dir"])
        where = "done" if state["done"] else "running" if holder else (waits or "ready")
        if stage in sources and state["done"]:
            verdict = gate_verdict(sources[stage], evals)
            last += f"; gate {verdict['score']:.1f} {'>=' if verdict['passed'] else '<'} {GATE_RETURN:g}: " \
                    + ("passed" if verdict["passed"] else f"failed, DisWM's source is {FALLBACK_SOURCE}")
        lines.append(f"  {stage.name:<24} {where:<28} {state['progress']}{last}")
    return lines


class Driver:
    """Runs the plan's ready stages ``parallel`` at a time until all are done, ``hours`` pass, or a signal."""

    def __init__(self, home: Path, parallel: int, hours: float | None, poll: float = 60.0,
                 report_every: float = 600.0):
        self.home, self.parallel, self.poll, self.report_every = home, parallel, poll, report_every
        self.deadline = time.monotonic() + hours * 3600 if hours else None
        self.running: dict[Stage, subprocess.Popen] = {}
        self.failed: set[Stage] = set()
        self.stopping = False

    def _stop(self, signum, frame) -> None:  # noqa: ARG002 - a signal handler's signature
        self.stopping = True

    def start(self, stage: Stage) -> None:
        logs = self.home / "logs"
        logs.mkdir(parents=True, exist_ok=True)
        log = open(logs / f"{stage.name.replace(' ', '_')}.log", "a")  # noqa: SIM115 - the child owns it
        print(f"[cpu-study] start: diswm {' '.join(stage.command)}", flush=True)
        self.running[stage] = subprocess.Popen(command_line(stage), stdout=log, stderr=subprocess.STDOUT,
                                               env=_env(self.home), cwd=REPOSITORY, start_new_session=True)

    def reap(self) -> None:
        for stage, process in list(self.running.items()):
            code = process.poll()
            if code is None:
                continue
            del self.running[stage]
            if code != 0 and not self.stopping:
                self.failed.add(stage)  # not retried in this driver: its log says why; rerun the driver to retry
                print(f"[cpu-study] {stage.name} failed (exit {code}); see {self.home / 'logs'}", flush=True)
            else:
                print(f"[cpu-study] {stage.name} ended (exit {code})", flush=True)

    def stop_all(self) -> None:
        for process in self.running.values():
            os.killpg(process.pid, signal.SIGTERM)  # each stage records INTERRUPTED and keeps its checkpoint
        for stage, process in list(self.running.items()):
            try:
                process.wait(timeout=120)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)  # resumable from its last checkpoint all the same
                process.wait()
            print(f"[cpu-study] stopped {stage.name}", flush=True)
        self.running.clear()

    def run(self) -> int:
        previous = {s: signal.signal(s, self._stop) for s in (signal.SIGTERM, signal.SIGINT)}
        last_report = 0.0
        try:
            while not self.stopping:
                if self.deadline is not None and time.monotonic() >= self.deadline:
                    print("[cpu-study] time is up: stopping the stages (rerun to resume)", flush=True)
                    break
                self.reap()
                ready = [s for s in pending(self.home, frozenset(self.running), record=True) if s not in self.failed]
                while ready and len(self.running) < self.parallel:
                    self.start(ready.pop(0))
                if not self.running:
                    print("[cpu-study] nothing left to run" + (f"; failed: {', '.join(s.name for s in self.failed)}"
                                                               if self.failed else ""), flush=True)
                    return 1 if self.failed else 0
                if time.monotonic() - last_report >= self.report_every:
                    print("\n".join(status_lines(self.home)), flush=True)
                    last_report = time.monotonic()
                time.sleep(self.poll)
        finally:
            self.stop_all()
            for s, handler in previous.items():
                signal.signal(s, handler)
        return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="diswm cpu-study", description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    run = commands.add_parser("run", help="start or resume the unfinished stages, two at a time")
    run.add_argument("--parallel", type=int, default=2, help="stages at once (default 2: two cores)")
    run.add_argument("--hours", type=float, default=None, help="stop the stages after this long (rerun resumes)")
    run.add_argument("--dry-run", action="store_true", help="print the commands it would start, start nothing")
    commands.add_parser("status", help="every stage of the plan: done, ready or waiting, and its progress")
    analyse = commands.add_parser("analyse", help="summary.json and the figure from the records (partial too)")
    analyse.add_argument("--out", type=Path, default=STUDY_DIR, help="folder of summary.json and the figure")
    args = parser.parse_args(argv)
    home = study_home()
    if args.command == "status":
        print("\n".join(status_lines(home)))
        return 0
    if args.command == "analyse":  # `diswm cpu-study analyse` runs diswm_app.experiments.cpu_study_analysis
        raise SystemExit("run the analysis as `diswm cpu-study analyse`")
    if args.dry_run:
        for stage in pending(home):
            print("diswm " + " ".join(stage.command))
        waiting = [f"{stage.name} ({waits})" for stage, waits in plan_stages(home) if waits]
        if waiting:
            print("waiting: " + "; ".join(waiting))
        return 0
    print(f"[cpu-study] records {runs_dir()}, checkpoints and logs {home}", flush=True)
    return Driver(home, args.parallel, args.hours).run()


if __name__ == "__main__":
    sys.exit(main())
