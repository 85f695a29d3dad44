"""Overall env steps per second of the finetune loop (acting, rendering, training; evaluation excluded),
measured after the prefill and a warm-up stretch of training,
at a scale's network and batch sizes, written to bench/results/finetune_speed_<scale>.json.

    python -m bench.finetune_speed [--scale cpu] [--env-steps 2000]
"""

from __future__ import annotations

import argparse
import os
import platform
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import torch

from diswm.atomic import write_json
from diswm.configs import finetune_config, replace_settings
from diswm.scales import SCALE_NAMES
from diswm.training.finetune import Finetuner

RESULTS = Path(__file__).resolve().parent / "results"


def main(argv: list[str] | None = None) -> Path:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--scale", default="cpu", choices=SCALE_NAMES)
    parser.add_argument("--task", default="reacher_easy")
    parser.add_argument("--env-steps", type=int, default=2000, help="control steps measured")
    parser.add_argument("--warm-steps", type=int, default=2000,
                        help="control steps trained after the prefill and before measuring (compilation, CUDA-graph "
                             "capture and warm-up happen there)")
    parser.add_argument("--device", default="cpu", choices=("cpu", "cuda"))
    parser.add_argument("--compile", action="store_true", help="torch.compile the step functions")
    parser.add_argument("--cuda-graph", action="store_true", help="replay each update as one CUDA graph")
    parser.add_argument("--precision", default="fp32", choices=("fp32", "bf16"), help="the updates' arithmetic")
    parser.add_argument("--memory-fraction", type=float, default=None,
                        help="bound this process's share of the GPU memory (packed runs: bench.packed_runs)")
    parser.add_argument("--out", type=Path, default=None, help="result file (default bench/results/...)")
    args = parser.parse_args(argv)
    if args.memory_fraction is not None and args.device == "cuda":
        torch.cuda.set_per_process_memory_fraction(args.memory_fraction)
    # the no_distill run at this scale (the β-VAE world model without a teacher to load), timed on short episodes
    base = finetune_config(scale=args.scale, method="no_distill", task=args.task, source="finger_spin")
    prefill = base.batch_size * base.length  # agent steps: enough frames for the first batch
    times: list[tuple[int, float]] = []
    with tempfile.TemporaryDirectory() as out:
        config = replace_settings(base, {
            "env": {"time_limit": 200}, "out_dir": out, "env_steps": 2 * prefill + args.warm_steps + args.env_steps,
            "prefill": prefill, "pretrain_updates": 1, "eval_every": 10**9, "eval_episodes": 1,
            "checkpoint_every": 10**9, "device": args.device, "compile": args.compile, "cuda_graph": args.cuda_graph,
            "precision": args.precision})
        schedule = config
        finetuner = Finetuner(config)
        try:
            result = finetuner.run(on_episode=lambda e: times.append((e["env_steps"], time.perf_counter())),
                                   progress_bar=False)
        finally:
            finetuner.close()
    start = next(i for i, (steps, _) in enumerate(times) if steps >= 2 * prefill + args.warm_steps)
    (steps0, t0), (steps1, t1) = times[start], times[-1]
    rate = (steps1 - steps0) / (t1 - t0)
    suffix = ("" if args.device == "cpu" else f"_{args.device}") + ("_graph" if args.cuda_graph else "") \
        + ("" if args.precision == "fp32" else f"_{args.precision}")
    path = args.out or RESULTS / f"finetune_speed_{args.scale}{suffix}.json"
    write_json(path, {
        "benchmark": "finetune_speed", "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "scale": args.scale, "task": args.task, "train_every": schedule.train_every,
        "batch": [schedule.batch_size, schedule.length], "compile": args.compile, "cuda_graph": args.cuda_graph,
        "precision": args.precision, "memory_fraction": args.memory_fraction,
        "measured_env_steps": steps1 - steps0, "after_env_steps": steps0,
        "env_steps_per_s": rate,
        "updates": result["updates"],
        "device": torch.cuda.get_device_name() if args.device == "cuda" else "cpu",
        # what one run holds on the GPU: how many fit on one device (--runs-per-gpu)
        "max_memory_allocated_gb": torch.cuda.max_memory_allocated() / 2**30 if args.device == "cuda" else None,
        "threads": torch.get_num_threads(), "cpus": os.cpu_count(), "processor": platform.processor(),
    })
    print(f"{args.scale}: {rate:.1f} env steps/s (train every {schedule.train_every} agent steps) -> {path}")
    return path


if __name__ == "__main__":
    main()
