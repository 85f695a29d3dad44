"""Figure 4: evaluation return over environment steps per transfer pair, one line per method (mean and
min-max band over seeds), read from the Sacred records of the ``finetune`` experiment.

The paper's approximate final values (read off paper Fig. 4, ±~20) are marked at the
right edge for the paper-scale panels; smaller scales are labelled as such.
"""

from __future__ import annotations

from pathlib import Path

from diswm.records import finetune_records
from diswm_app import paper_numbers
from diswm_app.paper_figures.common import plt, records_parser, save
from diswm_app.paper_figures.curves import plot_groups
from diswm_app.paper_figures.runs import grouped_curves

#: (source, target) -> method -> return at 1M env steps read off the paper's Figure 4 (±~20; paper_numbers.json)
PAPER_FINAL = paper_numbers()["fig4"]
COLOURS = {"diswm": "tab:red", "dreamerv2": "tab:blue", "dv2_finetune": "tab:purple", "apv": "tab:brown",
           "no_distill": "tab:green", "no_disentangle": "tab:cyan"}


def panels(runs_dir: Path, scale: str) -> dict[tuple[str, str], dict[str, list]]:
    pairs = sorted({(r["config"]["source"], r["config"]["task"]) for r in finetune_records(runs_dir)
                    if r["config"]["scale"] == scale})
    return {pair: grouped_curves(runs_dir, scale, {"source": pair[0], "task": pair[1]}, "method")
            for pair in pairs}


def plot(grouped, scale: str):
    pairs = sorted(grouped)
    figure, axes = plt.subplots(1, len(pairs), figsize=(4.2 * len(pairs), 3.2), squeeze=False)
    for ax, pair in zip(axes[0], pairs, strict=True):
        plot_groups(ax, grouped[pair], colours=COLOURS)
        if scale == "paper":
            for method, final in PAPER_FINAL.get(pair, {}).items():
                if method in grouped[pair]:
                    ax.scatter([1e6], [final], marker="*", color=COLOURS.get(method), zorder=3)
        ax.set_title(f"{pair[0]} → {pair[1]}".replace("_", " "), fontsize=9)
    figure.suptitle(f"Learning curves ({scale} scale{'; stars: paper Fig. 4 at 1M' if scale == 'paper' else ''})",
                    fontsize=10)
    return figure


def main(argv: list[str] | None = None) -> list[Path]:
    args = records_parser(__doc__).parse_args(argv)
    grouped = panels(Path(args.runs), args.scale)
    if not grouped:
        raise FileNotFoundError(f"no {args.scale}-scale finetune records under {args.runs}/finetune")
    return save(plot(grouped, args.scale), args.out, f"fig4_learning_curves_{args.scale}")


if __name__ == "__main__":
    for path in main():
        print(path)
