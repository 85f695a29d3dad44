"""Kill -9 anywhere, rerun: the same table and weights. A smoke ``reproduce`` of one Fig. 8 cell (the whole chain:
source agent, its replay as videos, pretraining, finetuning) is killed with SIGKILL in the middle of episode,
checkpoint and manifest writes, mid-training between checkpoints and right after the final checkpoint, rerun until it
finishes, and compared with an uninterrupted run in another home."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parents[2]
REPRODUCE = ["reproduce", "fig8", "--scale", "smoke", "--seeds", "1", "--only", "finger_spin:cartpole_swingup",
             "--methods", "diswm"]
#: the environments of the successive killed runs; each resumes what the one before left
KILLS = [
    {"KILL_AT_WRITE": "ep-*.npz:3:mid"},  # the source agent's third replay episode, half written
    {"KILL_AT_WRITE": "latest.pt:2:before_rename"},  # a source agent checkpoint, written but not renamed
    {"KILL_AT_WRITE": "dataset.json:1:before_rename"},  # the video dataset's manifest
    {"KILL_AT_WRITE": "encoder.pt:2:mid"},  # a pretraining checkpoint
    {"KILL_AT_WRITE": "latest.pt:3:mid"},  # a finetuning checkpoint
    {"KILL_AT_TRAIN_CALL": "2"},  # mid-training, between checkpoints (an event: no wall-clock dependence)
    {"KILL_AFTER_FINAL_CHECKPOINT": "1"},  # the finetune's last checkpoint saved, its record not yet finished
]
KILL_VARIABLES = ("KILL_AT_WRITE", "KILL_AT_TRAIN_CALL", "KILL_AFTER_FINAL_CHECKPOINT")


def _diswm(home: Path, kill: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in KILL_VARIABLES}
    env.update({"DISWM_HOME": str(home), "MUJOCO_GL": "egl", "OMP_NUM_THREADS": "1",
                "PYTHONPATH": os.pathsep.join([str(ROOT), str(ROOT / "src")]), **(kill or {})})
    return subprocess.run([sys.executable, str(ROOT / "tests" / "experiments" / "killing_run.py"), *REPRODUCE],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=900)


def _tensors(value, prefix: str = "") -> dict[str, torch.Tensor]:
    """Every tensor in a checkpoint (nested dicts and lists flattened), by its path."""
    if isinstance(value, Path):
        value = torch.load(value, map_location="cpu", weights_only=False)
    if isinstance(value, torch.Tensor):
        return {prefix: value}
    items = value.items() if isinstance(value, dict) else enumerate(value) if isinstance(value, list | tuple) else ()
    return {k: v for key, item in items for k, v in _tensors(item, f"{prefix}.{key}").items()}


@pytest.mark.slow
def test_reproduce_killed_anywhere_and_rerun_gives_the_same_table_and_weights(tmp_path):
    clean, killed = tmp_path / "clean", tmp_path / "killed"
    done = _diswm(clean)
    assert done.returncode == 0, done.stderr[-3000:]

    said = []
    for kill in KILLS:
        run = _diswm(killed, kill)
        assert run.returncode == -9, (kill, run.returncode, run.stderr[-3000:])
        said += [line for line in run.stderr.splitlines() if line.startswith("[killing_run] SIGKILL")]
    for pattern in ("npz", "latest.pt", "dataset.json", "encoder.pt", "training call", "after the final checkpoint"):
        assert any(pattern in line for line in said), said
    for _ in range(3):  # reruns until it finishes (each resumes)
        run = _diswm(killed)
        if run.returncode == 0:
            break
    assert run.returncode == 0, run.stderr[-3000:]

    for table in ("fig8_smoke.md", "fig8_smoke.csv"):
        assert (killed / "results" / table).read_text() == (clean / "results" / table).read_text()
    assert "not run" not in (killed / "results" / "fig8_smoke.md").read_text().split("diswm", 1)[1].splitlines()[0]
    weights = [p.relative_to(clean) for p in clean.glob("checkpoints/**/*.pt")]
    assert {p.parts[1] for p in weights} == {"source_agent", "pretrain", "finetune"}
    for relative in weights:
        ours, theirs = _tensors(killed / relative), _tensors(clean / relative)
        assert ours and ours.keys() == theirs.keys(), relative
        for key in ours:
            assert torch.equal(ours[key], theirs[key]), (relative, key)
