import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from sacred.observers import FileStorageObserver

from diswm.configs import METHODS
from diswm.records import flat_config
from diswm_app.experiments.finetune import ex

TINY = {"env_steps": 120, "time_limit": 20, "prefill": 10, "eval_every": 60, "checkpoint_every": 60,
        "batch_size": 2, "length": 5}


def resolved(*named: str, **updates) -> dict:
    """The config that ``with <named> <key=value> ...`` gives, as leaf names (diswm.records.flat_config)."""
    return flat_config(ex.run("print_config", named_configs=list(named), config_updates=updates,
                              options={"--loglevel": "ERROR"}).config)


def test_every_method_and_scale_constructs():
    for method in METHODS:
        for scale in ("smoke", "cpu", "paper"):
            config = resolved(method, scale)
            assert config["method"] == method and config["scale"] == scale
            assert config["actor_dist"] == "trunc_normal"  # DreamerV2's actor unless official_code
            assert config["entropy"] == 1e-4
            assert config["eval_action"] == "mode"  # DreamerV2 evaluates the actor's mode
            assert (config["teacher_path"] is not None) == config["distill"]
            if config["distill"]:
                assert f"beta{config['pretrain_beta']:g}" in config["teacher_path"]
    official = resolved("official_code")
    assert (official["eta_schedule"], official["teacher"], official["repeat_mode"], official["actor_dist"],
            official["lambda_order"], official["step_unit"]) == (
        "official", "drifting", "official", "normal", "reversed", "logged")
    for scale, decay in (("smoke", 20), ("cpu", 50_000), ("paper", 50_000)):  # smoke: 10% of its budget
        for task, delay in (("walker_walk", decay), ("pusher", decay)):
            eta = resolved("diswm", scale, task=task)
            assert (eta["eta_decay_steps"], eta["eta_delay"], eta["eta_floor"]) == (decay, delay, 0.1)
            assert eta["cross_domain"] == (task == "pusher") and eta["lambda_order"] == "forward"
            assert eta["step_unit"] == "control"
    dv2 = resolved("dv2_finetune")
    assert dv2["init_from"].endswith("finger_spin/conv/seed_0") and dv2["num_actions"] == 2
    bigger = resolved("dv2_finetune", source="cheetah_run")
    assert bigger["num_actions"] == 6  # the larger of source (6) and target (2)
    apv = resolved("apv", source="cheetah_run")
    assert (apv["stacked"], apv["video_actions"], apv["num_actions"], apv["intrinsic_beta"]) == (True, 6, 2, 1.0)
    paper = resolved("paper")
    assert (paper["batch_size"], paper["length"], paper["env_steps"], paper["units"]) == (50, 50, 1_000_000, 400)


@pytest.mark.slow
def test_dreamerv2_run_records_eval_returns_and_switches(tmp_path):
    observer = FileStorageObserver(str(tmp_path / "runs"))
    ex.observers.append(observer)
    try:
        run = ex.run(named_configs=["dreamerv2", "smoke"],
                     config_updates={**TINY, "task": "cartpole_swingup", "out_dir": str(tmp_path / "out"),
                                     "actor_dist": "normal", "entropy": 3e-4, "eval_action": "mean"})
    finally:
        ex.observers.remove(observer)
    assert run.status == "COMPLETED"
    saved = torch.load(tmp_path / "out" / "latest.pt", weights_only=False)["config"]
    assert (saved["behavior"]["actor_dist"], saved["behavior"]["entropy"]) == ("normal", 3e-4)
    assert saved["eval_action"] == "mean"
    record = tmp_path / "runs" / str(run._id)
    config = flat_config(json.loads((record / "config.json").read_text()))
    for switch in ("eta_schedule", "teacher", "repeat_mode", "cross_domain", "colour_schedule", "scale", "beta",
                   "actor_dist", "entropy", "eval_action", "eta_decay_steps", "eta_floor", "eta_delay",
                   "lambda_order", "step_unit"):
        assert switch in config
    metrics = json.loads((record / "metrics.json").read_text())
    assert metrics["eval_return"]["steps"] == [20, 60, 120]
    assert "train/model_loss" in metrics and "train/actor_loss" in metrics
    info = json.loads((record / "info.json").read_text())
    assert info["checkpoint"]["path"].endswith("latest.pt") and len(info["checkpoint"]["sha256"]) == 64
    assert run.result["final_eval_return"] == metrics["eval_return"]["values"][-1]


def test_diswm_without_a_teacher_says_how_to_make_one(tmp_path):
    with pytest.raises(FileNotFoundError, match="diswm pretrain"):
        ex.run(named_configs=["diswm", "smoke"], config_updates={"teacher_path": str(tmp_path / "encoder.pt")})


@pytest.mark.slow
def test_runs_with_other_settings_get_folders_of_their_own(tmp_path, monkeypatch):
    """Fig. 7's η cells once shared a folder and the second stopped with a CheckpointError; now every setting that
    changes the result (an override, a budget) names the folder, and each run completes in its own."""
    monkeypatch.setenv("DISWM_HOME", str(tmp_path))

    def folder(**updates):
        return resolved("dreamerv2", "smoke", **updates)["out_dir"]

    base = tmp_path / "checkpoints/finetune/smoke/finger_spin_to_cartpole_swingup/dreamerv2/seed_0"
    assert folder(task="cartpole_swingup") == str(base)  # the method's own settings: the plain name
    assert folder(task="cartpole_swingup", device="cuda", compile=True) == str(base)  # how it runs is not what
    tiny = {**TINY, "task": "cartpole_swingup"}
    first, second = folder(**tiny), folder(**tiny, eta_max=0.01)
    assert len({first, second, str(base)}) == 3 and first.startswith(f"{base}-")
    assert folder(**{**tiny, "env_steps": TINY["env_steps"] + 40}) not in (first, second)  # the budget too
    for updates in ({}, {"eta_max": 0.01}):
        assert ex.run(named_configs=["dreamerv2", "smoke"], config_updates={**tiny, **updates}).status == "COMPLETED"
    identity = json.loads((Path(second) / "identity.json").read_text())
    assert identity["differences"]["world_model.eta_max"] == [0.1, 0.01] and "env_steps" in identity["differences"]
    assert (Path(first) / "latest.pt").is_file() and (Path(second) / "latest.pt").is_file()


@pytest.mark.slow
def test_a_second_process_on_a_run_folder_stops_naming_the_first(tmp_path, monkeypatch, capsys):
    from diswm.lock import LOCK_NAME
    from diswm_app.experiments.finetune import run_cli

    monkeypatch.setenv("DISWM_HOME", str(tmp_path))
    argv = ["with", "dreamerv2", "smoke", "task=cartpole_swingup", *(f"{k}={v}" for k, v in TINY.items())]
    out = Path(ex.run("print_config", named_configs=["dreamerv2", "smoke"],
                      config_updates={**TINY, "task": "cartpole_swingup"}, options={"--loglevel": "ERROR"}
                      ).config["out_dir"])
    hold = "import sys, time; from diswm.lock import folder_lock\nwith folder_lock(sys.argv[1]):\n" \
           "    print('held', flush=True); time.sleep(60)"
    owner = subprocess.Popen([sys.executable, "-c", hold, str(out)], stdout=subprocess.PIPE, text=True)
    try:
        assert owner.stdout.readline().strip() == "held"
        with pytest.raises(SystemExit) as stopped:
            run_cli(argv)
        assert stopped.value.code == 1
    finally:
        owner.kill()
        owner.wait()
    error = capsys.readouterr().err
    assert f"error: {out} is in use by pid {owner.pid}" in error and "Traceback" not in error
    assert sorted(p.name for p in out.iterdir()) == [LOCK_NAME]  # nothing written by the refused run


@pytest.mark.slow
def test_a_command_line_run_is_named_records_its_own_source_and_complete_output(tmp_path, monkeypatch):
    from diswm_app.experiments.finetune import run_cli

    monkeypatch.setenv("DISWM_HOME", str(tmp_path))
    argv = ["with", "dreamerv2", "smoke", "task=cartpole_swingup", *(f"{k}={v}" for k, v in TINY.items())]
    assert run_cli(argv) == 0
    record = tmp_path / "runs" / "finetune" / "1"
    run = json.loads((record / "run.json").read_text())
    folder = Path(json.loads((record / "config.json").read_text())["out_dir"]).name  # seed_0-<digest>: TINY's budget
    assert run["experiment"]["name"] == \
        f"finetune dreamerv2 finger_spin→cartpole_swingup smoke seed 0 · {folder.split('-')[1]}"
    assert "finetune.py" in {Path(name).name for name, _ in run["experiment"]["sources"]}
    assert isinstance(run["result"]["eval_returns"], list)  # plain JSON, not {"py/tuple": ...}
    cout = (record / "cout.txt").read_text()
    assert f"{TINY['env_steps']}/{TINY['env_steps']}" in cout  # the progress bar's last state
    metrics = json.loads((record / "metrics.json").read_text())
    returns = set(metrics["train_return"]["steps"])
    assert set(metrics["train/model_loss"]["steps"]) <= returns  # losses on the env-step axis of the returns
    assert metrics["train/updates"]["values"][-1] == run["result"]["updates"]


def test_eta_budget_scaled_names_the_budget_share_schedule_and_gets_its_own_folder():
    """``eta_budget_scaled`` sizes η by 10% of the budget (5k agent steps at cpu scale, the setting before the cpu
    study); it differs from the method's own settings, so its run never shares the default run's folder."""
    default, scaled = resolved("diswm", "cpu"), resolved("diswm", "cpu", "eta_budget_scaled")
    assert (default["eta_steps"], default["eta_decay_steps"], default["eta_delay"]) == ("paper", 50_000, 50_000)
    assert (scaled["eta_steps"], scaled["eta_decay_steps"], scaled["eta_delay"]) == ("budget", 5_000, 5_000)
    assert default["out_dir"].endswith("seed_0") and "seed_0-" in scaled["out_dir"]


@pytest.mark.slow
def test_rerunning_finished_work_writes_no_new_record(tmp_path, monkeypatch, capsys):
    """One record per run: a finished run found again prints one line and adds nothing to the records (Omniboard
    would list an empty COMPLETED run); without its COMPLETED record (lost), the rerun writes one."""
    from diswm_app.experiments.finetune import run_cli

    monkeypatch.setenv("DISWM_HOME", str(tmp_path))
    argv = ["with", "dreamerv2", "smoke", "task=cartpole_swingup", *(f"{k}={v}" for k, v in TINY.items())]
    assert run_cli(argv) == 0
    records = tmp_path / "runs" / "finetune"
    capsys.readouterr()
    assert run_cli(argv) == 0
    out = capsys.readouterr().out
    assert sorted(p.name for p in records.glob("[0-9]*")) == ["1"]
    assert "finished already" in out and "nothing to do, no new run record" in out
    shutil.rmtree(records / "1")
    assert run_cli(argv) == 0  # the finished checkpoint, but no record of it: one is written
    assert sorted(p.name for p in records.glob("[0-9]*")) == ["1"]
    assert json.loads((records / "1" / "run.json").read_text())["status"] == "COMPLETED"
