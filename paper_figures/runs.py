"""Evaluation curves from the finetune stage's run records (see :mod:`diswm.records`)."""

from __future__ import annotations

from dataclasses import fields
from pathlib import Path
from typing import Any

from diswm.agents.behavior import BehaviorConfig
from diswm.agents.world_model import WorldModelConfig
from diswm.models import RSSMConfig
from diswm.records import finetune_records, flat_config

#: the settings of the model and its learning (world model, RSSM, behaviour): a run whose differences from its
#: method's own settings touch one of these is a sweep of that setting, and belongs only to a panel of it
MODEL_SETTINGS = frozenset(f.name for cls in (WorldModelConfig, RSSMConfig, BehaviorConfig) for f in fields(cls))


def swept(record: dict[str, Any]) -> set[str]:
    """The model settings in which a run differs from its method's own (``info.settings_differences``, by leaf
    name: ``world_model.eta_max`` -> ``eta_max``); budgets, schedules and paths are not among them."""
    differences = record["info"].get("settings_differences") or {}
    return {key.rsplit(".", 1)[-1] for key in differences} & MODEL_SETTINGS


def grouped_curves(runs_dir: Path | str, scale: str, where: dict[str, Any], group_by: str
                   ) -> dict[Any, list[list[tuple[int, float]]]]:
    """Eval curves of finetune runs at ``scale`` whose config matches ``where``, grouped by a config key, one
    curve per run (a resumed run's records are merged by its folder). A run that sweeps another model setting
    than ``group_by`` (Fig. 7's β runs in its η panel, say) is left out."""
    rows = [{**r, "config": flat_config(r["config"])} for r in finetune_records(runs_dir)]
    rows = [r for r in rows if r["config"]["scale"] == scale and all(r["config"].get(k) == v for k, v in where.items())
            and swept(r) <= {group_by}]
    merged: dict[tuple, dict[int, float]] = {}
    groups: dict[tuple, Any] = {}
    for row in sorted(rows, key=lambda r: r["id"]):
        folder = row["info"].get("out_dir") or row["config"].get("out_dir") or row["id"]
        key = (row["config"][group_by], row["config"]["seed"], str(folder))
        merged.setdefault(key, {}).update(dict(row["curve"]))
        groups[key] = row["config"][group_by]
    result: dict[Any, list[list[tuple[int, float]]]] = {}
    for key, points in merged.items():
        if points:
            result.setdefault(groups[key], []).append(sorted(points.items()))
    return result
