"""The cpu-scale scripts (experiments/cpu_control.sh, cpu_learning_curves.sh) run from wherever they are called, and
their dry runs print commands that the CLI accepts and that chain: each teacher reads the videos the script makes,
and each DisWM run distils that teacher."""

import importlib
import os
import subprocess
from pathlib import Path

import pytest

from diswm_app.experiments.common import resolve_config

ROOT = Path(__file__).resolve().parents[2]


def dry_run(script: str, cwd: Path, home: Path) -> list[list[str]]:
    env = {**os.environ, "DRY_RUN": "1", "DISWM_HOME": str(home)}
    done = subprocess.run(["bash", str(ROOT / "experiments" / script)], capture_output=True, text=True, cwd=cwd,
                          env=env, check=True)
    lines = done.stdout.strip().splitlines()
    assert lines and all(line.startswith("diswm ") for line in lines), done.stdout
    return [line.split()[1:] for line in lines]


@pytest.mark.parametrize("script", ["cpu_control.sh", "cpu_learning_curves.sh"])
def test_a_dry_run_prints_valid_chained_commands_and_writes_nothing(script, tmp_path, monkeypatch):
    home = tmp_path / "home"
    commands = dry_run(script, tmp_path, home)
    assert not home.exists() and list(tmp_path.iterdir()) == []  # nothing run, no log folder
    monkeypatch.setenv("DISWM_HOME", str(home))
    configs = {}
    for stage, *argv in commands:
        assert argv[0] == "with", argv
        experiment = importlib.import_module(f"diswm_app.experiments.{stage}").ex
        configs.setdefault(stage, []).append(resolve_config(experiment, argv))  # what `diswm <stage>` parses
    makers = configs.get("source_agent", []) + configs.get("collect", [])
    videos = [c.get("dataset_dir") or c["out_dir"] for c in makers]
    teacher = configs["pretrain"][0]
    assert teacher["data_dir"] in videos
    diswm = next(c for c in configs["finetune"] if c["method"] == "diswm")
    assert diswm["teacher_path"] == str(Path(teacher["out_dir"]) / "encoder.pt")
    assert all(c["scale"] == "cpu" and c["env_steps"] == 100_000 for c in configs["finetune"])
