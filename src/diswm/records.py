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
        curve = metrics.get("eval_return", {"steps": [], "values": []})
        success = metrics.get("eval_success_rate", {"steps": [], "values": []})
        records.append({
            "id": int(folder.name), "status": run.get("status"), "config": config, "info": info, "seconds": seconds,
            "curve": list(zip(curve["steps"], curve["values"], strict=True)),
            "success_curve": list(zip(success["steps"], success["values"], strict=True)),
            "inference": metrics.get("eval_seconds_per_episode", {"values": []})["values"],
        })
    return records
