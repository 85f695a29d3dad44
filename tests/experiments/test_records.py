"""The importer writes what Sacred's MongoObserver writes, checked against MongoObserver itself."""

import gridfs
import mongomock
import mongomock.gridfs
from bson import ObjectId
from sacred.observers import FileStorageObserver, MongoObserver

from experiments.collect import ex
from experiments.records import import_runs

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

    from diswm.cli import main

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
