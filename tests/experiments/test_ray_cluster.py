"""``diswm reproduce --launcher ray`` on a real multi-node Ray cluster on this machine (``ray.cluster_utils.Cluster``:
a head node without CPUs and one-CPU worker nodes, each its own raylet): a worker node removed while the finetune
level runs costs that stage's progress since its last checkpoint, not the table; a node that does not see the
driver's ``DISWM_HOME`` (its own mount namespace) fails the reproduce in one line before any stage runs."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import torch

from diswm.records import finetune_records
from diswm_app.experiments.paper import Cell, PaperItem
from diswm_app.experiments.reproduce import aggregate, main, run_item

ray = pytest.importorskip("ray")
from ray.cluster_utils import Cluster  # noqa: E402

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[2]
ITEM = PaperItem("fig4", "two cells", (Cell("dreamerv2", "finger_spin", "reacher_easy"),), {})


def small_finetunes(monkeypatch):
    monkeypatch.setattr("diswm_app.experiments.reproduce.stages", lambda c, scale, seed, videos: [
        ("finetune", ["with", "dreamerv2", scale, "source=finger_spin", "task=reacher_easy", f"seed={seed}",
                      "env_steps=600", "time_limit=20", "prefill=10", "eval_every=200", "checkpoint_every=100"])])


@pytest.fixture
def cluster():
    made = Cluster(initialize_head=True, head_node_args={"num_cpus": 0, "include_dashboard": False})
    for _ in range(2):
        made.add_node(num_cpus=1)
    made.wait_for_nodes()
    yield made
    if ray.is_initialized():
        ray.shutdown()
    made.shutdown()


def connect(cluster, home: Path) -> None:
    ray.init(address=cluster.address, log_to_driver=False, runtime_env={"env_vars": {
        "DISWM_HOME": str(home), "PYTHONPATH": os.pathsep.join([str(ROOT), str(ROOT / "src")])}})


def attempts(home: Path) -> list[dict]:
    return [json.loads(p.read_text()) for p in home.glob(".ray_launch/*/*.json")]


def weights(home: Path) -> dict[int, dict[str, torch.Tensor]]:
    found = {}
    for path in home.glob("checkpoints/finetune/**/latest.pt"):
        state = torch.load(path, map_location="cpu", weights_only=False)
        found[state["config"]["seed"]] = state["model"]
    return found


def test_a_removed_worker_node_costs_one_stage_its_progress_not_the_table(cluster, tmp_path, monkeypatch, capsys):
    ray_home, local_home = tmp_path / "ray", tmp_path / "local"
    small_finetunes(monkeypatch)
    monkeypatch.setenv("DISWM_HOME", str(ray_home))
    connect(cluster, ray_home)
    failure: list[BaseException] = []

    def drive():
        try:
            run_item(ITEM, "smoke", 2, ray_home / "runs", "ray", progress_every=2.0)
        except BaseException as error:  # noqa: BLE001 (reported by the test thread below)
            failure.append(error)

    driver = threading.Thread(target=drive)
    driver.start()
    victim = None
    deadline = time.monotonic() + 600
    while victim is None and driver.is_alive() and time.monotonic() < deadline:
        for record in attempts(ray_home):  # a stage that has checkpointed, on the node it runs on
            seed = next(int(a.split("=")[1]) for a in record["argv"] if a.startswith("seed="))
            folders = list(ray_home.glob(f"checkpoints/finetune/smoke/*/dreamerv2/seed_{seed}*"))
            if folders and (folders[0] / "latest.pt").exists():
                node_id = record["attempts"][-1]["node_id"]
                victim = next(n for n in cluster.worker_nodes if n.node_id == node_id)
                break
        time.sleep(0.2)
    assert victim is not None, "no stage checkpointed before the level ended"
    cluster.remove_node(victim, allow_graceful=False)  # its raylet and workers are killed
    cluster.add_node(num_cpus=1)  # a replacement node joins (its tasks check the shared storage too)
    driver.join(timeout=900)
    assert not driver.is_alive() and not failure, failure
    ray.shutdown()
    out = capsys.readouterr().out
    assert "Ray node(s) see DISWM_HOME" in out and "stages of this level done" in out
    progress = [line for line in out.splitlines() if line.startswith("  diswm finetune ")]
    assert any(", attempt 1, at step " in line for line in progress), progress  # node, attempt, its record's step
    assert any(", attempt 2" in line for line in progress), progress  # the retried stage, on its new node
    retried = [r for r in attempts(ray_home) if len(r["attempts"]) == 2]
    assert len(retried) == 1 and retried[0]["attempts"][0]["node_id"] == victim.node_id
    records = finetune_records(ray_home / "runs")
    finished = [r for r in records if r["status"] == "COMPLETED"]
    assert sorted(r["config"]["seed"] for r in finished) == [0, 1]
    assert sorted(r["info"]["launch"]["attempt"] for r in finished) == [1, 2]
    assert all(r["info"]["launch"]["cpus"] == 1 for r in finished)

    # the same cells with the local launcher (one thread, as each Ray stage): the same table and weights
    monkeypatch.setenv("DISWM_HOME", str(local_home))
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        run_item(ITEM, "smoke", 2, local_home / "runs")
    finally:
        torch.set_num_threads(threads)
    tables = [aggregate(ITEM, "smoke", 2, home / "runs", home / "results")[0].read_bytes()
              for home in (ray_home, local_home)]
    assert tables[0] == tables[1]
    ours, local = weights(ray_home), weights(local_home)
    assert sorted(ours) == sorted(local) == [0, 1]
    for seed in (0, 1):
        assert all(torch.equal(ours[seed][k], local[seed][k]) for k in local[seed]), seed


def _unshare_works() -> bool:
    return shutil.which("unshare") is not None and subprocess.run(
        ["unshare", "-m", "--propagation", "private", "true"], capture_output=True).returncode == 0


@pytest.mark.skipif(not _unshare_works(), reason="needs unshare -m (a mount namespace for the isolated node)")
def test_a_node_without_the_shared_home_fails_the_reproduce_in_one_line_before_any_stage(cluster, tmp_path,
                                                                                          monkeypatch, capsys):
    home = tmp_path / "home"
    home.mkdir()
    small_finetunes(monkeypatch)
    monkeypatch.setenv("DISWM_HOME", str(home))
    # a worker node in its own mount namespace, where an empty tmpfs hides the driver's DISWM_HOME
    ray_cli = Path(sys.executable).parent / "ray"
    isolated = subprocess.Popen(
        ["unshare", "-m", "--propagation", "private", "sh", "-c",
         f"mount -t tmpfs tmpfs {home} && exec {ray_cli} start --address={cluster.address} --num-cpus=1 --block"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        deadline = time.monotonic() + 120
        ray.init(address=cluster.address, log_to_driver=False)
        while sum(n["Alive"] for n in ray.nodes()) < 4 and time.monotonic() < deadline:
            time.sleep(0.5)
        assert sum(n["Alive"] for n in ray.nodes()) == 4, "the isolated node did not join"
        ray.shutdown()
        code = main(["fig4", "--scale", "smoke", "--seeds", "1", "--only", "finger_spin:reacher_easy",
                     "--methods", "dreamerv2", "--launcher", "ray", "--address", cluster.address])
    finally:
        os.killpg(isolated.pid, signal.SIGTERM)  # ray start and the raylet it started
        isolated.wait(timeout=60)
    captured = capsys.readouterr()
    assert code == 1
    (line,) = [line for line in captured.err.splitlines() if line.strip()]
    assert line.startswith("[reproduce] Ray node ") and f"cannot see {home}/.ray_launch/" in line
    assert f"DISWM_HOME={home} is not shared with it; mount shared storage at {home} on every node" in line
    assert not (home / "runs").exists() and not (home / "checkpoints").exists()  # no stage ran


def test_a_stage_that_fails_by_itself_is_not_retried_and_says_why(cluster, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("DISWM_HOME", str(tmp_path))
    monkeypatch.setattr("diswm_app.experiments.reproduce.stages", lambda c, scale, seed, videos: [
        ("finetune", ["with", "dreamerv2", scale, "source=finger_spin", "task=no_such_task", f"seed={seed}"])])
    code = main(["fig4", "--scale", "smoke", "--seeds", "1", "--only", "finger_spin:reacher_easy",
                 "--methods", "dreamerv2", "--launcher", "ray", "--address", cluster.address])
    assert code == 1
    (record,) = attempts(tmp_path)
    assert len(record["attempts"]) == 1  # a non-zero exit is the stage's own failure: Ray does not retry it
    last = capsys.readouterr().err.strip().splitlines()[-1]
    assert last.startswith("[reproduce] `diswm finetune with dreamerv2 smoke") and "no_such_task" in last, last
    assert last.endswith("failed; rerun reproduce to resume")
