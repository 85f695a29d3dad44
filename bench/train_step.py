"""Time one world-model update and one behaviour update (DisWM configuration) on a synthetic batch.

    python -m bench.train_step [--batch 50 --length 50] [--repeats 3]

Writes bench/results/train_step_<device>_B<batch>xL<length>.json. The comparison with the released code is
``python -m bench.official_step`` (both sides measured in alternation on the same machine), not a constant here.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import time
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import torch

from diswm.agents import ActorCritic, WorldModel
from diswm.atomic import write_json
from diswm.configs import finetune_config
from diswm.models import count_parameters
from diswm.scales import SCALE_NAMES
from diswm.training.graphed import GraphedUpdate
from diswm.training.learners import BehaviorLearner, WorldModelLearner

RESULTS = Path(__file__).resolve().parent / "results"


def synthetic_batch(batch: int, length: int, actions: int, device, seed: int = 0) -> dict[str, torch.Tensor]:
    rng = np.random.default_rng(seed)
    return {
        "image": torch.as_tensor(rng.integers(0, 256, (batch, length, 64, 64, 3), dtype=np.uint8), device=device),
        "action": torch.as_tensor(rng.uniform(-1, 1, (batch, length, actions)), dtype=torch.float32, device=device),
        "reward": torch.as_tensor(rng.uniform(0, 1, (batch, length)), dtype=torch.float32, device=device),
    }


def build(scale: str, batch: int, length: int, device: torch.device, task: str = "cheetah_run",
          compile: bool = False, capturable: bool = False):
    """The DisWM world model, its learner, the actor-critic's learner and a synthetic batch at ``scale``'s sizes, with
    ``task``'s actions (cheetah_run: 6): the settings of ``diswm finetune with diswm <scale> task=<task>``."""
    settings = finetune_config(scale=scale, method="diswm", task=task, source="finger_spin")
    actions = settings.world_model.rssm.num_actions
    model = WorldModel(settings.world_model).to(device)
    learner = WorldModelLearner(model, capturable=capturable)
    behavior = BehaviorLearner(ActorCritic(settings.behavior, model.rssm.feat_size, actions, device), capturable)
    if compile:
        model.rssm.compile_steps()
        behavior.behavior.compile_steps()
    return model, learner, behavior, synthetic_batch(batch, length, actions, device)


def main(argv: list[str] | None = None) -> Path:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--scale", default="paper", choices=SCALE_NAMES,
                        help="network sizes (diswm.scales.NETS); paper = the official architecture")
    parser.add_argument("--batch", type=int, default=50)
    parser.add_argument("--length", type=int, default=50)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--warmup", type=int, default=1)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--compile", action="store_true", help="torch.compile the step functions")
    parser.add_argument("--cuda-graph", action="store_true", help="replay each update as one CUDA graph")
    parser.add_argument("--tf32", action="store_true", help="TensorFloat-32 matmuls and convolutions (CUDA)")
    args = parser.parse_args(argv)
    torch.manual_seed(0)
    device = torch.device(args.device)
    torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = args.tf32
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True
    model, learner, behavior, batch = build(args.scale, args.batch, args.length, device, compile=args.compile,
                                            capturable=args.cuda_graph)
    graphed = GraphedUpdate(learner, behavior) if args.cuda_graph else None
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    wm_times, beh_times = [], []
    for i in range(args.warmup + args.repeats):
        sync()
        start = time.perf_counter()
        if graphed is not None:  # one graph for both updates: the time is reported as world model
            graphed(batch, model.distill_weight(i))
            sync()
            middle = end = time.perf_counter()
        else:
            _, post = learner.update(batch, model.distill_weight(i))
            sync()
            middle = time.perf_counter()
            behavior.update(model.rssm, model.reward, post)
            sync()
            end = time.perf_counter()
        if i >= args.warmup:
            wm_times.append(middle - start)
            beh_times.append(end - middle)
        print(f"step {i}: world model {middle - start:.3f} s, behaviour {end - middle:.3f} s", flush=True)
    wm, beh = statistics.median(wm_times), statistics.median(beh_times)
    device_name = torch.cuda.get_device_name(device) if device.type == "cuda" else platform.processor() or "cpu"
    result = {
        "benchmark": "train_step",
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "device": device_name,
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
        "cpus": os.cpu_count(),
        "tf32": args.tf32, "compile": args.compile, "cuda_graph": args.cuda_graph,
        "scale": args.scale, "batch": args.batch, "length": args.length, "repeats": args.repeats,
        "world_model_s": wm, "behaviour_s": beh, "train_step_s": wm + beh,
        "parameters": {
            "world_model_without_teacher": count_parameters(model) - count_parameters(model.teacher),
            "teacher": count_parameters(model.teacher),
            "actor": count_parameters(behavior.behavior.actor), "critic": count_parameters(behavior.behavior.critic),
        },
    }
    tag = "cuda" if device.type == "cuda" else "cpu"
    suffix = ("_tf32" if args.tf32 else "") + ("_compiled" if args.compile else "") + \
        ("_graph" if args.cuda_graph else "")
    path = RESULTS / f"train_step_{tag}_{args.scale}_B{args.batch}xL{args.length}{suffix}.json"
    write_json(path, result)
    print(f"median: world model {wm:.3f} s + behaviour {beh:.3f} s = {wm + beh:.3f} s -> {path}")
    return path


if __name__ == "__main__":
    main()
