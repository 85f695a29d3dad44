"""Figure 7 (Cheetah Run -> Walker Walk): ablations (DisWM, w/o distillation, w/o disentanglement) and
sensitivity to η (``eta_max``) and β, from the finetune records of those runs, e.g.

    diswm finetune with <diswm|no_distill|no_disentangle> <scale> source=cheetah_run task=walker_walk
    diswm finetune with diswm <scale> source=cheetah_run task=walker_walk eta_max=0.01   (and beta=...)
"""

from __future__ import annotations

from pathlib import Path

from diswm_app.paper_figures.common import plt, records_parser, save
from diswm_app.paper_figures.curves import plot_groups
from diswm_app.paper_figures.runs import grouped_curves

PAIR = {"source": "cheetah_run", "task": "walker_walk"}


def main(argv: list[str] | None = None) -> list[Path]:
    args = records_parser(__doc__).parse_args(argv)
    panels = [
        ("ablations", grouped_curves(args.runs, args.scale, PAIR, "method"), str),
        ("η (distillation)", grouped_curves(args.runs, args.scale, {**PAIR, "method": "diswm"}, "eta_max"),
         lambda v: f"η = {v}"),
        ("β (disentanglement)", grouped_curves(args.runs, args.scale, {**PAIR, "method": "diswm"}, "beta"),
         lambda v: f"β = {v}"),
    ]
    if not panels[0][1]:
        raise FileNotFoundError(f"no {args.scale}-scale cheetah_run -> walker_walk finetune records in {args.runs}")
    figure, axes = plt.subplots(1, 3, figsize=(12, 3.2))
    for ax, (title, groups, label) in zip(axes, panels, strict=True):
        plot_groups(ax, groups, label)
        ax.set_title(title, fontsize=9)
    figure.suptitle(f"Cheetah Run → Walker Walk ({args.scale} scale)", fontsize=10)
    return save(figure, args.out, f"fig7_ablations_{args.scale}")


if __name__ == "__main__":
    for path in main():
        print(path)
