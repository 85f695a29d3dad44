"""Check the CUDA-graph update against the eager one on a GPU: same initial weights, same batches, same
seed; prints the largest relative difference of the metrics per update and of the weights at the end.

    python -m bench.graph_check [--scale paper --batch 16 --length 50 --updates 8]
"""

from __future__ import annotations

import argparse
import json

import torch

from bench.train_step import build, synthetic_batch
from diswm.scales import SCALE_NAMES
from diswm.training.graphed import GraphedUpdate


def run(args, graphed: bool) -> tuple[list[dict[str, float]], dict[str, torch.Tensor]]:
    torch.manual_seed(0)
    model, learner, behavior, _ = build(args.scale, args.batch, args.length, torch.device("cuda"),
                                        capturable=graphed)
    update = GraphedUpdate(learner, behavior) if graphed else None
    history = []
    for i in range(args.updates):
        batch = synthetic_batch(args.batch, args.length, 6, "cuda", seed=i)
        if update is not None:
            history.append(update(batch, model.distill_weight(i)))
        else:
            world, post = learner.update(batch, model.distill_weight(i))
            history.append(world | behavior.update(model.rssm, model.reward, post))
    return history, {k: v.detach().clone() for k, v in (model.state_dict() | behavior.behavior.state_dict()).items()}


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--scale", default="paper", choices=SCALE_NAMES)
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--length", type=int, default=50)
    parser.add_argument("--updates", type=int, default=8)
    args = parser.parse_args(argv)
    eager, eager_state = run(args, graphed=False)
    graph, graph_state = run(args, graphed=True)
    per_update = []
    for a, b in zip(eager, graph, strict=True):
        per_update.append(max(abs(a[k] - b[k]) / max(abs(a[k]), 1e-6) for k in a))
    weights = max(float((graph_state[k].float() - v.float()).abs().max() / (v.float().abs().max() + 1e-6))
                  for k, v in eager_state.items() if v.is_floating_point())
    report = {"max_relative_metric_difference_per_update": per_update, "max_relative_weight_difference": weights,
              "eager_last": eager[-1], "graph_last": graph[-1]}
    print(json.dumps(report, indent=1))
    return report


if __name__ == "__main__":
    main()
