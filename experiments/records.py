"""Copy Sacred FileStorage run records into MongoDB in the layout Sacred's MongoObserver writes, so that
runs recorded without a database can be browsed in Omniboard.

    diswm records import runs/ --mongo mongodb://127.0.0.1:27017/sacred

For each ``runs/<experiment>/<id>/`` (``run.json``, ``config.json``, ``info.json``, ``metrics.json``,
``cout.txt``, artifacts, ``_sources``): one ``runs`` document (``format`` MongoObserver-0.7.0,
datetimes as dates, sources and artifacts in GridFS, ``info.metrics`` naming the metric documents) and
one ``metrics`` document per metric. Importing twice does nothing: a run already present (same
experiment name, start time and host) is skipped.
"""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Any

MONGO_FORMAT = "MongoObserver-0.7.0"
DATES = ("start_time", "stop_time", "heartbeat")


def _date(value):
    return datetime.fromisoformat(value) if isinstance(value, str) else value


def _read_json(path: Path, default):
    return json.loads(path.read_text()) if path.is_file() else default


def run_folders(runs_dir: Path | str) -> list[Path]:
    """Every FileStorage run folder below ``runs_dir`` (``<experiment>/<id>/`` or ``<id>/``)."""
    return sorted(path.parent for path in Path(runs_dir).rglob("run.json") if path.parent.name.isdigit())


def import_run(folder: Path, database, fs) -> int | None:
    """Insert one run; return its new ``_id``, or None when it is already in the database."""
    import pymongo

    entry = json.loads((folder / "run.json").read_text())
    experiment = dict(entry["experiment"])
    start_time = _date(entry["start_time"])
    duplicate = database["runs"].find_one({"experiment.name": experiment["name"], "start_time": start_time,
                                           "host.hostname": entry["host"].get("hostname")})
    if duplicate is not None:
        return None
    sources = []
    for name, stored in experiment.get("sources", []):
        with open(folder.parent / stored, "rb") as handle:
            sources.append([name, fs.put(handle, filename=str(Path(experiment["base_dir"]) / name))])
    experiment["sources"] = sources
    last = database["runs"].find({}, {"_id": 1}).sort("_id", pymongo.DESCENDING).limit(1)
    run_id = next(iter(last), {"_id": 0})["_id"] + 1
    info = _read_json(folder / "info.json", {})
    info.pop("metrics", None)  # ids of another database's metric documents, if a MongoObserver ran alongside
    document: dict[str, Any] = {
        "_id": run_id,
        "experiment": experiment,
        "format": MONGO_FORMAT,
        "command": entry["command"],
        "host": entry["host"],
        "start_time": start_time,
        "config": _read_json(folder / "config.json", {}),
        "meta": entry["meta"],
        "status": entry["status"],
        "resources": entry.get("resources", []),
        "artifacts": [],
        "captured_out": (folder / "cout.txt").read_text() if (folder / "cout.txt").is_file() else "",
        "info": info,
        "heartbeat": _date(entry.get("heartbeat")),
    }
    for key in ("result", "stop_time", "fail_trace"):
        if key in entry:
            document[key] = _date(entry[key]) if key in DATES else entry[key]
    for name in entry.get("artifacts", []):
        with open(folder / name, "rb") as handle:
            file_id = fs.put(handle, filename=f"artifact://runs/{run_id}/{name}", metadata=None, content_type=None)
        document["artifacts"].append({"name": name, "file_id": file_id})
    metrics = _read_json(folder / "metrics.json", {})
    # metrics.json is sorted by name; MongoObserver lists metrics in the order they were first logged
    for name, series in sorted(metrics.items(), key=lambda item: item[1]["timestamps"][:1]):
        result = database["metrics"].insert_one({
            "run_id": run_id, "name": name, "steps": series["steps"], "values": series["values"],
            "timestamps": [_date(t) for t in series["timestamps"]],
        })
        info.setdefault("metrics", []).append({"name": name, "id": str(result.inserted_id)})
    database["runs"].insert_one(document)
    return run_id


def import_runs(runs_dir: Path | str, database, fs=None) -> list[int]:
    """Import every run below ``runs_dir``; returns the ``_id``s of the runs inserted now."""
    import gridfs

    fs = fs if fs is not None else gridfs.GridFS(database)
    return [run_id for folder in run_folders(runs_dir) if (run_id := import_run(folder, database, fs)) is not None]


def main(argv: list[str]) -> int:
    import argparse

    import pymongo

    from experiments.common import mongo_db_name

    parser = argparse.ArgumentParser(prog="diswm records import", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("runs_dir")
    parser.add_argument("--mongo", required=True, help="mongodb://host:port/<database>")
    args = parser.parse_args(argv)
    client = pymongo.MongoClient(args.mongo, serverSelectionTimeoutMS=5000)
    imported = import_runs(args.runs_dir, client[mongo_db_name(args.mongo)])
    print(f"imported {len(imported)} run(s) from {args.runs_dir}")
    return 0
