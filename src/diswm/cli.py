"""The ``diswm`` command line: thin dispatch to the Sacred experiments and the figure scripts.

    diswm collect with cheetah_run smoke     # one Sacred experiment (any `with ...` arguments): random-policy videos
    diswm source_agent with cheetah_run smoke  # DreamerV2 learning the task; its replay is the videos (the paper's)
    diswm pretrain with cheetah_run smoke    # β-VAE video model on the source agent's videos (videos=random: collect's)
    diswm finetune with diswm smoke          # online world model + agent (method and scale named configs)
    diswm data --scale smoke                 # every source task's videos at a scale (random policy; or --videos)
    diswm demo --out demo                    # small end-to-end demonstration
    diswm envs                               # list tasks and colour sets
"""

from __future__ import annotations

import argparse
import importlib
import sys

#: stage subcommand -> help; each runs the Sacred experiment experiments.<stage> with `with ...` arguments.
STAGES = {
    "collect": "distracting videos of a source task (random policy, or a trained agent)",
    "source_agent": "DreamerV2 learning a source task; its replay is the distracting videos (the paper's recipe)",
    "pretrain": "β-VAE video model on a source task's videos (the teacher)",
    "finetune": "online world model and agent on a target task (DisWM and baselines)",
    "evaluate": "MIG, DCI and SAP of a checkpoint's encoder against ground-truth factors",
}


def _stage(module: str):
    def run(args: argparse.Namespace) -> int:
        return importlib.import_module(f"experiments.{module}").run_cli(args.sacred_args)

    return run


def _data(args: argparse.Namespace) -> int:
    from experiments.collect import SOURCE_TASKS

    stage = "collect" if args.videos == "random" else "source_agent"
    run_cli = importlib.import_module(f"experiments.{stage}").run_cli
    tasks = args.tasks or list(SOURCE_TASKS)
    failed = [task for task in tasks if run_cli(["with", task, args.scale, f"seed={args.seed}"]) != 0]
    if failed:
        print(f"{stage} failed for: {', '.join(failed)}", file=sys.stderr)
    return 1 if failed else 0


def _demo(args: argparse.Namespace) -> int:
    """The whole pipeline at smoke scale, as the paper: a DreamerV2 agent learns the source task (its replay
    is the videos) -> teacher -> DisWM and DreamerV2 agents -> MIG, DCI and SAP of the teacher and the DisWM
    student; then Figure 3 (random-policy videos), the learning curves and the disentanglement figure."""
    from diswm.paths import outputs_home
    from paper_figures import fig3_distracted_observations, fig4_learning_curves, fig_disentanglement

    teacher = outputs_home() / "checkpoints/pretrain/smoke/finger_spin/beta0.015/seed_0/encoder.pt"
    student = outputs_home() / "checkpoints/finetune/smoke/finger_spin_to_reacher_easy/diswm/seed_0/latest.pt"

    steps = [
        ("source_agent", ["with", "finger_spin", "smoke"]),
        ("pretrain", ["with", "finger_spin", "smoke"]),
        *[("collect", ["with", f"task={task}", "smoke"])  # Figure 3's observations
          for task in ("finger_spin", "walker_walk", "reacher_easy", "pusher")],
        ("finetune", ["with", "diswm", "smoke", "source=finger_spin", "task=reacher_easy"]),
        ("finetune", ["with", "dreamerv2", "smoke", "source=finger_spin", "task=reacher_easy"]),
        ("evaluate", ["with", "smoke", "task=finger_spin", f"checkpoint={teacher}"]),  # the teacher on its source
        ("evaluate", ["with", "smoke", "task=reacher_easy", f"checkpoint={student}"]),  # the student on its target
    ]
    for stage, argv in steps:
        if importlib.import_module(f"experiments.{stage}").run_cli(argv) != 0:
            print(f"demo stopped: `diswm {stage} {' '.join(argv)}` failed", file=sys.stderr)
            return 1
    outputs = [path for figure in (fig3_distracted_observations, fig4_learning_curves, fig_disentanglement)
               for path in figure.main(["--scale", "smoke", "--out", args.out])]
    print("demo outputs:", *outputs, f"run records: {outputs_home() / 'runs'}", sep="\n  ")
    return 0


def _reproduce(args: argparse.Namespace) -> int:
    from experiments.reproduce import main as reproduce_main

    return reproduce_main(args.reproduce_args)


def _records(args: argparse.Namespace) -> int:
    from experiments.records import main as records_main

    return records_main(args.records_args)


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

    for stage, help_text in STAGES.items():
        parser_ = commands.add_parser(stage, help=f"Sacred experiment `{stage}`: {help_text}")
        parser_.add_argument("sacred_args", nargs=argparse.REMAINDER, help="Sacred arguments, e.g. `with smoke`")
        parser_.set_defaults(func=_stage(stage))

    data = commands.add_parser("data", help="the distracting-video datasets of all source tasks")
    data.add_argument("--scale", default="smoke", choices=("smoke", "cpu", "paper"))
    data.add_argument("--seed", type=int, default=0)
    data.add_argument("--tasks", nargs="*", help="subset of source tasks (default: all five)")
    data.add_argument("--videos", default="random", choices=("random", "dreamerv2_replay"),
                      help="random: `diswm collect` (uniform policy, Figure 3); dreamerv2_replay: `diswm source_agent` "
                           "(a learning agent's replay, what pretraining reads by default)")
    data.set_defaults(func=_data)

    demo = commands.add_parser("demo", help="smoke pipeline: source agent, pretrain, finetune DisWM and DreamerV2, "
                                            "Fig. 3")
    demo.add_argument("--out", default="demo", help="output folder")
    demo.set_defaults(func=_demo)

    reproduce = commands.add_parser("reproduce", help="every run of a paper table or figure, then its table",
                                    add_help=False)
    reproduce.add_argument("reproduce_args", nargs=argparse.REMAINDER, help="ITEM --scale S --seeds N (see -h)")
    reproduce.set_defaults(func=_reproduce)

    records = commands.add_parser("records", help="`records import RUNS_DIR --mongo URL`: FileStorage runs -> MongoDB")
    records.add_argument("action", choices=("import",))
    records.add_argument("records_args", nargs=argparse.REMAINDER)
    records.set_defaults(func=_records)

    envs = commands.add_parser("envs", help="list tasks and colour sets")
    envs.set_defaults(func=_envs)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return int(args.func(args))


if __name__ == "__main__":
    sys.exit(main())
