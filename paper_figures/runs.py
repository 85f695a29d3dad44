"""Read Sacred FileStorage records (``runs/<experiment>/<id>/``) into plain rows for figures and tables."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any


def finetune_runs(runs_dir: Path | str) -> list[dict[str, Any]]:
    """Every finetune run with its config, status and eval curve ``[(env_steps, return), ...]``.

    A run that was resumed has several records; :func:`grouped_curves` merges them.
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


def _hours(run: dict[str, Any]) -> float | None:
    from datetime import datetime

    start, stop = run.get("start_time"), run.get("stop_time") or run.get("heartbeat")
    if not start or not stop:
        return None
    return (datetime.fromisoformat(stop) - datetime.fromisoformat(start)).total_seconds() / 3600


def grouped_curves(runs_dir: Path | str, scale: str, where: dict[str, Any], group_by: str
                   ) -> dict[Any, list[list[tuple[int, float]]]]:
    """Eval curves of finetune runs at ``scale`` whose config matches ``where``, grouped by a config key
    (one curve per seed; a resumed run's records are merged)."""
    rows = [r for r in finetune_runs(runs_dir)
            if r["config"]["scale"] == scale and all(r["config"].get(k) == v for k, v in where.items())]
    merged: dict[tuple, dict[int, float]] = {}
    groups: dict[tuple, Any] = {}
    for row in sorted(rows, key=lambda r: r["id"]):
        key = (row["config"][group_by], row["config"]["seed"])
        merged.setdefault(key, {}).update(dict(row["curve"]))
        groups[key] = row["config"][group_by]
    result: dict[Any, list[list[tuple[int, float]]]] = {}
    for key, points in merged.items():
        if points:
            result.setdefault(groups[key], []).append(sorted(points.items()))
    return result
