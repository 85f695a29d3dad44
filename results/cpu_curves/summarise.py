"""The tables of a cpu-curves README from its Sacred records: evaluation return per evaluation, mean
training-episode return per bin of env steps, and wall clock, per method (a resumed run's records merged,
the later record winning on repeated steps). ``--plot`` also draws both curves beside each other, with
reference returns (``--reference NAME=VALUE``, e.g. from ``python -m bench.random_policy``) as lines.

    python results/cpu_curves/summarise.py results/cpu_curves/finger_spin_to_cartpole_swingup/runs \
        [--bin 10000] [--plot curves.png --reference "random policy=43.9"]
"""

import argparse
import json
from pathlib import Path

import numpy as np

from diswm.records import finetune_records

NAMES = {"diswm": "DisWM", "dreamerv2": "DreamerV2", "no_distill": "w/o distillation"}
COLOURS = {"diswm": "tab:red", "dreamerv2": "tab:blue", "no_distill": "tab:green"}


def merged(records: list[dict], folder: Path, metric: str) -> dict[int, float]:
    points: dict[int, float] = {}
    for record in records:
        values = json.loads((folder / "finetune" / str(record["id"]) / "metrics.json").read_text()).get(metric, {})
        points.update(zip(values.get("steps", []), values.get("values", []), strict=True))
    return dict(sorted(points.items()))


def plot(evals: dict, trains: dict, references: dict[str, float], switch: int | None, title: str, path: Path
         ) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(1, 2, figsize=(10, 3.4), sharey=True)
    for ax, curves, what in ((axes[0], evals, "evaluation return (actor mode)"),
                             (axes[1], trains, "training-episode return (sampled actions)")):
        for method, points in curves.items():
            ax.plot(list(points), list(points.values()), label=NAMES.get(method, method),
                    color=COLOURS.get(method), marker="o" if curves is evals else None, markersize=3,
                    linewidth=1.5 if curves is evals else 0.8)
        for (name, value), style in zip(references.items(), (":", "--", "-."), strict=False):
            ax.axhline(value, color="grey", linestyle=style, linewidth=1, label=name)
        if switch:
            ax.axvline(switch, color="black", linewidth=0.6, alpha=0.5)
        ax.set_title(what, fontsize=9)
        ax.set_xlabel("environment steps")
        ax.legend(fontsize=7)
    axes[0].set_ylabel("return")
    figure.suptitle(title, fontsize=10)
    figure.savefig(path, dpi=150, bbox_inches="tight")
    plt.close(figure)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("runs", type=Path)
    parser.add_argument("--bin", type=int, default=10_000, help="env steps per training-return cell")
    parser.add_argument("--plot", type=Path, help="also draw the curves into this image")
    parser.add_argument("--reference", action="append", default=[], metavar="NAME=VALUE",
                        help="a reference return drawn as a horizontal line (repeatable)")
    args = parser.parse_args()
    by_method: dict[str, list[dict]] = {}
    for record in finetune_records(args.runs):
        by_method.setdefault(record["config"]["method"], []).append(record)
    evals = {m: merged(rs, args.runs, "eval_return") for m, rs in by_method.items()}
    steps = sorted({s for curve in evals.values() for s in curve})
    print("| env steps | " + " | ".join(f"{s // 1000}k" for s in steps) + " |")
    print("|---" * (len(steps) + 1) + "|")
    for method, curve in evals.items():
        cells = [f"{curve[s]:.0f}" if s in curve else "" for s in steps]
        print(f"| {NAMES.get(method, method)} eval return | " + " | ".join(cells) + " |")
    budget = max(r["config"]["env_steps"] for rs in by_method.values() for r in rs)
    edges = range(0, budget, args.bin)
    print("\n| method | " + " | ".join(f"{lo // 1000}-{(lo + args.bin) // 1000}k" for lo in edges) + " | wall clock |")
    print("|---" * (len(edges) + 2) + "|")
    trains = {m: merged(rs, args.runs, "train_return") for m, rs in by_method.items()}
    for method, records in by_method.items():
        at, values = np.array(list(trains[method])), np.array(list(trains[method].values()))
        cells = []
        for lo in edges:
            in_bin = values[(at > lo) & (at <= lo + args.bin)]
            cells.append(f"{in_bin.mean():.0f}" if in_bin.size else "")
        hours = sum(r["seconds"] for r in records) / 3600
        print(f"| {NAMES.get(method, method)} | " + " | ".join(cells) + f" | {hours:.1f} h |")
    if args.plot:
        references = {name: float(value) for name, _, value in (r.partition("=") for r in args.reference)}
        config = next(iter(by_method.values()))[0]["config"]
        switch = budget // 2 if config["colour_schedule"] == "switch" else None
        title = (f"{config['source']} → {config['task']}, {config['scale']} scale, one seed per method"
                 + (f", test colours from {switch // 1000}k (vertical line)" if switch else "")).replace("_", " ")
        plot(evals, trains, references, switch, title, args.plot)
        print(f"-> {args.plot}")


if __name__ == "__main__":
    main()
