"""Omniboard 2.16.1 columns for our runs, written straight into its collections (what its "Custom Columns"
and "Metric Columns" dialogs save):

- ``omniboard.custom.columns``: ``{name, config_path}``, e.g. ``{"name": "method", "config_path":
  "config.method"}``; the runs list shows the value at ``config_path`` of each run under ``name``.
- ``omniboard.metric.columns``: ``{name, metric_name, extrema, lastn}``; ``extrema`` is one of ``min``,
  ``max``, ``avg``, ``last`` or ``last_avg`` (the mean of the last ``lastn`` values), computed by the server
  from the run's metric documents (those named in ``info.metrics``).
"""

from __future__ import annotations

from typing import Any

CUSTOM_COLUMNS = "omniboard.custom.columns"
METRIC_COLUMNS = "omniboard.metric.columns"
CONFIG_COLUMNS = {name: f"config.{name}" for name in ("method", "source", "task", "scale", "seed")}
METRIC_COLUMNS_SPEC: dict[str, dict[str, Any]] = {
    "eval_return_last": {"metric_name": "eval_return", "extrema": "last", "lastn": 1},
}


def install_columns(db: Any) -> None:
    """Upsert our config-path and metric columns into ``db`` (a pymongo database), keyed by column name;
    calling it again changes nothing, and other columns are left alone."""
    for name, path in CONFIG_COLUMNS.items():
        db[CUSTOM_COLUMNS].update_one({"name": name}, {"$set": {"config_path": path}}, upsert=True)
    for name, spec in METRIC_COLUMNS_SPEC.items():
        db[METRIC_COLUMNS].update_one({"name": name}, {"$set": spec}, upsert=True)
