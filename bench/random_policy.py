"""Return of the uniform random policy on a task (the baseline a learning curve must rise above), or of
the constant full-force action (``--constant``: what a saturated, untrained actor's mode does).

    python -m bench.random_policy [--task reacher_easy] [--scale cpu] [--episodes 30] [--constant]

Prints mean ± sd, median and max over ``--episodes`` episodes with the scale's episode length.
"""

from __future__ import annotations

import argparse

import numpy as np

from diswm.envs import make_env
from diswm.scales import FINETUNE, SCALE_NAMES


def main(argv: list[str] | None = None) -> dict[str, float]:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--task", default="reacher_easy")
    parser.add_argument("--scale", default="cpu", choices=SCALE_NAMES)
    parser.add_argument("--episodes", type=int, default=30)
    parser.add_argument("--constant", action="store_true", help="always act +1 in every dimension")
    args = parser.parse_args(argv)
    env = make_env(args.task, distractor="train", seed=123, time_limit=FINETUNE[args.scale].time_limit,
                   render_quality="fast")
    env.render_images = False  # the return does not depend on the pixels
    rng, returns, shape = np.random.default_rng(0), [], env.action_space.shape
    try:
        for episode in range(args.episodes):
            env.reset(seed=1000 + episode)
            total, done = 0.0, False
            while not done:
                action = np.ones(shape) if args.constant else rng.uniform(-1, 1, shape)
                _, reward, terminated, truncated, _ = env.step(action)
                total, done = total + reward, terminated or truncated
            returns.append(total)
    finally:
        env.close()
    result = {"mean": float(np.mean(returns)), "sd": float(np.std(returns)), "median": float(np.median(returns)),
              "max": float(np.max(returns)), "episodes": args.episodes}
    name = "constant +1" if args.constant else "random"
    print(f"{name} policy {args.task} ({args.scale} episodes): {result['mean']:.1f} ± {result['sd']:.1f}, "
          f"median {result['median']:.1f}, max {result['max']:.1f}, n={args.episodes}")
    return result


if __name__ == "__main__":
    main()
