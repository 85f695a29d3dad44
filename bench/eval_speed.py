"""Evaluation time: the episodes of one evaluation one at a time, side by side (one batched policy call per
step), and side by side with each environment in a worker process (:mod:`diswm.envs.workers`), with the same
seeds, on this machine. Writes bench/results/eval_speed_<scale>[_<device>].json.

    python -m bench.eval_speed --scale cpu --episodes 5 --time-limit 200 [--device cuda]
"""

from __future__ import annotations

import argparse
import os
import platform
import time
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import torch

from diswm.agents import ActorCritic, WorldModel
from diswm.atomic import write_json
from diswm.configs import finetune_config, replace_settings
from diswm.envs import make_env_from_spec
from diswm.envs.workers import start_workers
from diswm.scales import SCALE_NAMES
from diswm.training.evaluate import evaluate_episodes

RESULTS = Path(__file__).resolve().parent / "results"


def main(argv: list[str] | None = None) -> Path:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--scale", default="cpu", choices=SCALE_NAMES, help="network sizes")
    parser.add_argument("--task", default="reacher_easy")
    parser.add_argument("--episodes", type=int, default=5)
    parser.add_argument("--time-limit", type=int, default=200, help="control steps per episode (None: 1000)")
    parser.add_argument("--repeats", type=int, default=3, help="timings per mode (the median is reported)")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    args = parser.parse_args(argv)
    settings = finetune_config(scale=args.scale, method="no_distill", task=args.task, source="finger_spin")
    settings = replace_settings(settings, {"env": {"time_limit": args.time_limit}})
    device = torch.device(args.device)
    torch.manual_seed(0)
    model = WorldModel(settings.world_model).to(device)
    behavior = ActorCritic(settings.behavior, model.rssm.feat_size, settings.world_model.rssm.num_actions, device)
    envs = [make_env_from_spec(settings.env) for _ in range(args.episodes)]
    workers = start_workers(settings.env, args.episodes)
    seeds = list(range(args.episodes))
    modes = (("sequential", 1, envs), ("batched", args.episodes, envs),
             ("batched_workers", args.episodes, workers))
    seconds: dict[str, list[float]] = {name: [] for name, _, _ in modes}
    returns = {}
    try:
        for group in (envs, workers):
            evaluate_episodes(group, model, behavior, device, seeds=seeds[:1], colour_set="train", action="mode")
        for _ in range(args.repeats):  # the modes in alternation, so that a busy moment hits them alike
            for name, batch, group in modes:
                start = time.perf_counter()
                episodes = evaluate_episodes(group, model, behavior, device, seeds=seeds, colour_set="train",
                                             action="mode", batch=batch)
                seconds[name].append(time.perf_counter() - start)
                returns[name] = [e["return"] for e in episodes]
    finally:
        for env in envs + workers:
            env.close()
    seconds = {name: float(np.median(values)) for name, values in seconds.items()}
    suffix = "" if device.type == "cpu" else f"_{device.type}"
    path = RESULTS / f"eval_speed_{args.scale}{suffix}.json"
    write_json(path, {
        "benchmark": "eval_speed", "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "scale": args.scale, "task": args.task, "episodes": args.episodes, "time_limit": args.time_limit,
        "repeats": args.repeats, "statistic": "median",
        "device": torch.cuda.get_device_name(device) if device.type == "cuda" else platform.processor() or "cpu",
        "device_type": device.type,
        "threads": torch.get_num_threads(), "cpus": os.cpu_count(),
        # Mesa's software rasteriser: its default (one thread per core) here, one thread in each worker
        "worker_render_threads": os.environ.get("LP_NUM_THREADS", "1"),
        "seconds_sequential": seconds["sequential"], "seconds_batched": seconds["batched"],
        "seconds_batched_workers": seconds["batched_workers"],
        "speedup": seconds["sequential"] / seconds["batched"],
        "speedup_workers": seconds["sequential"] / seconds["batched_workers"],
        "max_return_difference": float(np.max(np.abs(np.subtract(returns["batched"], returns["sequential"])))),
        "workers_equal_in_process": returns["batched_workers"] == returns["batched"],
    })
    print(f"{args.episodes} episodes of {args.time_limit} control steps: sequential {seconds['sequential']:.1f} s, "
          f"batched {seconds['batched']:.1f} s ({seconds['sequential'] / seconds['batched']:.2f}x), "
          f"batched in worker processes {seconds['batched_workers']:.1f} s "
          f"({seconds['sequential'] / seconds['batched_workers']:.2f}x) -> {path}")
    return path


if __name__ == "__main__":
    main()
