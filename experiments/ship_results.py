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

SHIPPED = REPOSITORY / "results" / "shipped"
README = """# Shipped results (smoke scale)

Produced by `make ship-results` (= `python -m diswm_app.experiments.ship_results`): the smoke pipeline of
`make demo` (a DreamerV2 source agent on Finger Spin whose replay is the videos, the teacher pretrained on
them, DisWM and DreamerV2 finetuned on Finger Spin -> Reacher Easy, random-policy videos for Figure 3,
`diswm evaluate` of the teacher and the student), on 2 CPU cores, in a temporary `DISWM_HOME`; then the
files the figures read were copied here. Smoke-scale models are barely trained: these figures show that
the pipeline works, not the paper's results. `make figures` uses this folder only when `$DISWM_HOME`
(default: the current directory) has no finetune records of its own.
"""


def main() -> int:
    with tempfile.TemporaryDirectory() as home:
        os.environ["DISWM_HOME"] = home
        if run_demo(Path(home) / "demo") != 0:
            return 1
        if SHIPPED.exists():
            shutil.rmtree(SHIPPED)
        # no per-interval checkpoints, and only the DisWM agent (no figure reads the baselines' or the source
        # agent's weights; the source agent's replay is in data/, as the teacher's videos)
        keep = shutil.ignore_patterns("_sources", "cout.txt", "*.tmp", "[0-9]*", "dreamerv2", "source_agent")
        shutil.copytree(Path(home) / "runs", SHIPPED / "runs", ignore=shutil.ignore_patterns("_sources", "cout.txt"))
        shutil.copytree(Path(home) / "data" / "smoke", SHIPPED / "data" / "smoke")
        shutil.copytree(Path(home) / "checkpoints", SHIPPED / "checkpoints", ignore=keep)
    (SHIPPED / "README.md").write_text(README)
    print(f"shipped results in {SHIPPED}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
