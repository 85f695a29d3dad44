"""Evaluation curves from the finetune stage's run records (see :mod:`diswm.records`)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from diswm.records import finetune_records, flat_config


def grouped_curves(runs_dir: Path | str, scale: str, where: dict[str, Any], group_by: str
                   ) -> dict[Any, list[list[tuple[int, float]]]]:
    """Eval curves of finetune runs at ``scale`` whose config matches ``where``, grouped by a config key
    (one curve per seed; a resumed run's records are merged)."""
    rows = [{**r, "config": flat_config(r["config"])} for r in finetune_records(runs_dir)]
    rows = [r for r in rows if r["config"]["scale"] == scale and all(r["config"].get(k) == v for k, v in where.items())]
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
