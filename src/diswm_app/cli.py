"""The ``diswm`` command line: thin dispatch to the Sacred experiments and the figure scripts.

    diswm collect with cheetah_run smoke     # one Sacred experiment (any `with ...` arguments): random-policy videos
    diswm source_agent with cheetah_run smoke  # DreamerV2 learning the task; its replay is the videos (the paper's)
    diswm pretrain with cheetah_run smoke    # β-VAE video model on the source agent's videos (videos=random: collect's)
    diswm finetune with diswm smoke          # online world model + agent (method and scale named configs)
    diswm data --scale smoke                 # every source task's videos at a scale (random policy; or --videos)
    diswm demo --out demo                    # small end-to-end demonstration
    diswm figure fig4_learning_curves --scale cpu  # one figure script (its own flags; `--help` lists them)
    diswm figures --scale smoke              # every figure that has data (= make figures)
    diswm envs                               # list tasks and colour sets
    diswm cpu-study run --hours 2.5          # the cpu-scale study's runs (resumable; status, analyse)
"""

from __future__ import annotations

import argparse
import importlib
import sys

from diswm.scales import SCALE_NAMES

#: stage subcommand -> help; each runs the Sacred experiment diswm_app.experiments.<stage> with `with ...` arguments.
STAGES = {
    "collect": "distracting videos of a source task (random policy, or a trained agent)",
    "source_agent": "DreamerV2 learning a source task; its replay is the distracting videos (the paper's recipe)",
    "pretrain": "β-VAE video model on a source task's videos (the teacher)",
    "finetune": "online world model and agent on a target task (DisWM and baselines)",
    "evaluate": "MIG, DCI and SAP of a checkpoint's encoder against ground-truth factors; episodes=N: its returns",
}


def _stage(module: str):
    def run(args: argparse.Namespace) -> int:
        return importlib.import_module(f"diswm_app.experiments.{module}").run_cli(args.sacred_args)

    return run


def _data(args: argparse.Namespace) -> int:
    from diswm_app.experiments.collect import SOURCE_TASKS

    stage = "collect" if args.videos == "random" else "source_agent"
    run_cli = importlib.import_module(f"diswm_app.experiments.{stage}").run_cli
    tasks = args.tasks or list(SOURCE_TASKS)
    failed = [task for task in tasks if run_cli(["with", task, args.scale, f"seed={args.seed}"]) != 0]
    if failed:
        print(f"{stage} failed for: {', '.join(failed)}", file=sys.stderr)
    return 1 if failed else 0


def _demo(args: argparse.Namespace) -> int:
    from diswm_app.experiments.demo import run_demo

    return run_demo(args.out)


def _figure(args: argparse.Namespace) -> int:
    from diswm_app.paper_figures.make_all import FIGURES

    module = importlib.import_module(f"diswm_app.paper_figures.{args.name}")
    try:
        paths = module.main(args.figure_args)
    except FileNotFoundError as missing:
        scale = argparse.ArgumentParser(add_help=False)
        scale.add_argument("--scale", default="<scale>")
        command = FIGURES[args.name].format(scale=scale.parse_known_args(args.figure_args)[0].scale)
        print(f"diswm figure {args.name}: {missing}; produce its inputs with: {command}", file=sys.stderr)
        return 1
    print(*paths, sep="\n")
    return 0


def _figures(args: argparse.Namespace) -> int:
    from diswm_app.paper_figures.make_all import main as make_all

    make_all(args.figures_args)
    return 0


def _reproduce(args: argparse.Namespace) -> int:
    from diswm_app.experiments.reproduce import main as reproduce_main

    return reproduce_main(args.reproduce_args)


def _records(args: argparse.Namespace) -> int:
    from diswm_app.experiments.records import main as records_main

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
    data.add_argument("--scale", default="smoke", choices=SCALE_NAMES)
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

    from diswm_app.paper_figures.make_all import FIGURES

    figure = commands.add_parser("figure", help="one paper figure from your records and checkpoints", add_help=False)
    figure.add_argument("name", choices=sorted(FIGURES), metavar="NAME", help=", ".join(sorted(FIGURES)))
    figure.add_argument("figure_args", nargs=argparse.REMAINDER, help="the script's flags, e.g. --scale cpu")
    figure.set_defaults(func=_figure)

    figures = commands.add_parser("figures", help="every figure that has data (own runs, else the shipped ones)",
                                  add_help=False)
    figures.add_argument("figures_args", nargs=argparse.REMAINDER, help="--scale S --out DIR")
    figures.set_defaults(func=_figures)

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

    for name, (_, help_text) in PASSTHROUGH.items():  # parsed by their own modules (main below)
        commands.add_parser(name, help=help_text, add_help=False)
    return parser


#: subcommands whose arguments, ``-h`` included, go to their own module's ``main(argv)``
PASSTHROUGH = {
    "cpu-study": ("diswm_app.experiments.cpu_study",
                  "the pre-registered cpu-scale study (results/cpu_study/PLAN.md): run | status | analyse"),
}


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv and argv[0] in PASSTHROUGH:
        return int(importlib.import_module(PASSTHROUGH[argv[0]][0]).main(argv[1:]))
    args = build_parser().parse_args(argv)
    return int(args.func(args))


if __name__ == "__main__":
    sys.exit(main())
