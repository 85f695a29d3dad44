"""Figure 8: Cartpole Swingup with videos from different source tasks (DisWM) against DreamerV2, from
the finetune records of ``diswm finetune with diswm <scale> task=cartpole_swingup source=<each source>``."""

from __future__ import annotations

from pathlib import Path

from diswm_app.paper_figures.common import plt, records_parser, save
from diswm_app.paper_figures.curves import plot_groups
from diswm_app.paper_figures.runs import grouped_curves


def main(argv: list[str] | None = None) -> list[Path]:
    args = records_parser(__doc__).parse_args(argv)
    target = {"task": "cartpole_swingup"}
    groups = {f"DisWM, {source} videos": curves for source, curves in
              grouped_curves(args.runs, args.scale, {**target, "method": "diswm"}, "source").items()}
    baseline = grouped_curves(args.runs, args.scale, {**target, "method": "dreamerv2"}, "method")
    if "dreamerv2" in baseline:
        groups["DreamerV2"] = baseline["dreamerv2"]
    if not groups:
        raise FileNotFoundError(f"no {args.scale}-scale cartpole_swingup finetune records in {args.runs}")
    figure, ax = plt.subplots(figsize=(5, 3.4))
    plot_groups(ax, groups)
    ax.set_title(f"Cartpole Swingup: video sources ({args.scale} scale)", fontsize=9)
    return save(figure, args.out, f"fig8_video_sources_{args.scale}")


if __name__ == "__main__":
    for path in main():
        print(path)
