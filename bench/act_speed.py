"""Where the acting time of the finetune loop goes: one environment step (physics + 64x64 render, and
physics alone) and one policy step (encoder, RSSM filter step and actor at a scale's sizes), written to
bench/results/act_speed_<device>.json.

    python -m bench.act_speed [--task cheetah_run] [--scale paper] [--device cuda] [--steps 300]
"""

from __future__ import annotations

import argparse
import time
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import torch

from bench.train_step import build
from diswm.atomic import write_json
from diswm.envs import make_env
from diswm.scales import SCALE_NAMES
from diswm.training.finetune import AgentPolicy

RESULTS = Path(__file__).resolve().parent / "results"


def per_step(function, steps: int) -> float:
    function()  # warm-up (first render creates the GL context)
    start = time.perf_counter()
    for _ in range(steps):
        function()
    return (time.perf_counter() - start) / steps


def main(argv: list[str] | None = None) -> Path:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--task", default="cheetah_run")
    parser.add_argument("--scale", default="paper", choices=SCALE_NAMES)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--steps", type=int, default=300)
    args = parser.parse_args(argv)
    result = {"benchmark": "act_speed", "date": datetime.now(UTC).isoformat(timespec="seconds"),
              "task": args.task, "scale": args.scale, "device": args.device, "steps": args.steps}
    rng = np.random.default_rng(0)
    for quality in ("default", "fast"):
        env = make_env(args.task, distractor="train", seed=0, render_quality=quality)
        env.reset(seed=0)

        def env_step(env=env):
            _, _, terminated, truncated, _ = env.step(rng.uniform(-1, 1, env.action_space.shape))
            if terminated or truncated:
                env.reset()

        result[f"env_step_render_{quality}_ms"] = 1e3 * per_step(env_step, args.steps)
        env.render_images = False
        result[f"env_step_no_render_{quality}_ms"] = 1e3 * per_step(env_step, args.steps)
        env.close()
    device = torch.device(args.device)
    model, _, behavior, _ = build(args.scale, 1, 2, device)
    policy = AgentPolicy(model, behavior.behavior, device, action="sample")
    policy.reset(rng)
    observation = {"image": rng.integers(0, 256, (64, 64, 3), dtype=np.uint8)}
    result["policy_step_ms"] = 1e3 * per_step(lambda: policy.act(observation), args.steps)
    if device.type == "cuda":
        result["gpu"] = torch.cuda.get_device_name(device)
    path = RESULTS / f"act_speed_{device.type}.json"
    write_json(path, result)
    print({k: round(v, 2) if isinstance(v, float) else v for k, v in result.items()})
    return path


if __name__ == "__main__":
    main()
