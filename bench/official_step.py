"""Our train step against the released code's, measured side by side: processes in alternation, same threads.

    python -m bench.official_step --official DIR [--batch 50 --length 50] [--steps 10] [--rounds 2] [--threads 2]

``DIR`` is a checkout of the released code (github.com/qiwang067/DisWM; checked at 001cc4d), imported at run time
by :func:`bench.official_parity.import_released` (nothing of it is copied here). One training step is, on both
sides, the world-model update then the behaviour update on one replay batch of ``B x L`` 64x64 frames, in the DisWM
configuration at the paper's network sizes, on CPU in float32:

- released: ``dreamer.Dreamer._train`` (``models.WorldModel._train`` + ``models.ImagBehavior._train``), configs
  ``defaults`` + ``dmc2gym`` with ``--beta_vae True --distillation True``;
- ours: ``WorldModelLearner.update`` + ``BehaviorLearner.update`` with the settings of ``diswm finetune with diswm
  paper`` (:func:`bench.train_step.build`), our defaults (frozen teacher, truncated-normal actor, forward λ-returns).

Each side runs in its own fresh process (``--worker``), ``--warmup`` untimed steps then ``--steps`` timed ones;
the parent alternates the sides ``--rounds`` times (the order flipped each round, so drift in the machine's speed
falls on both) and reports the median step of each side and their ratio (released / ours: above 1 means we are
faster). Time it on a quiet machine: nothing else running. Writes ``bench/results/official_step_cpu_B<B>xL<L>.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import torch

RESULTS = Path(__file__).resolve().parent / "results"
SIDES = ("ours", "released")
#: the released code's flags for this timing: the DisWM configuration at its own (paper) network sizes
RELEASED_FLAGS = {"beta_vae": "True", "distillation": "True", "cross_domain": "False", "device": "cpu",
                  "precision": "32"}


def time_ours(batch: int, length: int, steps: int, warmup: int) -> list[float]:
    from bench.official_parity import NUM_ACTIONS
    from bench.train_step import build

    torch.manual_seed(0)
    task = {2: "reacher_easy"}[NUM_ACTIONS]  # the released side's action count (bench.official_parity)
    model, learner, behavior, data = build("paper", batch, length, torch.device("cpu"), task=task)
    times = []
    for i in range(warmup + steps):
        start = time.perf_counter()
        _, post = learner.update(data, model.distill_weight(i))
        behavior.update(model.rssm, model.reward, post)
        times.append(time.perf_counter() - start)
    return times[warmup:]


def time_released(folder: Path, batch: int, length: int, steps: int, warmup: int) -> list[float]:
    import warnings

    from bench.official_parity import STEP, import_released, make_batch, released_config

    modules = import_released(folder)
    with tempfile.TemporaryDirectory() as tmp:
        traindir = Path(tmp)
        (traindir / f"episode-{STEP + 1}.npz").touch()  # the world model's step counter after the prefill
        flags = {**RELEASED_FLAGS, "batch_size": str(batch), "batch_length": str(length)}
        config = released_config(modules, folder, traindir, flags)
        torch.manual_seed(0)
        agent = modules["dreamer"].Dreamer(config, None, None)
    data = make_batch({"batch_size": batch, "batch_length": length, "num_actions": config.num_actions})
    times = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for _ in range(warmup + steps):
            start = time.perf_counter()
            agent._train({k: v.copy() for k, v in data.items()})
            times.append(time.perf_counter() - start)
    return times[warmup:]


def worker(args: argparse.Namespace) -> int:
    torch.set_num_threads(args.threads)
    if args.worker == "ours":
        times = time_ours(args.batch, args.length, args.steps, args.warmup)
    else:
        times = time_released(Path(args.official), args.batch, args.length, args.steps, args.warmup)
    print(json.dumps({"side": args.worker, "threads": torch.get_num_threads(), "step_s": times}))
    return 0


def run_side(side: str, args: argparse.Namespace) -> list[float]:
    command = [sys.executable, "-m", "bench.official_step", "--worker", side, "--batch", str(args.batch),
               "--length", str(args.length), "--steps", str(args.steps), "--warmup", str(args.warmup),
               "--threads", str(args.threads)] + (["--official", str(args.official)] if args.official else [])
    env = {**os.environ, "OMP_NUM_THREADS": str(args.threads), "MKL_NUM_THREADS": str(args.threads)}
    done = subprocess.run(command, capture_output=True, text=True, env=env, cwd=Path(__file__).resolve().parents[1])
    if done.returncode != 0:
        tail = (done.stderr.strip().splitlines() or ["(no output)"])[-1]
        raise SystemExit(f"error: the {side} worker failed (exit {done.returncode}): {tail}")
    return json.loads(done.stdout.strip().splitlines()[-1])["step_s"]


def released_commit(folder: Path) -> str | None:
    done = subprocess.run(["git", "-C", str(folder), "rev-parse", "HEAD"], capture_output=True, text=True)
    return (done.stdout.strip() or None) if done.returncode == 0 else None


def main(argv: list[str] | None = None) -> Path | int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--official", type=Path, help="a checkout of the released code (qiwang067/DisWM)")
    parser.add_argument("--batch", type=int, default=50)
    parser.add_argument("--length", type=int, default=50)
    parser.add_argument("--steps", type=int, default=10, help="timed steps per process")
    parser.add_argument("--warmup", type=int, default=1, help="untimed steps first, per process")
    parser.add_argument("--rounds", type=int, default=2, help="processes per side, in alternation")
    parser.add_argument("--threads", type=int, default=2, help="torch threads of each process")
    parser.add_argument("--sides", default=",".join(SIDES),
                        help="the two sides, in the first round's order (ours,ours: the harness's own spread)")
    parser.add_argument("--out", type=Path, help="result file (default bench/results/official_step_cpu_B<B>xL<L>.json)")
    parser.add_argument("--worker", choices=SIDES, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        return worker(args)
    sides = args.sides.split(",")
    if len(sides) != 2 or not set(sides) <= set(SIDES):
        parser.error(f"--sides {args.sides!r}: two of {', '.join(SIDES)}, comma-separated")
    if "released" in sides and (args.official is None or not (args.official / "dreamer.py").is_file()):
        parser.error(f"--official {args.official}: not a checkout of the released code (no dreamer.py); "
                     "clone github.com/qiwang067/DisWM")
    times: list[list[float]] = [[], []]
    load = os.getloadavg()[0]
    for round_ in range(args.rounds):
        order = (0, 1) if round_ % 2 == 0 else (1, 0)
        for index in order:
            print(f"[official-step] round {round_ + 1}/{args.rounds}: {sides[index]} B={args.batch} L={args.length}",
                  flush=True)
            measured = run_side(sides[index], args)
            times[index] += measured
            print(f"[official-step]   median {statistics.median(measured):.3f} s over {len(measured)} steps",
                  flush=True)
    first, second = (statistics.median(t) for t in times)
    result = {
        "benchmark": "official_step",
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "device": platform.processor() or platform.machine(), "cpus": os.cpu_count(), "threads": args.threads,
        "load_average_at_start": round(load, 2),
        "torch": torch.__version__, "batch": args.batch, "length": args.length, "steps": args.steps,
        "warmup": args.warmup, "rounds": args.rounds, "sides": sides,
        "released_commit": released_commit(args.official) if "released" in sides else None,
        "step_s": {f"{i}:{side}": t for i, (side, t) in enumerate(zip(sides, times, strict=True))},
        "median_step_s": {f"{i}:{side}": m for i, (side, m) in enumerate(zip(sides, (first, second), strict=True))},
        # released / ours (above 1: ours is faster); with --sides ours,ours: second / first
        "ratio": (first / second) if sides[0] == "released" else (second / first),
    }
    out = args.out or RESULTS / f"official_step_cpu_B{args.batch}xL{args.length}.json"
    from diswm.atomic import write_json

    write_json(out, result)
    print(f"[official-step] {sides[0]} {first:.3f} s, {sides[1]} {second:.3f} s per step: ratio "
          f"{result['ratio']:.2f} -> {out}")
    return out


if __name__ == "__main__":
    code = main()
    sys.exit(code if isinstance(code, int) else 0)
