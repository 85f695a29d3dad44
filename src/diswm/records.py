"""Read the finetune stage's Sacred FileStorage records (``runs/finetune/<id>/``: ``run.json``,
``config.json``, ``metrics.json``, ``info.json``) as plain dicts, for figures and tables. Reading JSON
files needs no Sacred."""

from __future__ import annotations

import json
import sys
from datetime import datetime
from pathlib import Path
from typing import Any


def finetune_records(runs_dir: Path | str) -> list[dict[str, Any]]:
    """Every finetune record: ``id``, ``status``, ``config``, ``info``, ``seconds`` (wall time so far),
    ``curve`` [(env_steps, eval return)], ``success_curve`` [(env_steps, eval success rate)] (DrawerWorld) and
    ``inference`` (seconds per evaluation episode).

    A resumed run has several records, one per invocation; callers merge them by config.
    """
    records = []
    for folder in sorted(Path(runs_dir, "finetune").glob("[0-9]*"), key=lambda p: int(p.name)):
        try:
            run = json.loads((folder / "run.json").read_text())
            config = json.loads((folder / "config.json").read_text())
            metrics = json.loads((folder / "metrics.json").read_text())
        except (FileNotFoundError, json.JSONDecodeError) as error:  # killed before or while writing its files
            print(f"[records] skipped {folder}: {error.__class__.__name__}: {error}", file=sys.stderr)
            continue
        info = json.loads((folder / "info.json").read_text()) if (folder / "info.json").is_file() else {}
        end = run.get("stop_time") or run.get("heartbeat")
        seconds = (datetime.fromisoformat(end) - datetime.fromisoformat(run["start_time"])).total_seconds() \
            if end and run.get("start_time") else 0.0
        result = run.get("result") if isinstance(run.get("result"), dict) else {}
        records.append({
            "id": int(folder.name), "status": run.get("status"), "config": config, "info": info, "seconds": seconds,
            # the metrics Sacred flushed, completed by the run's own result (the whole evaluation history)
            "curve": _merged(metrics, "eval_return", result.get("eval_returns")),
            "success_curve": _merged(metrics, "eval_success_rate", result.get("eval_success_rates")),
            "inference": metrics.get("eval_seconds_per_episode", {"values": []})["values"],
        })
    return records


def plain_json(value: Any) -> Any:
    """``value`` with Sacred's JSON of a Python tuple (``{"py/tuple": [...]}``, in records made before results
    were plain lists) turned into lists, at any depth."""
    if isinstance(value, dict):
        return plain_json(value["py/tuple"]) if set(value) == {"py/tuple"} else {k: plain_json(v)
                                                                                 for k, v in value.items()}
    return [plain_json(v) for v in value] if isinstance(value, list) else value


def _merged(metrics: dict[str, Any], name: str, result: Any) -> list[tuple[int, float]]:
    series = metrics.get(name, {"steps": [], "values": []})
    curve = dict(zip(series["steps"], series["values"], strict=True))
    curve.update((int(step), float(value)) for step, value in plain_json(result or []))
    return sorted(curve.items())


def checkpoint_curves(folder: Path | str) -> dict[str, list[tuple[int, float]]]:
    """A finetune checkpoint's own evaluation history (``latest.pt`` in ``folder``): ``curve`` and
    ``success_curve`` as in :func:`finetune_records`; empty when there is no checkpoint."""
    from diswm.checkpoint import load_checkpoint

    path = Path(folder) / "latest.pt"
    history = load_checkpoint(path)["progress"]["eval_history"] if path.is_file() else []
    return {"curve": [(h["env_steps"], h["return_mean"]) for h in history],
            "success_curve": [(h["env_steps"], h["success_rate"]) for h in history if "success_rate" in h]}


def flat_config(config: dict[str, Any]) -> dict[str, Any]:
    """A run's nested config as ``{name: value}``: top-level keys, then every leaf under a section by its own
    name (the first of a name under several sections). Records made before the configs were nested are flat
    already and come back unchanged, so figures and tables select runs by ``eta_max``, ``z_dim`` in both."""
    leaves: dict[str, Any] = {}

    def visit(section: dict[str, Any]) -> None:
        for key, value in section.items():
            if isinstance(value, dict):
                visit(value)
            else:
                leaves.setdefault(key, value)

    visit({key: value for key, value in config.items() if isinstance(value, dict)})
    return {**leaves, **{key: value for key, value in config.items() if not isinstance(value, dict)}}
