"""Figure I: sensitivity to the latent size ``z_dim`` (Cheetah Run -> Walker Walk), from the records of
``diswm finetune with diswm <scale> source=cheetah_run task=walker_walk z_dim=<d>`` (the teacher must be
pretrained with the same ``z_dim``)."""

from __future__ import annotations

from pathlib import Path

from diswm_app.paper_figures.common import plt, records_parser, save
from diswm_app.paper_figures.curves import plot_groups
from diswm_app.paper_figures.runs import grouped_curves


def main(argv: list[str] | None = None) -> list[Path]:
    args = records_parser(__doc__).parse_args(argv)
    where = {"source": "cheetah_run", "task": "walker_walk", "method": "diswm"}
    groups = grouped_curves(args.runs, args.scale, where, "z_dim")
    if not groups:
        raise FileNotFoundError(f"no {args.scale}-scale DisWM cheetah_run -> walker_walk records in {args.runs}")
    figure, ax = plt.subplots(figsize=(5, 3.4))
    plot_groups(ax, groups, lambda d: f"z_dim = {d}")
    ax.set_title(f"Latent size (Cheetah Run → Walker Walk, {args.scale} scale)", fontsize=9)
    return save(figure, args.out, f"figI_zdim_{args.scale}")


if __name__ == "__main__":
    for path in main():
        print(path)
