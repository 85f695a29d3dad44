"""The tables of a cpu-curves README from its Sacred records: evaluation return per evaluation, mean
training-episode return per bin of env steps, and wall clock, per method (a resumed run's records merged,
the later record winning on repeated steps).

    python results/cpu_curves/summarise.py results/cpu_curves/finger_spin_to_cartpole_swingup/runs [--bin 10000]
"""

import argparse
import json
from pathlib import Path

import numpy as np

from diswm.records import finetune_records

NAMES = {"diswm": "DisWM", "dreamerv2": "DreamerV2"}


def merged(records: list[dict], folder: Path, metric: str) -> dict[int, float]:
    points: dict[int, float] = {}
    for record in records:
        values = json.loads((folder / "finetune" / str(record["id"]) / "metrics.json").read_text()).get(metric, {})
        points.update(zip(values.get("steps", []), values.get("values", []), strict=True))
    return dict(sorted(points.items()))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("runs", type=Path)
    parser.add_argument("--bin", type=int, default=10_000, help="env steps per training-return cell")
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
    for method, records in by_method.items():
        points = merged(records, args.runs, "train_return")
        at, values = np.array(list(points)), np.array(list(points.values()))
        cells = [f"{values[(at > lo) & (at <= lo + args.bin)].mean():.0f}" if ((at > lo) & (at <= lo + args.bin)).any()
                 else "" for lo in edges]
        hours = sum(r["seconds"] for r in records) / 3600
        print(f"| {NAMES.get(method, method)} | " + " | ".join(cells) + f" | {hours:.1f} h |")


if __name__ == "__main__":
    main()
