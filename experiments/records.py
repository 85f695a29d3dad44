"""Copy Sacred FileStorage run records into MongoDB in the layout Sacred's MongoObserver writes, so that
runs recorded without a database can be browsed in Omniboard.

    diswm records import runs/ --mongo mongodb://127.0.0.1:27017/sacred

For each ``runs/<experiment>/<id>/`` (``run.json``, ``config.json``, ``info.json``, ``metrics.json``,
``cout.txt``, artifacts, ``_sources``): one ``runs`` document (``format`` MongoObserver-0.7.0,
datetimes as dates, sources and artifacts in GridFS, ``info.metrics`` naming the metric documents) and
one ``metrics`` document per metric. A run recorded before runs were named gets its descriptive name
(:func:`experiments.common.run_name`: experiment, method, source→target, scale, seed), and Omniboard columns
for them are installed (:mod:`experiments.omniboard`). Importing twice does
nothing: a run already present (same experiment name, start time and host) is skipped. Runs go in by start time;
each one goes in whole or not at all (records shipped without ``_sources`` go in without them); a record that
cannot be imported is named in one line and the others still go in.
"""

from __future__ import annotations

import json
import sys
from datetime import datetime
from pathlib import Path
from typing import Any

from diswm.paths import digest
from diswm.records import plain_json
from diswm_app.experiments.common import identity, run_name
from diswm_app.experiments.omniboard import install_columns

MONGO_FORMAT = "MongoObserver-0.7.0"
DATES = ("start_time", "stop_time", "heartbeat")


def _date(value):
    return datetime.fromisoformat(value) if isinstance(value, str) else value


def _read_json(path: Path, default):
    return json.loads(path.read_text()) if path.is_file() else default


def run_folders(runs_dir: Path | str) -> list[Path]:
    """Every FileStorage run folder below ``runs_dir`` (``<experiment>/<id>/`` or ``<id>/``)."""
    return sorted(path.parent for path in Path(runs_dir).rglob("run.json") if path.parent.name.isdigit())


class RecordError(ValueError):
    """A run folder that cannot be imported; the message names the file and the problem."""


def _load(path: Path, default=None, required: bool = False):
    if not path.is_file():
        if required:
            raise RecordError(f"{path}: missing")
        return default
    try:
        return json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise RecordError(f"{path}: not valid JSON ({error})") from error


def read_run(folder: Path) -> dict[str, Any]:
    """Everything of a run folder that goes into the database, read and checked before anything is written:
    run.json, config, info, metrics, captured output, artifacts and the sources that were stored (records
    shipped without ``_sources`` import without them)."""
    entry = _load(folder / "run.json", required=True)
    for key in ("experiment", "start_time", "command", "host", "meta", "status"):
        if key not in entry:
            raise RecordError(f"{folder / 'run.json'}: no {key!r}")
    metrics = _load(folder / "metrics.json", {})
    for name, series in metrics.items():
        if not isinstance(series, dict) or not {"steps", "values", "timestamps"} <= set(series) or \
                not len(series["steps"]) == len(series["values"]) == len(series["timestamps"]):
            raise RecordError(f"{folder / 'metrics.json'}: metric {name!r} is not a steps/values/timestamps series")
    artifacts = []
    for name in entry.get("artifacts", []):
        if not (folder / name).is_file():
            raise RecordError(f"{folder / name}: artifact listed in run.json is missing")
        artifacts.append((name, (folder / name).read_bytes()))
    sources = []
    for name, stored in entry["experiment"].get("sources", []):
        path = folder.parent / stored
        if path.is_file():
            sources.append((name, path.read_bytes()))
    return {"entry": entry, "config": _load(folder / "config.json", {}), "info": _load(folder / "info.json", {}),
            "metrics": metrics, "artifacts": artifacts, "sources": sources,
            "captured_out": (folder / "cout.txt").read_text(errors="replace") if (folder / "cout.txt").is_file()
            else ""}


def name_runs(runs: list[dict[str, Any]]) -> None:
    """Give each run read by :func:`read_run` its name in the runs list: the recorded one, or for a run recorded
    before runs were named, :func:`~diswm_app.experiments.common.run_name` of its config; where runs of other settings
    would share a name (an older budget, another teacher), each gets the digest of its settings appended."""
    named: dict[str, list[dict[str, Any]]] = {}
    for run in runs:
        experiment = run["entry"]["experiment"]
        if " " not in experiment["name"]:
            experiment["name"] = run_name(experiment["name"], run["config"])
            named.setdefault(experiment["name"], []).append(run)
    for group in named.values():
        digests = [settings_digest(run["config"]) for run in group]
        if len(set(digests)) > 1:
            for run, digest in zip(group, digests, strict=True):
                run["entry"]["experiment"]["name"] += f" · {digest}"


def settings_digest(config: dict[str, Any]) -> str:
    """8 hex digits of a config's settings (paths and devices left out): equal for the records of one resumed
    run, different for runs of other settings."""
    return digest(identity(config))


def import_run(folder: Path, database, fs, run: dict[str, Any] | None = None) -> int | None:
    """Insert one run; return its new ``_id``, or None when it is already in the database. All or nothing:
    if any write fails, what this run had written (GridFS files, metric documents) is removed again."""
    import pymongo

    run = run if run is not None else read_run(folder)
    entry = run["entry"]
    if " " not in entry["experiment"]["name"]:
        name_runs([run])
    experiment = dict(entry["experiment"])
    start_time = _date(entry["start_time"])
    duplicate = database["runs"].find_one({"experiment.name": experiment["name"], "start_time": start_time,
                                           "host.hostname": entry["host"].get("hostname")})
    if duplicate is not None:
        return None
    last = database["runs"].find({}, {"_id": 1}).sort("_id", pymongo.DESCENDING).limit(1)
    run_id = next(iter(last), {"_id": 0})["_id"] + 1
    written_files, written_metrics = [], []
    try:
        sources = []
        for name, content in run["sources"]:
            written_files.append(fs.put(content, filename=str(Path(experiment["base_dir"]) / name)))
            sources.append([name, written_files[-1]])
        experiment["sources"] = sources
        info = dict(run["info"])
        info.pop("metrics", None)  # ids of another database's metric documents, if a MongoObserver ran alongside
        document: dict[str, Any] = {
            "_id": run_id, "experiment": experiment, "format": MONGO_FORMAT, "command": entry["command"],
            "host": entry["host"], "start_time": start_time, "config": run["config"], "meta": entry["meta"],
            "status": entry["status"], "resources": entry.get("resources", []), "artifacts": [],
            "captured_out": run["captured_out"], "info": info, "heartbeat": _date(entry.get("heartbeat")),
        }
        for key in ("result", "stop_time", "fail_trace"):
            if key in entry:
                document[key] = _date(entry[key]) if key in DATES else plain_json(entry[key])
        for name, content in run["artifacts"]:
            written_files.append(fs.put(content, filename=f"artifact://runs/{run_id}/{name}", metadata=None,
                                        content_type=None))
            document["artifacts"].append({"name": name, "file_id": written_files[-1]})
        # metrics.json is sorted by name; MongoObserver lists metrics in the order they were first logged
        for name, series in sorted(run["metrics"].items(), key=lambda item: item[1]["timestamps"][:1]):
            result = database["metrics"].insert_one({
                "run_id": run_id, "name": name, "steps": series["steps"], "values": series["values"],
                "timestamps": [_date(t) for t in series["timestamps"]],
            })
            written_metrics.append(result.inserted_id)
            info.setdefault("metrics", []).append({"name": name, "id": str(result.inserted_id)})
        database["runs"].insert_one(document)
    except BaseException:
        for file_id in written_files:
            fs.delete(file_id)
        if written_metrics:
            database["metrics"].delete_many({"_id": {"$in": written_metrics}})
        raise
    return run_id


def import_runs(runs_dir: Path | str, database, fs=None,
                failures: list[str] | None = None) -> list[int]:
    """Import every run below ``runs_dir`` in start-time order; returns the ``_id``s of the runs inserted now.
    A run that cannot be imported is left out entirely, with one line naming it in ``failures`` (and on
    stderr); the others are imported."""
    import gridfs

    fs = fs if fs is not None else gridfs.GridFS(database)
    failures = failures if failures is not None else []
    readable = []
    for folder in run_folders(runs_dir):
        try:
            run = read_run(folder)
            readable.append((_date(run["entry"]["start_time"]), str(folder), folder, run))
        except (RecordError, OSError, ValueError) as error:
            failures.append(f"{folder}: {error}" if str(folder) not in str(error) else str(error))
    name_runs([run for *_, run in readable])
    imported = []
    for _, _, folder, run in sorted(readable, key=lambda item: item[:2]):
        try:
            run_id = import_run(folder, database, fs, run)
        except Exception as error:  # a database error for this run: the others still go in
            failures.append(f"{folder}: {error.__class__.__name__}: {error}")
            continue
        if run_id is not None:
            imported.append(run_id)
    if imported:  # method, source, task, scale, seed and the last eval return in Omniboard's runs list
        install_columns(database)
    for line in failures:
        print(f"[records] not imported: {line}", file=sys.stderr)
    return imported


def main(argv: list[str]) -> int:
    import argparse

    import pymongo
    from pymongo.errors import PyMongoError

    from diswm_app.experiments.common import mongo_db_name

    parser = argparse.ArgumentParser(prog="diswm records import", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("runs_dir")
    parser.add_argument("--mongo", required=True, help="mongodb://host:port/<database>")
    parser.add_argument("--timeout", type=float, default=3.0, help="seconds to wait for the database")
    args = parser.parse_args(argv)
    if not Path(args.runs_dir).is_dir():
        print(f"error: {args.runs_dir} is not a folder of run records", file=sys.stderr)
        return 2
    client = pymongo.MongoClient(args.mongo, serverSelectionTimeoutMS=int(args.timeout * 1000))
    try:
        client.admin.command("ping")
    except PyMongoError as error:
        print(f"error: no MongoDB at {args.mongo} within {args.timeout:g} s ({error.__class__.__name__})",
              file=sys.stderr)
        return 2
    failures: list[str] = []
    imported = import_runs(args.runs_dir, client[mongo_db_name(args.mongo)], failures=failures)
    print(f"imported {len(imported)} run(s) from {args.runs_dir}" + (f"; {len(failures)} not imported (above)"
                                                                    if failures else ""))
    return 1 if failures else 0
