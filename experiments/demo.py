"""The small end-to-end demonstration (``diswm demo``, ``make demo``; ``make ship-results`` keeps its outputs).

The whole pipeline at smoke scale, as the paper: a DreamerV2 agent learns the source task (its replay is the
videos) -> teacher -> DisWM and DreamerV2 agents -> MIG, DCI and SAP of the teacher and the DisWM student;
then Figure 3 (random-policy videos), the learning curves and the disentanglement figure.
"""

from __future__ import annotations

import importlib
import sys
from pathlib import Path

from diswm.agents.video_model import PretrainConfig
from diswm.paths import finetune_base_folder, outputs_home, teacher_encoder

#: (stage, Sacred arguments) in order; each is ``diswm <stage> <arguments>``
STEPS: list[tuple[str, list[str]]] = [
    ("source_agent", ["with", "finger_spin", "smoke"]),
    ("pretrain", ["with", "finger_spin", "smoke"]),
    *[("collect", ["with", f"task={task}", "smoke"])  # Figure 3's observations
      for task in ("finger_spin", "walker_walk", "reacher_easy", "pusher")],
    ("finetune", ["with", "diswm", "smoke", "source=finger_spin", "task=reacher_easy"]),
    ("finetune", ["with", "dreamerv2", "smoke", "source=finger_spin", "task=reacher_easy"]),
]


def run_demo(out: Path | str) -> int:
    """Every step, then the figures into ``out``; 1 (and one line naming the step) when a step fails."""
    from diswm_app.paper_figures import fig3_distracted_observations, fig4_learning_curves, fig_disentanglement

    teacher = teacher_encoder("smoke", "finger_spin", PretrainConfig.beta, PretrainConfig.z_dim, "dreamerv2_replay",
                              seed=0)
    student = finetune_base_folder("smoke", "finger_spin", "reacher_easy", "diswm", "dreamerv2_replay", seed=0) \
        / "latest.pt"
    steps = [
        *STEPS,
        ("evaluate", ["with", "smoke", "task=finger_spin", f"checkpoint={teacher}"]),  # the teacher on its source
        # the student on its target: MIG/DCI/SAP, and its return over 5 episodes side by side
        ("evaluate", ["with", "smoke", "task=reacher_easy", f"checkpoint={student}", "episodes=5"]),
    ]
    for stage, argv in steps:
        if importlib.import_module(f"diswm_app.experiments.{stage}").run_cli(argv) != 0:
            print(f"demo stopped: `diswm {stage} {' '.join(argv)}` failed", file=sys.stderr)
            return 1
    outputs = [path for figure in (fig3_distracted_observations, fig4_learning_curves, fig_disentanglement)
               for path in figure.main(["--scale", "smoke", "--out", str(out)])]
    print("demo outputs:", *outputs, f"run records: {outputs_home() / 'runs'}", sep="\n  ")
    return 0
