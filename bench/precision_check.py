"""bf16 against fp32: the same model, the same batches, N updates each (world model and behaviour), on this
device. Reports, per update, the relative difference of the world-model loss and the actor loss, and at the
end the relative parameter distance. Writes bench/results/precision_<scale>_<device>.json.

    python -m bench.precision_check --scale cpu --updates 200 [--device cuda]
"""

from __future__ import annotations

import argparse
import platform
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import torch

from bench.train_step import build, synthetic_batch
from diswm.atomic import write_json
from diswm.scales import SCALE_NAMES
from diswm.training.learners import BehaviorLearner, WorldModelLearner

RESULTS = Path(__file__).resolve().parent / "results"


def train(scale: str, batch: int, length: int, updates: int, device: torch.device, precision: str):
    torch.manual_seed(0)
    model, _, behavior, _ = build(scale, batch, length, device)
    learner = WorldModelLearner(model, precision=precision)
    behavior_learner = BehaviorLearner(behavior.behavior, precision=precision)
    history = []
    for i in range(updates):
        data = synthetic_batch(batch, length, 6, device, seed=i % 8)  # a few batches, seen repeatedly
        world, post = learner.update(data, model.distill_weight(i))
        history.append(world | behavior_learner.update(model.rssm, model.reward, post))
    parameters = torch.cat([p.detach().float().flatten() for p in model.parameters()])
    return history, parameters


def main(argv: list[str] | None = None) -> Path:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--scale", default="cpu", choices=SCALE_NAMES)
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--length", type=int, default=32)
    parser.add_argument("--updates", type=int, default=200)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    args = parser.parse_args(argv)
    device = torch.device(args.device)
    fp32, fp32_params = train(args.scale, args.batch, args.length, args.updates, device, "fp32")
    bf16, bf16_params = train(args.scale, args.batch, args.length, args.updates, device, "bf16")

    def relative(key):
        a, b = np.array([h[key] for h in fp32]), np.array([h[key] for h in bf16])
        return np.abs(a - b) / np.maximum(np.abs(a), 1e-8)

    model_loss, actor_loss = relative("model_loss"), relative("actor_loss")
    distance = float((fp32_params - bf16_params).norm() / fp32_params.norm())
    path = RESULTS / f"precision_{args.scale}_{device.type}.json"
    write_json(path, {
        "benchmark": "precision_check", "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "device": torch.cuda.get_device_name(device) if device.type == "cuda" else platform.processor() or "cpu",
        "scale": args.scale, "batch": [args.batch, args.length], "updates": args.updates,
        "model_loss_relative_difference": {"first": float(model_loss[0]), "median": float(np.median(model_loss)),
                                           "last": float(model_loss[-1])},
        "actor_loss_relative_difference": {"median": float(np.median(actor_loss)), "last": float(actor_loss[-1])},
        # the image NLL carries a constant (0.5 x pixels x log 2π) that hides its difference: the other terms
        **{f"{key}_relative_difference": {"median": float(np.median(relative(key))), "last": float(relative(key)[-1])}
           for key in ("kl_loss", "reward_loss", "value_loss")},
        "final_model_loss": {"fp32": fp32[-1]["model_loss"], "bf16": bf16[-1]["model_loss"]},
        "parameter_relative_distance": distance,
    })
    print(f"bf16 vs fp32 over {args.updates} updates ({args.scale}, {device}): model loss rel. diff median "
          f"{np.median(model_loss):.2e}, last {model_loss[-1]:.2e}; parameters {distance:.2e} apart -> {path}")
    return path


if __name__ == "__main__":
    main()
