"""pymongo over TCP against the MongoDB wire double (tests/omniboard/mongo_wire.py): CRUD, cursors, aggregate,
GridFS, the legacy OP_QUERY handshake, `diswm records import` of one shipped record, Omniboard's metric-column
aggregation and `experiments.omniboard.install_columns`. No node or chromium needed."""

import json
import shutil
import socket
import struct
from pathlib import Path

import bson
import gridfs
import pymongo
import pytest
from mongo_wire import MongoWire  # tests/omniboard is on sys.path (pytest's rootdir-less test modules)
from pymongo.errors import DuplicateKeyError, OperationFailure

from diswm_app.cli import main as diswm_main
from diswm_app.experiments.omniboard import CONFIG_COLUMNS, CUSTOM_COLUMNS, METRIC_COLUMNS, install_columns

SHIPPED = Path(__file__).resolve().parents[2] / "results" / "shipped" / "runs"


@pytest.fixture(scope="module")
def server():
    with MongoWire() as wire:
        yield wire


@pytest.fixture
def db(server, request):
    client = pymongo.MongoClient(server.url(), serverSelectionTimeoutMS=3000)
    yield client[request.node.name[:60]]
    client.close()


def test_crud_cursors_and_aggregate(server, db):
    db.a.insert_many([{"_id": i, "i": i, "even": i % 2 == 0} for i in range(250)])
    with pytest.raises(DuplicateKeyError):
        db.a.insert_one({"_id": 3})
    assert [d["i"] for d in db.a.find({"i": {"$gte": 5}}, {"i": 1}).sort("i", -1).skip(2).limit(3)] == [247, 246, 245]
    assert len(list(db.a.find(batch_size=20))) == 250  # getMore until the cursor is exhausted
    assert db.a.count_documents({"even": True}) == 125 and db.a.estimated_document_count() == 250
    assert list(db.a.aggregate([{"$group": {"_id": "$even", "n": {"$sum": 1}}}, {"$sort": {"_id": 1}}])) == [
        {"_id": False, "n": 125}, {"_id": True, "n": 125}]
    assert sorted(db.a.distinct("even")) == [False, True]
    assert db.a.update_one({"i": 1000}, {"$set": {"j": 1}}, upsert=True).upserted_id is not None
    assert db.a.find_one_and_update({"i": 1}, {"$set": {"j": 2}}, return_document=True)["j"] == 2
    assert db.a.delete_many({"i": {"$lt": 10}}).deleted_count == 10
    db.a.create_index([("i", 1)], unique=True)
    assert "i_1" in db.a.index_information() and "a" in db.list_collection_names()
    assert db.name in db.client.list_database_names()


def test_unknown_command_is_an_error_and_recorded(server, db):
    with pytest.raises(OperationFailure) as error:
        db.command("noSuchCommandHere")
    assert error.value.code == 59 and "noSuchCommandHere" in server.unknown
    server.unknown.remove("noSuchCommandHere")


def test_legacy_op_query_handshake(server):
    """Old node drivers (Omniboard's mongoose 5) open with OP_QUERY isMaster on admin.$cmd."""
    query = bson.encode({"isMaster": 1})
    body = struct.pack("<i", 0) + b"admin.$cmd\0" + struct.pack("<ii", 0, -1) + query
    with socket.create_connection(("127.0.0.1", server.port), timeout=3) as sock:
        sock.sendall(struct.pack("<iiii", 16 + len(body), 7, 0, 2004) + body)
        header = sock.recv(16, socket.MSG_WAITALL)
        length, _, response_to, opcode = struct.unpack("<iiii", header)
        reply = sock.recv(length - 16, socket.MSG_WAITALL)
    assert (opcode, response_to) == (1, 7)
    document = bson.decode(reply[20:])
    assert document["ok"] == 1 and document["ismaster"] and document["maxWireVersion"] >= 9


def test_gridfs_put_get(db):
    fs = gridfs.GridFS(db)
    data = bytes(range(256)) * 3000  # 768000 bytes: several chunks
    file_id = fs.put(data, filename="x.bin")
    assert fs.get(file_id).read() == data and db["fs.chunks"].count_documents({"files_id": file_id}) == 3


def test_records_import_of_one_shipped_record(server, db, tmp_path, capsys):
    folder = tmp_path / "finetune" / "1"
    shutil.copytree(SHIPPED / "finetune" / "1", folder)
    entry = json.loads((folder / "run.json").read_text())
    for name, stored in entry["experiment"]["sources"]:  # shipped records carry no _sources: make them
        (tmp_path / "finetune" / stored).parent.mkdir(exist_ok=True)
        (tmp_path / "finetune" / stored).write_text(f"# source {name}\n")
    assert diswm_main(["records", "import", str(tmp_path), "--mongo", server.url(db.name)]) == 0
    assert "imported 1 run(s)" in capsys.readouterr().out
    run = db.runs.find_one()
    assert run["_id"] == 1 and run["format"] == "MongoObserver-0.7.0" and run["status"] == "COMPLETED"
    assert run["config"] == json.loads((folder / "config.json").read_text())
    metrics = json.loads((folder / "metrics.json").read_text())
    assert sorted(m["name"] for m in db.metrics.find({"run_id": 1})) == sorted(metrics)
    assert {m["name"] for m in run["info"]["metrics"]} == set(metrics)
    eval_return = db.metrics.find_one({"run_id": 1, "name": "eval_return"})
    assert eval_return["values"] == metrics["eval_return"]["values"]
    fs = gridfs.GridFS(db)
    sources = {name: fs.get(file_id).read().decode() for name, file_id in run["experiment"]["sources"]}
    assert sources == {name: f"# source {name}\n" for name, _ in entry["experiment"]["sources"]}
    assert diswm_main(["records", "import", str(tmp_path), "--mongo", server.url(db.name)]) == 0  # no duplicate
    assert db.runs.count_documents({}) == 1 and not server.unknown


def test_install_columns_and_omniboard_metric_column_pipeline(db):
    """install_columns is idempotent; Omniboard 2.16.1's aggregation for a `last` metric column (from its
    dist/runs.response.js) gives each run its last eval_return, null without one."""
    db.runs.insert_many([{"_id": 1, "config": {"method": "diswm"}, "info": {}}, {"_id": 2, "info": {}}])
    metric_id = db.metrics.insert_one({"run_id": 1, "name": "eval_return", "values": [1.0, 2.5]}).inserted_id
    other_id = db.metrics.insert_one({"run_id": 1, "name": "fps", "values": [9.0]}).inserted_id
    db.runs.update_one({"_id": 1}, {"$set": {"info.metrics": [{"name": "eval_return", "id": str(metric_id)},
                                                              {"name": "fps", "id": str(other_id)}]}})
    install_columns(db)
    install_columns(db)
    assert sorted((c["name"], c["config_path"]) for c in db[CUSTOM_COLUMNS].find()) == sorted(CONFIG_COLUMNS.items())
    (column,) = db[METRIC_COLUMNS].find({}, {"_id": 0})
    assert column == {"name": "eval_return_last", "metric_name": "eval_return", "extrema": "last", "lastn": 1}

    values = "$metrics.eval_return.values"
    name = {"$reduce": {"input": {"$split": ["$metrics.name", "."]}, "initialValue": "",
                        "in": {"$concat": ["$$value", {"$cond": [{"$eq": ["$$value", ""]}, "", "_"]}, "$$this"]}}}
    pipeline = [
        {"$project": {"_id": 1, "config": 1, "eval_return_last": 1, "info.metrics": 1}},
        {"$unwind": {"path": "$info.metrics", "preserveNullAndEmptyArrays": True}},
        {"$lookup": {"from": "metrics", "let": {"metric_id": {"$toObjectId": "$info.metrics.id"}},
                     "pipeline": [{"$match": {"$expr": {"$and": [{"$eq": ["$_id", "$$metric_id"]},
                                                                 {"$in": ["$name", ["eval_return"]]}]}}}],
                     "as": "metrics"}},
        {"$addFields": {"metrics": {"$arrayElemAt": ["$metrics", 0]}}},
        {"$group": {"_id": "$_id", "runs": {"$first": "$$ROOT"}, "metrics": {"$push": {"$let": {
            "vars": {"metric_name": name},
            "in": {"$cond": [{"$gt": ["$metrics", None]}, {"k": "$$metric_name", "v": "$metrics"},
                             {"k": "empty", "v": ""}]}}}}}},
        {"$addFields": {"runs.metrics": {"$arrayToObject": "$metrics"}}},
        {"$replaceRoot": {"newRoot": "$runs"}},
        {"$addFields": {"eval_return_last": {"$cond": {
            "if": {"$and": [{"$isArray": values}, {"$size": values}]},
            "then": {"$arrayElemAt": [values, {"$subtract": [{"$size": values}, 1]}]}, "else": None}}}},
        {"$project": {"metrics": 0}},
        {"$sort": {"_id": 1}},
    ]
    assert [(r["_id"], r["eval_return_last"]) for r in db.runs.aggregate(pipeline)] == [(1, 2.5), (2, None)]


def test_a_live_mongo_observer_installs_our_omniboard_columns():
    """Runs recorded straight into MongoDB ($DISWM_MONGO_URL, as in compose) get the same Omniboard columns as
    imported ones."""
    from diswm_app.experiments.common import mongo_observer
    from diswm_app.experiments.omniboard import CONFIG_COLUMNS, METRIC_COLUMNS_SPEC

    wire = MongoWire().start()
    try:
        database = mongo_observer(wire.url("live")).runs.database
        assert {c["name"] for c in database["omniboard.custom.columns"].find()} == set(CONFIG_COLUMNS)
        assert {c["name"] for c in database["omniboard.metric.columns"].find()} == set(METRIC_COLUMNS_SPEC)
    finally:
        wire.stop()
