"""Rendered environment steps per second (64x64) for every task, written to bench/results/env_speed.json. For
the DMC tasks also the frame alone, drawn by our kept camera against dm_control's ``physics.render`` (a camera
and scene allocated per frame), timed in alternation.

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
from diswm.envs import DMC_TASK_NAMES, TASKS, make_env

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
    row = {"task": task, "render_quality": quality, "agent_steps": agent_steps,
           "renders_per_s": agent_steps / seconds, "control_steps_per_s": control_steps / seconds}
    return row | (frame_costs(task, quality) if task in DMC_TASK_NAMES else {})


def frame_costs(task: str, quality: str, frames: int = 60, rounds: int = 5) -> dict:
    """Milliseconds per frame of one state: the environment's kept camera against ``physics.render``."""
    env = make_env(task, distractor="train", render_quality=quality)
    try:
        env.reset(seed=0)
        physics, size, camera = env._physics, env.spec_.size, env._camera_id
        totals = {"kept_camera": 0.0, "physics_render": 0.0}
        draw = {"kept_camera": env._render_image, "physics_render": lambda: physics.render(size, size, camera)}
        for _ in range(rounds):
            for name, render in draw.items():
                start = time.perf_counter()
                for _ in range(frames):
                    render()
                totals[name] += time.perf_counter() - start
    finally:
        env.close()
    return {f"ms_per_frame_{name}": 1e3 * total / (frames * rounds) for name, total in totals.items()}


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
            frame = (f"  frame {row['ms_per_frame_kept_camera']:.2f} ms (physics.render "
                     f"{row['ms_per_frame_physics_render']:.2f} ms)") if "ms_per_frame_kept_camera" in row else ""
            print(f"{task:18s} {quality:8s} {row['renders_per_s']:7.1f} renders/s "
                  f"{row['control_steps_per_s']:7.1f} control steps/s{frame}", flush=True)
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
