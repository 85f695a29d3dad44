"""The ``diswm`` command line: thin dispatch to the Sacred experiments and the figure scripts.

    diswm collect with cheetah_run smoke     # one Sacred experiment (any `with ...` arguments)
    diswm pretrain with cheetah_run smoke    # β-VAE video model on the collected videos
    diswm data --scale smoke                 # collect every source task's videos at a scale
    diswm demo --out demo                    # small end-to-end demonstration
    diswm envs                               # list tasks and colour sets
"""

from __future__ import annotations

import argparse
import sys


def _collect(args: argparse.Namespace) -> int:
    from experiments.collect import run_cli

    return run_cli(args.sacred_args)


def _pretrain(args: argparse.Namespace) -> int:
    from experiments.pretrain import run_cli

    return run_cli(args.sacred_args)


def _data(args: argparse.Namespace) -> int:
    from experiments.collect import SOURCE_TASKS, run_cli

    tasks = args.tasks or list(SOURCE_TASKS)
    failed = [task for task in tasks if run_cli(["with", task, args.scale, f"seed={args.seed}"]) != 0]
    if failed:
        print(f"collection failed for: {', '.join(failed)}", file=sys.stderr)
    return 1 if failed else 0


def _demo(args: argparse.Namespace) -> int:
    from experiments import pretrain
    from experiments.collect import run_cli
    from paper_figures import fig3_distracted_observations

    for task in ("walker_walk", "reacher_easy", "pusher"):
        if run_cli(["with", f"task={task}", "smoke"]) != 0:
            return 1
    if pretrain.run_cli(["with", "reacher_easy", "smoke"]) != 0:
        return 1
    outputs = fig3_distracted_observations.main(["--scale", "smoke", "--out", args.out])
    print("demo outputs:", *outputs, sep="\n  ")
    return 0


def _envs(args: argparse.Namespace) -> int:
    from diswm.envs import COLOUR_SET_BASES, TASKS

    print("tasks:", ", ".join(TASKS))
    for name, base in COLOUR_SET_BASES.items():
        print(f"colour set {name}: base RGB {base} +- max_delta (default 0.2)")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="diswm",
        description="Disentangled World Models (Wang et al., ICCV 2025): reproducible pipeline.",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    collect = commands.add_parser("collect", help="run the Sacred `collect` experiment (videos of a source task)")
    collect.add_argument(
        "sacred_args", nargs=argparse.REMAINDER, help="Sacred arguments, e.g. `with cheetah_run smoke`"
    )
    collect.set_defaults(func=_collect)

    pretrain = commands.add_parser("pretrain", help="run the Sacred `pretrain` experiment (β-VAE video model)")
    pretrain.add_argument(
        "sacred_args", nargs=argparse.REMAINDER, help="Sacred arguments, e.g. `with cheetah_run smoke`"
    )
    pretrain.set_defaults(func=_pretrain)

    data = commands.add_parser("data", help="collect the distracting-video datasets of all source tasks")
    data.add_argument("--scale", default="smoke", choices=("smoke", "cpu", "paper"))
    data.add_argument("--seed", type=int, default=0)
    data.add_argument("--tasks", nargs="*", help="subset of source tasks (default: all five)")
    data.set_defaults(func=_data)

    demo = commands.add_parser("demo", help="smoke-scale demonstration: collect videos, pretrain, draw Figure 3")
    demo.add_argument("--out", default="demo", help="output folder")
    demo.set_defaults(func=_demo)

    envs = commands.add_parser("envs", help="list tasks and colour sets")
    envs.set_defaults(func=_envs)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return int(args.func(args))


if __name__ == "__main__":
    sys.exit(main())
