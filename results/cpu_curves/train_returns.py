"""Mean training-episode return per 20k env steps of the cpu-scale runs (the second table of README.md).

    python results/cpu_curves/train_returns.py
"""

import json
from pathlib import Path

import numpy as np

RUNS = Path(__file__).resolve().parent / "runs" / "finetune"

for method, ids in (("DreamerV2", (1, 3)), ("DisWM", (2, 4))):
    points = {}
    for run in ids:  # a resumed run has two records; the later one wins on repeated steps
        metric = json.loads((RUNS / str(run) / "metrics.json").read_text()).get("train_return", {})
        points.update(zip(metric.get("steps", []), metric.get("values", []), strict=True))
    steps, values = np.array(sorted(points)), np.array([points[s] for s in sorted(points)])
    cells = [f"{values[(steps > lo) & (steps <= lo + 20_000)].mean():.0f}" for lo in range(0, 100_000, 20_000)]
    print(f"| {method} | " + " | ".join(cells) + " |")
