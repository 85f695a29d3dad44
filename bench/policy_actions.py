"""Returns of a finetuning checkpoint's agent when it acts with the actor's mode, mean or samples, on the
same episode seeds, and how often its actions sit at the edge of the action box.

    python -m bench.policy_actions CHECKPOINT [--episodes 5] [--actions mode mean sample] [--colour-set train]
                                   [--out FILE.json]

A learning curve evaluates one of these (``eval_action``, DreamerV2's mode by default); this shows what the
others would have given. An actor whose location saturates at ±1 has a mode that is a constant push on
those dimensions, while its samples and its mean still vary (docs/results.md, cpu-scale result).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import torch

from diswm.atomic import write_json
from diswm.data.rollout import episode_seed, rollout
from diswm.envs import make_env_from_spec
from diswm.training.finetune import EVAL_STREAM, POLICY_ACTIONS, AgentPolicy, load_agent

#: |action| above this counts as "at the edge" of the [-1, 1] box
EDGE = 0.95
#: episode indices far from any run's evaluation episodes (fresh seeds of the evaluation stream)
FIRST_EPISODE = 1_000_000


def main(argv: list[str] | None = None) -> dict[str, dict[str, float]]:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("checkpoint", type=Path, help="latest.pt of a finetuning run")
    parser.add_argument("--episodes", type=int, default=5)
    parser.add_argument("--actions", nargs="+", default=["mode", "mean", "sample"], choices=POLICY_ACTIONS)
    parser.add_argument("--colour-set", default="train", choices=("train", "test", "none"))
    parser.add_argument("--out", type=Path, help="also write the results to this JSON file")
    args = parser.parse_args(argv)
    if args.episodes < 1:
        parser.error(f"--episodes must be positive, got {args.episodes}")
    if not args.checkpoint.is_file():
        parser.error(f"checkpoint {args.checkpoint} is not a file")
    config, model, behavior = load_agent(args.checkpoint)
    env = make_env_from_spec(config.env)
    try:
        colour_set = env.evaluation_set(args.colour_set)
        seeds = [episode_seed(config.seed, FIRST_EPISODE + i, EVAL_STREAM) for i in range(args.episodes)]
        results = {}
        for action in args.actions:
            torch.manual_seed(config.seed)  # the filter's and the actor's noise: the same for every action kind
            policy = AgentPolicy(model, behavior, torch.device("cpu"), action=action)
            returns, edge = [], []
            for seed in seeds:
                episode = rollout(env, policy, seed=seed, colour_set=colour_set)
                returns.append(float(episode["reward"].sum()))
                edge.append(float((np.abs(episode["action"][1:]) > EDGE).mean()))
            results[action] = {"mean": float(np.mean(returns)), "sd": float(np.std(returns)),
                               "returns": returns, "at_edge": float(np.mean(edge))}
            print(f"{action:>6}: return {np.mean(returns):.1f} ± {np.std(returns):.1f} "
                  f"({', '.join(f'{r:.1f}' for r in returns)}); actions at |a| > {EDGE}: {np.mean(edge):.0%}",
                  flush=True)
    finally:
        env.close()
    if args.out is not None:
        write_json(args.out, {"checkpoint": str(args.checkpoint), "colour_set": colour_set, "seeds": seeds,
                              "results": results})
    return results


if __name__ == "__main__":
    main()
