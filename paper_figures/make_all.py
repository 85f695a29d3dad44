"""Build every figure that has data, from our own runs (``$DISWM_HOME``) where they have what it needs and
otherwise from the shipped smoke-scale results (``results/shipped``, made by ``make ship-results``), saying
which set each figure came from; for each one skipped, say which command produces what it needs.

    python -m diswm_app.paper_figures.make_all [--scale smoke]      (or `make figures`)
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys

from diswm.paths import HOME_ENV, outputs_home
from diswm_app import REPOSITORY
from diswm_app.paper_figures.common import figures_dir

#: results of our own smoke runs, committed so that a fresh clone draws real figures (see its README)
SHIPPED = REPOSITORY / "results" / "shipped"

#: figure module -> what to run when its inputs are missing (each module raises FileNotFoundError).
FIGURES = {
    "fig3_distracted_observations": "diswm data --scale {scale}",
    "fig4_learning_curves": "diswm finetune with <method> {scale} source=<source> task=<target> (per method)",
    "fig5_traversals": "diswm source_agent with finger_spin {scale} && diswm pretrain with finger_spin {scale}",
    "video_prediction": "diswm source_agent with finger_spin {scale} && diswm pretrain with finger_spin {scale}",
    "fig7_ablations": "diswm finetune with <diswm|no_distill|no_disentangle> {scale} source=cheetah_run "
                      "task=walker_walk [eta_max=... | beta=...]",
    "fig8_video_sources": "diswm finetune with diswm {scale} task=cartpole_swingup source=<each source>",
    "figI_zdim": "diswm finetune with diswm {scale} source=cheetah_run task=walker_walk z_dim=<d>",
    "figJ_tsne": "diswm finetune with diswm {scale} source=finger_spin task=reacher_easy (after source_agent, "
                 "pretrain)",
    "fig_disentanglement": "diswm evaluate with {scale} task=<t> checkpoint=<encoder.pt or latest.pt> [part=teacher]",
}


def main(argv: list[str] | None = None) -> list:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--scale", default="smoke")
    parser.add_argument("--out", default=None, help="output folder (default $DISWM_HOME/figures)")
    args = parser.parse_args(argv)
    extra = ["--out", args.out or str(figures_dir())]  # fixed before $DISWM_HOME turns to the shipped results
    own, previous = outputs_home(), os.environ.get(HOME_ENV)
    homes = [own, *([SHIPPED] if SHIPPED.is_dir() and SHIPPED.resolve() != own.resolve() else [])]
    built, skipped = [], []
    for name, command in FIGURES.items():
        module = importlib.import_module(f"diswm_app.paper_figures.{name}")
        for home in homes:  # our own runs first; what they cannot draw, from the shipped smoke results
            os.environ[HOME_ENV] = str(home)
            try:
                paths = module.main(["--scale", args.scale, *extra])
            except FileNotFoundError as missing:
                reason = missing
                continue
            built += [(path, home) for path in paths]
            break
        else:
            skipped.append((name, command.format(scale=args.scale), reason))
    if previous is None:
        os.environ.pop(HOME_ENV, None)
    else:
        os.environ[HOME_ENV] = previous
    for path, home in built:
        print(f"built   {path}  (from {'the shipped smoke results, ' + str(SHIPPED) if home == SHIPPED else home})")
    for name, command, missing in skipped:
        print(f"skipped {name}: {missing}\n        produce its inputs with: {command}")
    return [path for path, _ in built]


if __name__ == "__main__":
    main()
    sys.exit(0)
