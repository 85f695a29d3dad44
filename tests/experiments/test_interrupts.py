"""A stage killed by SIGTERM (what `timeout`, Ray and Docker send) is recorded as INTERRUPTED and resumes."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from diswm.records import finetune_records

ROOT = Path(__file__).resolve().parents[2]
TINY = ["task=cartpole_swingup", "env_steps=600", "time_limit=20", "prefill=10", "eval_every=300",
        "checkpoint_every=20", "batch_size=2", "length=5"]


@pytest.mark.slow
def test_sigterm_marks_the_record_interrupted_and_the_run_resumes(tmp_path):
    env = {**os.environ, "DISWM_HOME": str(tmp_path), "PYTHONPATH": os.pathsep.join([str(ROOT), str(ROOT / "src")])}
    command = [sys.executable, "-m", "diswm_app.experiments.finetune", "with", "dreamerv2", "smoke", *TINY]
    process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    method = tmp_path / "checkpoints" / "finetune" / "smoke" / "finger_spin_to_cartpole_swingup" / "dreamerv2"
    deadline = time.monotonic() + 240
    while not list(method.glob("seed_0-*/latest.pt")) and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.2)
    [checkpoint] = method.glob("seed_0-*/latest.pt")  # the tiny budget is not the scale's: a folder of its own
    assert process.poll() is None, process.stderr.read().decode()[-2000:]
    time.sleep(1.0)  # well inside the training loop
    process.send_signal(signal.SIGTERM)
    assert process.wait(timeout=120) != 0
    run = json.loads((tmp_path / "runs" / "finetune" / "1" / "run.json").read_text())
    assert run["status"] == "INTERRUPTED"
    assert torch.load(checkpoint, weights_only=False)["progress"]["env_steps"] > 0  # consistent checkpoint
    # the rerun resumes from the checkpoint and completes
    done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, timeout=600)
    assert done.returncode == 0, done.stderr.decode()[-2000:]
    statuses = [r["status"] for r in finetune_records(tmp_path / "runs")]
    assert statuses == ["INTERRUPTED", "COMPLETED"]


def test_unreadable_records_are_reported_not_skipped_silently(tmp_path, capsys):
    folder = tmp_path / "finetune" / "3"
    folder.mkdir(parents=True)
    (folder / "run.json").write_text("")  # killed while Sacred rewrote it
    (folder / "config.json").write_text("{}")
    (folder / "metrics.json").write_text("{}")
    assert finetune_records(tmp_path) == []
    assert f"skipped {folder}" in capsys.readouterr().err
