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
import contextlib
import importlib
import sys
from pathlib import Path

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
    def run(argv: list[str]) -> int:  # Sacred reads the arguments; -h and --help: the stage's own usage
        experiment = importlib.import_module(f"diswm_app.experiments.{module}")
        if argv[:1] in (["-h"], ["--help"]):
            print(stage_usage(module, experiment))
            return 0
        return experiment.run_cli(argv)

    return run


def stage_usage(name: str, module) -> str:
    """What ``diswm <stage> --help`` prints: the stage's docstring, its named configurations and Sacred's commands."""
    ex = module.ex
    return "\n".join([
        f"usage: diswm {name} [COMMAND] with [NAMED_CONFIG ...] [key=value ...] [Sacred options]", "",
        (module.__doc__ or "").strip(), "",
        "named configurations: " + ", ".join(sorted(ex.named_configs)),
        "commands: " + ", ".join(sorted(ex.commands)) + f" (default {ex.default_command}); e.g. "
        f"`diswm {name} print_config with smoke` shows every setting without running",
        "values: any setting by its path or its bare name (`eta_max=0.05`); Sacred's options: -d (traceback), "
        "-n NAME, -F DIR, -m URL",
    ])


@contextlib.contextmanager
def _program(name: str):
    """argparse names a script after ``sys.argv[0]``: the figure scripts' usage says ``diswm figure NAME``."""
    previous, sys.argv[0] = sys.argv[0], name
    try:
        yield
    finally:
        sys.argv[0] = previous


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


def _figure(argv: list[str]) -> int:
    from diswm_app.paper_figures.make_all import FIGURES

    parser = argparse.ArgumentParser(prog="diswm figure", description="One paper figure from your records and "
                                     "checkpoints; `diswm figure NAME --help` gives the script's own flags.")
    parser.add_argument("name", choices=sorted(FIGURES), metavar="NAME", help=", ".join(sorted(FIGURES)))
    parser.add_argument("figure_args", nargs=argparse.REMAINDER, help="the script's flags, e.g. --scale cpu")
    args = parser.parse_args(argv)
    module = importlib.import_module(f"diswm_app.paper_figures.{args.name}")
    try:
        with _program(f"diswm figure {args.name}"):
            paths = module.main(args.figure_args)
    except FileNotFoundError as missing:
        scale = argparse.ArgumentParser(add_help=False)
        scale.add_argument("--scale", default="<scale>")
        command = FIGURES[args.name].format(scale=scale.parse_known_args(args.figure_args)[0].scale)
        print(f"diswm figure {args.name}: {missing}; produce its inputs with: {command}", file=sys.stderr)
        return 1
    print(*paths, sep="\n")
    return 0


def _figures(argv: list[str]) -> int:
    from diswm_app.paper_figures.make_all import main as make_all

    with _program("diswm figures"):
        make_all(argv)
    return 0


def _reproduce(argv: list[str]) -> int:
    from diswm_app.experiments.reproduce import main as reproduce_main

    return reproduce_main(argv)


def _records(argv: list[str]) -> int:
    from diswm_app.experiments.records import main as records_main

    parser = argparse.ArgumentParser(prog="diswm records", description="Run records: `diswm records import "
                                     "RUNS_DIR --mongo URL` copies Sacred file records into MongoDB.")
    parser.add_argument("action", choices=("import",))
    parser.add_argument("records_args", nargs=argparse.REMAINDER, help="RUNS_DIR --mongo URL (see import --help)")
    args = parser.parse_args(argv)
    return records_main(args.records_args)


def _cpu_study(argv: list[str]) -> int:
    from diswm_app.experiments.cpu_study import STUDY_DIR, runs_dir
    from diswm_app.experiments.cpu_study import main as cpu_study_main

    if argv[:1] == ["analyse"] and not {"-h", "--help"} & set(argv):
        from diswm_app.experiments.cpu_study_analysis import analyse_study

        parser = argparse.ArgumentParser(prog="diswm cpu-study analyse")
        parser.add_argument("--out", type=Path, default=STUDY_DIR, help="folder of summary.json and the figure")
        analyse_study(runs_dir(), parser.parse_args(argv[1:]).out)
        return 0
    return cpu_study_main(argv)


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

    for name, (_, help_text) in PASSTHROUGH.items():  # each parses its own arguments, -h included (main)
        commands.add_parser(name, help=help_text, add_help=False)

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

    envs = commands.add_parser("envs", help="list tasks and colour sets")
    envs.set_defaults(func=_envs)
    return parser


#: subcommands that parse their own arguments, ``-h`` and ``--help`` included: name -> (run(argv), help)
PASSTHROUGH = {
    **{stage: (_stage(stage), f"Sacred experiment `{stage}`: {help_text} (`with ...`; -h: Sacred's usage)")
       for stage, help_text in STAGES.items()},
    "figure": (_figure, "one paper figure from your records and checkpoints"),
    "figures": (_figures, "every figure that has data (own runs, else the shipped ones)"),
    "reproduce": (_reproduce, "every run of a paper table or figure, then its table"),
    "records": (_records, "`records import RUNS_DIR --mongo URL`: FileStorage runs -> MongoDB"),
    "cpu-study": (_cpu_study, "the pre-registered cpu-scale study (results/cpu_study/PLAN.md): run | status | analyse"),
}


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv and argv[0] in PASSTHROUGH:
        return int(PASSTHROUGH[argv[0]][0](argv[1:]))
    args = build_parser().parse_args(argv)
    return int(args.func(args))


if __name__ == "__main__":
    sys.exit(main())
