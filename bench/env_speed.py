"""Rendered environment steps per second (64x64) for every task, written to bench/results/env_speed.json.

    python -m bench.env_speed [--steps 300] [--quality fast default]
"""

from __future__ import annotations

import argparse
import os
import platform
import time
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from diswm.atomic import write_json
from diswm.envs import TASKS, make_env

RESULTS = Path(__file__).resolve().parent / "results"


def measure(task: str, quality: str, steps: int, seed: int = 0) -> dict:
    env = make_env(task, distractor="train", seed=seed, render_quality=quality)
    rng = np.random.default_rng(seed)
    try:
        env.reset()
        env.step(rng.uniform(-1, 1, env.action_space.shape))  # first render creates the GL context
        agent_steps = control_steps = 0
        start = time.perf_counter()
        while agent_steps < steps:
            _, _, terminated, truncated, info = env.step(rng.uniform(-1, 1, env.action_space.shape))
            agent_steps += 1
            control_steps += info["env_steps"]
            if terminated or truncated:
                env.reset()
        seconds = time.perf_counter() - start
    finally:
        env.close()
    return {
        "task": task, "render_quality": quality, "agent_steps": agent_steps,
        "renders_per_s": agent_steps / seconds, "control_steps_per_s": control_steps / seconds,
    }


def main(argv: list[str] | None = None) -> Path:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--steps", type=int, default=300, help="agent steps (= renders) per measurement")
    parser.add_argument("--quality", nargs="+", default=["fast", "default"])
    parser.add_argument("--tasks", nargs="+", default=list(TASKS))
    args = parser.parse_args(argv)
    rows = []
    for task in args.tasks:
        for quality in args.quality:
            row = measure(task, quality, args.steps)
            rows.append(row)
            print(f"{task:18s} {quality:8s} {row['renders_per_s']:7.1f} renders/s "
                  f"{row['control_steps_per_s']:7.1f} control steps/s", flush=True)
    path = RESULTS / "env_speed.json"
    write_json(path, {
        "benchmark": "env_speed",
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": {"platform": platform.platform(), "processor": platform.processor(), "cpus": os.cpu_count()},
        "mujoco_gl": os.environ.get("MUJOCO_GL"),
        "action_repeat": 2,
        "image_size": 64,
        "results": rows,
    })
    print(f"wrote {path}")
    return path


if __name__ == "__main__":
    main()
