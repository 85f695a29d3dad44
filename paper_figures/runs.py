"""Read Sacred FileStorage records (``runs/<experiment>/<id>/``) into plain rows for figures and tables."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any


def finetune_runs(runs_dir: Path | str) -> list[dict[str, Any]]:
    """Every finetune run with its config, status and eval curve ``[(env_steps, return), ...]``.

    A run that was resumed has several records; the caller picks (see :func:`latest_per_cell`).
    """
    rows = []
    for record in sorted(Path(runs_dir, "finetune").glob("[0-9]*")):
        try:
            config = json.loads((record / "config.json").read_text())
            run = json.loads((record / "run.json").read_text())
            metrics = json.loads((record / "metrics.json").read_text())
        except (FileNotFoundError, json.JSONDecodeError):
            continue  # a run that died before writing its files
        curve = metrics.get("eval_return", {"steps": [], "values": []})
        rows.append({
            "id": int(record.name), "status": run.get("status"), "config": config,
            "cell": (config["scale"], config["source"], config["task"], config["method"], config["seed"]),
            "curve": list(zip(curve["steps"], curve["values"], strict=True)),
            "hours": _hours(run),
        })
    return rows


def latest_per_cell(rows: list[dict[str, Any]]) -> dict[tuple, list[tuple[int, float]]]:
    """Merge the records of one (scale, source, task, method, seed) cell: a resumed run continues the curve."""
    curves: dict[tuple, dict[int, float]] = {}
    for row in sorted(rows, key=lambda r: r["id"]):
        curves.setdefault(row["cell"], {}).update(dict(row["curve"]))
    return {cell: sorted(points.items()) for cell, points in curves.items() if points}


def _hours(run: dict[str, Any]) -> float | None:
    from datetime import datetime

    start, stop = run.get("start_time"), run.get("stop_time") or run.get("heartbeat")
    if not start or not stop:
        return None
    return (datetime.fromisoformat(stop) - datetime.fromisoformat(start)).total_seconds() / 3600
