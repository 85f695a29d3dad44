"""The importer writes what Sacred's MongoObserver writes, checked against MongoObserver itself."""

import json
import shutil
import time
from pathlib import Path

import gridfs
import mongomock
import mongomock.gridfs
import pytest
from bson import ObjectId
from sacred.observers import FileStorageObserver, MongoObserver

from diswm_app.experiments.collect import ex
from diswm_app.experiments.records import import_runs, run_folders

IDS = ("_id", "file_id", "id", "run_id")


def normalise(value, fs):
    """ObjectIds -> the GridFS file's content (or a placeholder); the rest as is."""
    if isinstance(value, dict):
        return {k: (None if k in ("id",) else normalise(v, fs)) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [normalise(v, fs) for v in value]
    if isinstance(value, ObjectId):
        return fs.get(value).read() if fs.exists(value) else "<id>"
    return value


def test_imported_documents_equal_the_mongo_observers(tmp_path):
    mongomock.gridfs.enable_gridfs_integration()
    client = mongomock.MongoClient()
    direct = client["direct"]
    observers = [FileStorageObserver(str(tmp_path / "runs" / "collect")),
                 MongoObserver.create_from(direct["runs"], gridfs.GridFS(direct), metrics_collection=direct["metrics"])]
    ex.observers.extend(observers)
    try:
        ex.run(named_configs=["reacher_easy", "smoke"], config_updates={"out_dir": str(tmp_path / "d"),
                                                                       "num_episodes": 2})
    finally:
        for observer in observers:
            ex.observers.remove(observer)
    imported = client["imported"]
    assert import_runs(tmp_path / "runs", imported) == [1]
    assert import_runs(tmp_path / "runs", imported) == []  # idempotent
    want = direct["runs"].find_one({"_id": 1})
    got = imported["runs"].find_one({"_id": 1})
    assert set(got) == set(want)
    assert got["format"] == want["format"] and got["status"] == "COMPLETED"
    for key in ("command", "host", "start_time", "stop_time", "config", "meta", "result", "resources"):
        assert got[key] == want[key], key
    assert got["captured_out"].strip() == want["captured_out"].strip()
    assert got["experiment"].pop("name") == "collect random reacher_easy smoke seed 0" != want["experiment"].pop("name")
    assert normalise(got["experiment"], gridfs.GridFS(imported)) == normalise(want["experiment"], gridfs.GridFS(direct))
    assert normalise(got["artifacts"], gridfs.GridFS(imported)) == normalise(want["artifacts"], gridfs.GridFS(direct))
    assert normalise(got["info"], gridfs.GridFS(imported)) == normalise(want["info"], gridfs.GridFS(direct))
    assert [m["name"] for m in got["info"]["metrics"]] == [m["name"] for m in want["info"]["metrics"]]
    for metric in want["info"]["metrics"]:
        mine = imported["metrics"].find_one({"run_id": 1, "name": metric["name"]})
        theirs = direct["metrics"].find_one({"_id": ObjectId(metric["id"])})
        assert str(mine["_id"]) in [m["id"] for m in got["info"]["metrics"]]
        for key in ("steps", "values", "timestamps"):
            assert mine[key] == theirs[key], (metric["name"], key)


def test_records_import_command(tmp_path, monkeypatch, capsys):
    import pymongo

    from diswm_app.cli import main

    observer = FileStorageObserver(str(tmp_path / "runs" / "collect"))
    ex.observers.append(observer)
    try:
        ex.run(named_configs=["finger_spin", "smoke"], config_updates={"out_dir": str(tmp_path / "d"),
                                                                      "num_episodes": 1})
    finally:
        ex.observers.remove(observer)
    mongomock.gridfs.enable_gridfs_integration()
    client = mongomock.MongoClient()
    monkeypatch.setattr(pymongo, "MongoClient", lambda *args, **kwargs: client)
    assert main(["records", "import", str(tmp_path / "runs"), "--mongo", "mongodb://127.0.0.1:27017/omni"]) == 0
    assert "imported 1 run(s)" in capsys.readouterr().out
    assert client["omni"]["runs"].count_documents({}) == 1


ROOT = Path(__file__).resolve().parents[2]


def _database():
    mongomock.gridfs.enable_gridfs_integration()
    database = mongomock.MongoClient()["sacred"]
    return database, gridfs.GridFS(database)


def _snapshot(database):
    return (sorted(d["_id"] for d in database["runs"].find()), database["metrics"].count_documents({}),
            database["fs.files"].count_documents({}))


def _copy(runs, tmp_path):
    target = tmp_path / "runs"
    shutil.copytree(runs, target)
    return target


@pytest.mark.parametrize("runs", [ROOT / "results" / "shipped" / "runs",
                                  ROOT / "results" / "cpu_curves" / "finger_spin_to_cheetah_run" / "runs"])
def test_every_shipped_record_imports_in_start_time_order(runs):
    """The shipped records have no _sources (they are left out to keep the repository small)."""
    database, fs = _database()
    folders = run_folders(runs)
    assert import_runs(runs, database, fs) == list(range(1, len(folders) + 1))
    documents = sorted(database["runs"].find(), key=lambda d: d["_id"])
    starts = [d["start_time"] for d in documents]
    assert starts == sorted(starts)  # ids in start-time order, not path order
    for document in documents:
        assert document["info"]["metrics"]  # every metric series went in
    assert import_runs(runs, database, fs) == []  # idempotent


@pytest.mark.parametrize("damage", ["truncated run.json", "bad metrics.json", "missing artifact", "database error"])
def test_a_bad_record_leaves_nothing_behind_and_the_others_go_in(damage, tmp_path, monkeypatch, capsys):
    runs = _copy(ROOT / "results" / "shipped" / "runs", tmp_path)
    bad = runs / "collect" / "2"
    if damage == "truncated run.json":
        (bad / "run.json").write_text((bad / "run.json").read_text()[:40])
    elif damage == "bad metrics.json":
        (bad / "metrics.json").write_text('{"episode_return": {"steps": [0, 1], "values": [1.0]')
    elif damage == "missing artifact":
        (bad / "dataset.json").unlink()
    database, fs = _database()
    if damage == "database error":  # the last write of the run (its document) fails after files and metrics went in
        original = database["runs"].insert_one
        chosen = json.loads((bad / "run.json").read_text())["start_time"]

        def failing(document, *args, **kwargs):
            if document["start_time"].isoformat() == chosen:
                raise RuntimeError("connection lost")
            return original(document, *args, **kwargs)

        monkeypatch.setattr(database["runs"], "insert_one", failing)
    imported = import_runs(runs, database, fs)
    assert len(imported) == len(run_folders(runs)) - 1
    err = capsys.readouterr().err
    assert err.count("not imported") == 1 and str(bad) in err
    # nothing of the bad run stays: every metric document and GridFS file belongs to an imported run
    run_ids = {d["_id"] for d in database["runs"].find()}
    assert {m["run_id"] for m in database["metrics"].find()} <= run_ids
    listed = {m["id"] for d in database["runs"].find() for m in d["info"].get("metrics", [])}
    assert {str(m["_id"]) for m in database["metrics"].find()} == listed
    files = {a["file_id"] for d in database["runs"].find() for a in d["artifacts"]} | \
        {s[1] for d in database["runs"].find() for s in d["experiment"]["sources"]}
    assert {f["_id"] for f in database["fs.files"].find()} == files


def test_records_import_refuses_a_missing_folder_and_a_dead_database(tmp_path, capsys):
    from diswm_app.experiments.records import main

    assert main([str(tmp_path / "nowhere"), "--mongo", "mongodb://127.0.0.1:27017/x"]) == 2
    assert "is not a folder of run records" in capsys.readouterr().err
    started = time.monotonic()
    assert main([str(ROOT / "results" / "shipped" / "runs"), "--mongo", "mongodb://127.0.0.1:9/x",
                 "--timeout", "1"]) == 2
    assert time.monotonic() - started < 10
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "no MongoDB at mongodb://127.0.0.1:9/x" in err[0]


def test_imported_runs_are_named_told_apart_and_listed_with_columns(tmp_path):
    """Old records get descriptive names; runs of other settings that would share one get their settings' digest
    (the records of one resumed run keep one name); results become plain lists; Omniboard's columns go in."""
    from diswm_app.experiments.omniboard import CUSTOM_COLUMNS, METRIC_COLUMNS

    config = {"method": "diswm", "source": "finger_spin", "task": "reacher_easy", "scale": "cpu", "seed": 0,
              "env_steps": 100, "out_dir": "/somewhere/seed_0"}
    for run_id, (env_steps, hour) in enumerate([(100, 1), (100, 2), (50, 3)], start=1):
        folder = tmp_path / "runs" / "finetune" / str(run_id)
        folder.mkdir(parents=True)
        (folder / "run.json").write_text(json.dumps({
            "experiment": {"name": "finetune", "base_dir": "/x", "sources": [], "dependencies": [], "repositories": [],
                           "mainfile": "common.py"},
            "start_time": f"2026-01-01T0{hour}:00:00", "command": "main", "host": {"hostname": "h"}, "meta": {},
            "status": "COMPLETED", "result": {"eval_returns": {"py/tuple": [{"py/tuple": [50, 1.5]}]}}}))
        (folder / "config.json").write_text(json.dumps({**config, "env_steps": env_steps}))
    mongomock.gridfs.enable_gridfs_integration()
    database = mongomock.MongoClient()["db"]
    assert import_runs(tmp_path / "runs", database) == [1, 2, 3]
    names = [database["runs"].find_one({"_id": i})["experiment"]["name"] for i in (1, 2, 3)]
    assert names[0] == names[1] != names[2]
    assert names[0].startswith("finetune diswm finger_spin→reacher_easy cpu seed 0 · ")
    assert database["runs"].find_one({"_id": 1})["result"] == {"eval_returns": [[50, 1.5]]}
    assert {c["name"]: c["config_path"] for c in database[CUSTOM_COLUMNS].find()}["method"] == "config.method"
    assert database[METRIC_COLUMNS].find_one({"name": "eval_return_last"})["extrema"] == "last"
