"""Produce ``results/shipped/``: the smoke pipeline's records, small checkpoints, episodes and metric
scores, so that ``make figures`` draws real (smoke-scale) figures on a fresh clone.

    python -m diswm_app.experiments.ship_results        (or: make ship-results)
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
from pathlib import Path

from diswm_app import REPOSITORY
from diswm_app.experiments.demo import run_demo
from diswm_app.experiments.reproduce import main as reproduce_main

SHIPPED = REPOSITORY / "results" / "shipped"
#: the paper items whose smoke runs are shipped beside the demo's, so that every figure script draws (Figs. 7, 8, I)
ITEMS = ("fig7", "fig8", "figI")
README = """# Shipped results (smoke scale)

Produced by `make ship-results` (= `python -m diswm_app.experiments.ship_results`): the smoke pipeline of
`make demo` (a DreamerV2 source agent on Finger Spin whose replay is the videos, the teacher pretrained on
them, DisWM and DreamerV2 finetuned on Finger Spin -> Reacher Easy, random-policy videos for Figure 3,
`diswm evaluate` of the teacher and the student), then `diswm reproduce fig7`, `fig8` and `figI` at smoke scale
(one seed), on 2 CPU cores, in a temporary `DISWM_HOME`; then the files the figures read were copied here: every
run record, the videos, the teacher and the DisWM student of Finger Spin -> Reacher Easy (the other runs'
checkpoints are left out: their figures read records). Smoke-scale models are barely trained: these figures show
that the pipeline works, not the paper's results. `make figures` uses this folder for each figure that
`$DISWM_HOME` (default: the current directory) cannot draw from runs of its own.
"""


def main() -> int:
    with tempfile.TemporaryDirectory() as home:
        os.environ["DISWM_HOME"] = home
        if run_demo(Path(home) / "demo") != 0:
            return 1
        for item in ITEMS:
            if reproduce_main([item, "--scale", "smoke", "--seeds", "1"]) != 0:
                return 1
        if SHIPPED.exists():
            shutil.rmtree(SHIPPED)
        # no per-interval checkpoints; of the agents only the DisWM student of the demo (Figs. 6 and J read it; no
        # figure reads the other agents' weights; the source agents' replays are in data/, as the teachers' videos)
        checkpoints, smoke = Path(home) / "checkpoints", Path("smoke")
        keep = shutil.ignore_patterns("_sources", "cout.txt", "*.tmp", "[0-9]*", ".lock")
        shutil.copytree(Path(home) / "runs", SHIPPED / "runs", ignore=shutil.ignore_patterns("_sources", "cout.txt"))
        shutil.copytree(Path(home) / "data" / "smoke", SHIPPED / "data" / "smoke", ignore=keep)
        for folder in (smoke / "finger_spin", smoke / "finger_spin_to_reacher_easy" / "diswm"):
            for stage in ("pretrain", "finetune"):
                if (checkpoints / stage / folder).is_dir():
                    shutil.copytree(checkpoints / stage / folder, SHIPPED / "checkpoints" / stage / folder, ignore=keep)
    (SHIPPED / "README.md").write_text(README)
    print(f"shipped results in {SHIPPED}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
