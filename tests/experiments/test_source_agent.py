"""The source-agent stage (the paper's video recipe) and pretraining on its videos: real dm_control runs,
real Sacred runs, smoke scale with a budget of 80 agent steps (2 prefill episodes, then 2 of the learning
agent, the colour switch between them)."""

import hashlib
import io
import json
import os
import re
import shutil
import subprocess
import sys

import numpy as np
import pytest
from sacred.observers import FileStorageObserver

from diswm.checkpoint import file_sha256
from diswm.data import EpisodeReplay, load_episode
from diswm.data.collect import DatasetError, check_video_dataset
from diswm.envs import ColourBox
from diswm.scales import FINETUNE, SOURCE_AGENT
from diswm_app.experiments import collect, finetune, pretrain, source_agent

FRAMES = 80  # agent steps: 2 random prefill episodes (smoke prefill 40) and 2 of the agent, 20 steps each
SMALL_PRETRAIN = {"updates": 2, "checkpoint_every": 2, "log_every": 1}


def agent_dirs(home, seed=0):
    return (home / "checkpoints/source_agent/smoke/finger_spin" / f"seed_{seed}",
            home / "data/smoke/finger_spin/dreamerv2_replay" / f"seed_{seed}")


def run_stage(home, runs=None, **updates):
    out, data = agent_dirs(home)
    observer = FileStorageObserver(str(runs)) if runs else None
    if observer:
        source_agent.ex.observers.append(observer)
    try:
        return source_agent.ex.run(named_configs=["finger_spin", "smoke"],
                                   config_updates={"frames": FRAMES, "out_dir": str(out), "dataset_dir": str(data),
                                                   **updates})
    finally:
        if observer:
            source_agent.ex.observers.remove(observer)


@pytest.fixture(scope="module")
def agent(tmp_path_factory):
    """One finished source-agent run in its own DISWM_HOME layout: (home, Sacred run)."""
    home = tmp_path_factory.mktemp("home")
    return home, run_stage(home, runs=home / "runs" / "source_agent")


def copy_home(home, target):
    """A copy of the agent's folder and dataset (real files, not links) to damage safely."""
    for folder in agent_dirs(home):
        shutil.copytree(folder, target / folder.relative_to(home))
    return target


@pytest.mark.slow
def test_stage_writes_the_replay_as_a_video_dataset_that_names_its_run(agent):
    home, run = agent
    out, data = agent_dirs(home)
    assert run.status == "COMPLETED"
    assert {k: v for k, v in run.result.items() if k != "final_eval_return"} == {
        "dataset_dir": str(data), "episodes": 4, "frames": FRAMES, "finished": True, "stop": "frame_budget",
        "newly_run": True}
    manifest = json.loads((data / "dataset.json").read_text())
    # what `diswm collect` writes and its readers use
    assert (manifest["task"], manifest["action_dim"], manifest["image_shape"]) == ("finger_spin", 2, [64, 64, 3])
    assert {"grid", "self"} <= set(manifest["visible_colour_names"]) <= set(manifest["colour_names"])
    protocol = manifest["colour_protocol"]
    assert (protocol["schedule"], protocol["first_test_episode"], protocol["max_delta"]) == ("switch", 2, 0.2)
    provenance = manifest["provenance"]
    assert (provenance["policy"], provenance["experiment"], provenance["method"]) == (
        "dreamerv2_replay", "source_agent", "dreamerv2")
    assert provenance["run_id"] == run._id and provenance["out_dir"] == str(out)
    assert provenance["checkpoint"]["sha256"] == file_sha256(out / "latest.pt")
    assert (provenance["frames"], provenance["frame_budget"], provenance["finished"], provenance["stop"]) == (
        FRAMES, FRAMES, True, "frame_budget")
    agent_config = provenance["config"]["agent"]
    assert agent_config["world_model"]["image_model"] == "conv" and agent_config["world_model"]["distill"] is False
    assert (agent_config["env_steps"], agent_config["step_unit"]) == (2 * FRAMES, "logged")
    assert provenance["config_sha256"] == hashlib.sha256(
        json.dumps(provenance["config"], sort_keys=True).encode()).hexdigest()
    # the episodes are the agent's replay files, hard-linked, with the ground-truth factors
    replay = sorted(p.name for p in (out / "train_eps").glob("*.npz"))
    assert [e["file"] for e in manifest["episodes"]] == replay == sorted(p.name for p in data.glob("*.npz"))
    assert all(os.path.samefile(out / "train_eps" / name, data / name) for name in replay)
    assert [e["distractor"] for e in manifest["episodes"]] == ["train", "train", "test", "test"]
    assert [e["policy"] for e in manifest["episodes"]] == ["random", "random", "agent", "agent"]
    for record in manifest["episodes"]:
        episode = load_episode(data / record["file"])
        assert {"factor_colours", "factor_qpos", "factor_qvel"} <= set(episode)
        assert ColourBox.for_set(record["distractor"], 0.2).contains(episode["factor_colours"]).all()
        assert record["sha256"] == hashlib.sha256(np.ascontiguousarray(episode["image"]).tobytes()).hexdigest()
        assert (record["frames"], record["env_steps"]) == (len(episode["image"]), int(episode["env_steps"].sum()))
    assert EpisodeReplay.from_directory(data).num_transitions == FRAMES
    # the Sacred record
    record = home / "runs" / "source_agent" / str(run._id)
    info = json.loads((record / "info.json").read_text())
    assert info["dataset"]["sha256"] == file_sha256(data / "dataset.json") and (record / "dataset.json").is_file()
    assert len(json.loads((record / "metrics.json").read_text())["eval_return"]["values"]) == 2


@pytest.mark.slow
def test_rerunning_the_finished_stage_is_a_no_op_that_revalidates_its_dataset(agent, tmp_path):
    home, _ = agent
    out, data = agent_dirs(home)
    def outputs():  # the run lock (.lock, held while a process works on the folder) is not an output
        return {p: (p.stat().st_mtime_ns, p.read_bytes()) for p in [*out.rglob("*"), *data.rglob("*")]
                if p.is_file() and p.name != ".lock"}

    before = outputs()
    again = run_stage(home)
    assert again.result["newly_run"] is False and again.result["frames"] == FRAMES
    assert outputs() == before  # nothing trained, nothing rewritten
    # the re-validation: a lost episode, other settings, another checkpoint are refused with one line
    damaged = copy_home(home, tmp_path / "damaged")
    (agent_dirs(damaged)[1] / "ep-000001-21.npz").unlink()
    with pytest.raises(DatasetError, match=r"lists 4 episodes, .* holds 3 episode files; missing: ep-000001-21.npz"
                                           r"; to export it again from the agent's replay, remove .* and rerun"):
        run_stage(damaged)
    shutil.rmtree(agent_dirs(damaged)[1])
    exported = run_stage(damaged)  # the finished agent is not trained further; its replay is exported again
    assert exported.result["newly_run"] is True and exported.result["frames"] == FRAMES
    assert json.loads((agent_dirs(damaged)[1] / "dataset.json").read_text())["episodes"] == json.loads(
        (data / "dataset.json").read_text())["episodes"]
    other = copy_home(home, tmp_path / "other")
    with pytest.raises(DatasetError, match=r"made with other settings \(.*eval_episodes: 1 -> 2"):
        run_stage(other, eval_episodes=2)
    (agent_dirs(other)[0] / "latest.pt").write_bytes(b"another agent")
    with pytest.raises(DatasetError, match="is not the checkpoint that made"):
        run_stage(other)


@pytest.mark.slow
def test_pretraining_reads_the_replay_videos_by_default_and_records_their_provenance(agent, monkeypatch):
    home, _ = agent
    monkeypatch.setenv("DISWM_HOME", str(home))
    observer = FileStorageObserver(str(home / "runs" / "pretrain"))
    pretrain.ex.observers.append(observer)
    try:
        run = pretrain.ex.run(named_configs=["finger_spin", "smoke"], config_updates=SMALL_PRETRAIN)
    finally:
        pretrain.ex.observers.remove(observer)
    assert run.status == "COMPLETED"
    assert run.config["videos"] == "dreamerv2_replay" and run.config["data_dir"] == str(agent_dirs(home)[1])
    assert run.config["out_dir"] == str(home / "checkpoints/pretrain/smoke/finger_spin/beta0.015/seed_0")
    manifest = agent_dirs(home)[1] / "dataset.json"
    info = json.loads((home / "runs" / "pretrain" / str(run._id) / "info.json").read_text())
    assert info["videos"]["kind"] == "dreamerv2_replay" and info["videos"]["sha256"] == file_sha256(manifest)
    assert info["videos"]["provenance"] == json.loads(manifest.read_text())["provenance"]
    # the finetune experiment's teacher for this source is this run's encoder
    teacher = finetune.ex.run("print_config", named_configs=["diswm", "smoke"],
                              config_updates={"source": "finger_spin"}, options={"--loglevel": "ERROR"})
    teacher = teacher.config["teacher_path"]
    assert teacher == f"{run.config['out_dir']}/encoder.pt"


def test_random_videos_are_a_named_alternative_with_their_own_folders(monkeypatch, tmp_path):
    monkeypatch.setenv("DISWM_HOME", str(tmp_path))

    def config(*named, **updates):
        return pretrain.ex.run("print_config", named_configs=["finger_spin", "smoke", *named], config_updates=updates,
                               options={"--loglevel": "ERROR"}).config

    teacher = "checkpoints/pretrain/smoke/finger_spin"
    assert config()["out_dir"] == str(tmp_path / teacher / "beta0.015/seed_0")
    assert config(videos="random")["out_dir"] == str(tmp_path / teacher / "beta0.015_random/seed_0")
    assert config(videos="random")["data_dir"] == str(tmp_path / "data/smoke/finger_spin/switch/seed_0")
    assert config("conv")["out_dir"] == str(tmp_path / teacher / "conv/seed_0")
    assert config("conv", videos="random")["out_dir"] == str(tmp_path / teacher / "conv_random/seed_0")
    assert config(videos="random", z_dim=5, beta=0.0)["out_dir"] == str(tmp_path / teacher / "beta0_z5_random/seed_0")


def _random_collection(path):
    collect.ex.run(named_configs=["finger_spin", "smoke"], config_updates={"out_dir": str(path), "num_episodes": 1,
                                                                           "time_limit": 20})
    return path


def _edit_manifest(data, change):
    manifest = json.loads((data / "dataset.json").read_text())
    change(manifest)
    (data / "dataset.json").write_text(json.dumps(manifest))


#: case -> (config updates, what to do to a copy of the dataset, the refusal)
REFUSALS = {
    "missing": ({}, lambda data: shutil.rmtree(data),
                r"^no source-agent run at .*/dreamerv2_replay/seed_0; "
                r"run `diswm source_agent with task=finger_spin smoke"),
    "random asked, replay there": ({"videos": "random"}, None,
                                   r"dataset.json: videos made by policy 'dreamerv2_replay', but videos='random'"),
    "replay asked, random there": ({}, lambda data: (shutil.rmtree(data), _random_collection(data)),
                                   r"dataset.json: videos made by policy 'random', but videos='dreamerv2_replay'"),
    "other task": ({"task": "cheetah_run"}, None,
                   r"dataset.json: videos of task 'finger_spin', but task='cheetah_run'"),
    "other colour protocol": ({"colour_schedule": "train"}, None,
                              r"dataset.json: colour schedule 'switch', but colour_schedule='train'"),
    "unfinished run": ({}, lambda data: _edit_manifest(data, lambda m: m["provenance"].update(finished=False)),
                       r"dataset.json: the source_agent run that writes it did not finish"),
    "episode file missing": ({}, lambda data: (data / "ep-000003-21.npz").unlink(),
                             r"dataset.json lists 4 episodes, .* holds 3 episode files; missing: ep-000003-21.npz"),
}


@pytest.mark.parametrize("case", REFUSALS)
def test_pretraining_refuses_a_dataset_that_is_not_the_one_asked_for_and_writes_nothing(agent, tmp_path, monkeypatch,
                                                                                          case):
    updates, damage, message = REFUSALS[case]
    home = copy_home(agent[0], tmp_path / "home")
    data = agent_dirs(home)[1]
    if damage:
        damage(data)
    monkeypatch.setenv("DISWM_HOME", str(home))
    out = tmp_path / "teacher"
    with pytest.raises(DatasetError) as refusal:
        pretrain.ex.run(named_configs=["finger_spin", "smoke"],
                        config_updates={**updates, "data_dir": str(data), "out_dir": str(out)})
    line = str(refusal.value)
    assert "\n" not in line and str(data) in line and re.search(message, line), line
    assert not out.exists() and not (home / "checkpoints" / "pretrain").exists()


@pytest.mark.slow
def test_an_interrupted_stage_says_so_and_its_rerun_ends_as_an_uninterrupted_one(agent, tmp_path, monkeypatch):
    home = tmp_path / "home"
    stopped = run_stage(home, stop_after_episodes=3)
    data = agent_dirs(home)[1]
    assert stopped.result["finished"] is False and stopped.result["stop"] is None
    manifest = json.loads((data / "dataset.json").read_text())
    assert manifest["provenance"]["finished"] is False and len(manifest["episodes"]) == 3  # the checkpointed ones
    monkeypatch.setenv("DISWM_HOME", str(home))
    with pytest.raises(DatasetError, match="did not finish"):
        pretrain.ex.run(named_configs=["finger_spin", "smoke"], config_updates=SMALL_PRETRAIN)
    resumed = run_stage(home)
    assert resumed.result["finished"] is True and resumed.result["newly_run"] is True
    finished = json.loads((data / "dataset.json").read_text())
    uninterrupted = json.loads((agent_dirs(agent[0])[1] / "dataset.json").read_text())
    assert finished["episodes"] == uninterrupted["episodes"]  # same files, same pixels
    assert finished["provenance"]["eval_returns"] == uninterrupted["provenance"]["eval_returns"]
    assert all(os.path.samefile(agent_dirs(home)[0] / "train_eps" / e["file"], data / e["file"])
               for e in finished["episodes"])


def test_a_target_return_ends_the_run_at_the_first_evaluation_that_reaches_it(tmp_path):
    run = run_stage(tmp_path, target_return=-1.0)  # any return reaches it: the evaluation after the prefill
    manifest = json.loads((agent_dirs(tmp_path)[1] / "dataset.json").read_text())
    provenance = manifest["provenance"]
    assert (provenance["stop"], provenance["finished"], provenance["frames"]) == ("target_return", True, 40)
    assert len(provenance["eval_returns"]) == 1 and provenance["config"]["target_return"] == -1.0
    assert run.result["frames"] == 40 < FRAMES and check_video_dataset(
        agent_dirs(tmp_path)[1], policy="dreamerv2_replay", task="finger_spin", colour_schedule="switch", missing="")
    assert run_stage(tmp_path, target_return=-1.0).result["newly_run"] is False  # finished: not resumed to the budget


def test_the_source_agent_is_the_dreamerv2_finetune_run_with_its_own_budget():
    assert SOURCE_AGENT["smoke"].frames * 2 == FINETUNE["smoke"].env_steps
    assert (SOURCE_AGENT["cpu"].frames, SOURCE_AGENT["paper"].frames) == (50_000, 1_000_000)
    for scale in ("smoke", "cpu", "paper"):
        ours = source_agent.ex.run("print_config", named_configs=["cheetah_run", scale],
                                   options={"--loglevel": "ERROR"}).config
        theirs = finetune.ex.run("print_config", named_configs=["dreamerv2", scale],
                                 config_updates={"task": "cheetah_run", "source": "cheetah_run"},
                                 options={"--loglevel": "ERROR"}).config
        shared = (set(ours) & set(theirs)) - {"out_dir", "seed"}
        assert {"env", "world_model", "behavior", "batch_size", "prefill"} <= shared, scale
        assert {k: ours[k] for k in shared} == {k: theirs[k] for k in shared}, scale
        settings = source_agent.agent_settings(dict(ours))
        assert (settings.world_model.image_model, settings.world_model.distill, settings.world_model.beta) == (
            "conv", False, 0.0)
        assert (settings.env_steps, settings.step_unit, settings.colour_schedule) == (
            2 * SOURCE_AGENT[scale].frames, "logged", "switch")
        assert ours["out_dir"].endswith(f"checkpoints/source_agent/{scale}/cheetah_run/seed_0")
        assert ours["dataset_dir"].endswith(f"data/{scale}/cheetah_run/dreamerv2_replay/seed_0")


@pytest.mark.slow
def test_collect_acts_with_a_trained_agent_checkpoint(agent, tmp_path):
    """policy=checkpoint: the source agent's latest.pt acts (sampled actions, seeded per episode, so a resumed
    collection writes the same files); the manifest names the checkpoint."""
    checkpoint = agent_dirs(agent[0])[0] / "latest.pt"
    updates = {"num_episodes": 2, "time_limit": 20}

    def run(out, **extra):
        return collect.ex.run(named_configs=["finger_spin", "smoke"],
                              config_updates={**updates, "out_dir": str(out), **extra})

    run(tmp_path / "agent", policy="checkpoint", policy_checkpoint=str(checkpoint))
    run(tmp_path / "random")
    manifest = json.loads((tmp_path / "agent" / "dataset.json").read_text())
    assert manifest["provenance"]["policy"] == "checkpoint" and manifest["provenance"]["finished"] is True
    assert manifest["provenance"]["checkpoint"] == {"path": str(checkpoint), "sha256": file_sha256(checkpoint)}
    acted = load_episode(next((tmp_path / "agent").glob("ep-000000-*.npz")))["action"]
    uniform = load_episode(next((tmp_path / "random").glob("ep-000000-*.npz")))["action"]
    assert np.abs(acted).max() <= 1.0 and not np.allclose(acted, uniform)
    second = next((tmp_path / "agent").glob("ep-000001-*.npz"))
    written = second.read_bytes()
    second.unlink()
    resumed = run(tmp_path / "agent", policy="checkpoint", policy_checkpoint=str(checkpoint))
    assert resumed.result["newly_collected"] == 1
    assert np.array_equal(load_episode(second)["action"], np.load(io.BytesIO(written))["action"])
    with pytest.raises(ValueError, match="is an agent for finger_spin, not for task=reacher_easy"):
        run(tmp_path / "other", task="reacher_easy", policy="checkpoint", policy_checkpoint=str(checkpoint))
    folder = collect.ex.run("print_config", named_configs=["finger_spin", "smoke"],
                            config_updates={"policy": "checkpoint", "policy_checkpoint": str(checkpoint)},
                            options={"--loglevel": "ERROR"}).config["out_dir"]
    assert folder.endswith("data/smoke/finger_spin/switch_checkpoint/seed_0")  # never the random videos' folder


def test_the_data_package_does_not_import_the_agents():
    code = "import sys, diswm.data.collect; assert not any(m.startswith('diswm.agents') for m in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], timeout=120).returncode == 0
