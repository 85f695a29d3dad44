import json

import gridfs
import mongomock
import mongomock.gridfs
import pytest
from sacred.observers import FileStorageObserver, MongoObserver

from diswm_app.experiments.collect import SOURCE_TASKS, ex
from diswm_app.experiments.common import mongo_db_name


@pytest.fixture
def observed(tmp_path):
    """The collect experiment with a file observer into tmp_path (removed afterwards)."""
    observer = FileStorageObserver(str(tmp_path / "runs"))
    ex.observers.append(observer)
    yield tmp_path
    ex.observers.remove(observer)


@pytest.mark.slow
def test_collect_run_writes_a_sacred_record_and_episodes(observed):
    out = observed / "data"
    run = ex.run(named_configs=["reacher_easy", "smoke"], config_updates={"out_dir": str(out), "num_episodes": 3})
    assert run.status == "COMPLETED"
    record = observed / "runs" / str(run._id)
    config = json.loads((record / "config.json").read_text())
    assert config["task"] == "reacher_easy" and config["scale"] == "smoke"
    assert config["colour_schedule"] == "switch" and config["env"]["max_delta"] == 0.2 and config["seed"] == 0
    run_json = json.loads((record / "run.json").read_text())
    assert run_json["status"] == "COMPLETED" and run_json["result"]["episodes"] == 3
    metrics = json.loads((record / "metrics.json").read_text())
    assert metrics["episode_return"]["steps"] == [0, 1, 2]
    info = json.loads((record / "info.json").read_text())
    assert info["versions"]["mujoco"] == "3.17.0" and len(info["dataset"]["episodes"]) == 3
    assert (record / "dataset.json").is_file()  # small artifact; episodes stay in out_dir
    assert len(list(out.glob("ep-*.npz"))) == 3


def test_named_configs_exist_for_every_source_task_and_scale():
    for task in SOURCE_TASKS:
        for scale in ("smoke", "cpu", "paper"):
            config = ex.run("print_config", named_configs=[task, scale], options={"--loglevel": "ERROR"}).config
            assert config["task"] == task and config["scale"] == scale and config["num_episodes"] >= 1
    paper = ex.run("print_config", named_configs=["paper"], options={"--loglevel": "ERROR"}).config
    assert paper["num_episodes"] == 1000 and paper["env"]["render_quality"] == "default"


def test_bad_config_values_fail_with_a_clear_error(observed):
    with pytest.raises(ValueError, match="distractor|colour_schedule"):
        ex.run(named_configs=["smoke"], config_updates={"colour_schedule": "rainbow", "out_dir": str(observed)})
    with pytest.raises(ValueError, match="scale='huge' is not allowed"):
        ex.run(config_updates={"scale": "huge"})


def test_mongo_observer_records_the_run(tmp_path):
    """The MongoObserver path without a server, as Sacred's own tests do it: mongomock collections."""
    mongomock.gridfs.enable_gridfs_integration()
    client = mongomock.MongoClient()
    database = client["sacred"]
    observer = MongoObserver.create_from(
        database["runs"], gridfs.GridFS(database), metrics_collection=database["metrics"]
    )
    ex.observers.append(observer)
    try:
        run = ex.run(named_configs=["finger_spin", "smoke"],
                     config_updates={"out_dir": str(tmp_path), "num_episodes": 1})
    finally:
        ex.observers.remove(observer)
    document = client["sacred"]["runs"].find_one({"_id": run._id})
    assert document["status"] == "COMPLETED" and document["config"]["task"] == "finger_spin"
    assert document["result"]["episodes"] == 1
    metric = client["sacred"]["metrics"].find_one({"run_id": run._id, "name": "episode_return"})
    assert metric["steps"] == [0]


def test_mongo_url_names_the_database():
    assert mongo_db_name("mongodb://mongo:27017/sacred") == "sacred"
    assert mongo_db_name("mongodb://user:pw@host:27017/diswm?authSource=admin") == "diswm"
    assert mongo_db_name("mongodb://localhost:27017") == "sacred"
