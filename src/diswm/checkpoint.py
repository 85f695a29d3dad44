"""Atomic checkpoints with every random state, so an interrupted run resumes to exactly the same result."""

from __future__ import annotations

import hashlib
import random
from pathlib import Path
from typing import Any

import numpy as np
import torch

from diswm.atomic import atomic_writer


class CheckpointError(ValueError):
    """A checkpoint is missing, unreadable or does not fit the run that loads it."""


def rng_state(generator: np.random.Generator) -> dict[str, Any]:
    return {
        "numpy_generator": generator.bit_generator.state,
        "torch": torch.get_rng_state(),
        "python": random.getstate(),
        **({"cuda": torch.cuda.get_rng_state_all()} if torch.cuda.is_available() else {}),
    }


def restore_rng_state(state: dict[str, Any], generator: np.random.Generator) -> None:
    generator.bit_generator.state = state["numpy_generator"]
    torch.set_rng_state(state["torch"])
    random.setstate(state["python"])
    if "cuda" in state and torch.cuda.is_available() and len(state["cuda"]) == torch.cuda.device_count():
        torch.cuda.set_rng_state_all(state["cuda"])


def save_checkpoint(path: Path | str, payload: dict[str, Any]) -> str:
    """Write ``payload`` (tensors, state dicts, plain values) atomically; return its sha256."""
    with atomic_writer(path) as handle:
        torch.save(payload, handle)
    return file_sha256(path)


def load_checkpoint(path: Path | str) -> dict[str, Any]:
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"checkpoint {path} does not exist")
    try:
        return torch.load(path, map_location="cpu", weights_only=False)
    except Exception as error:  # torch raises several types for truncated/corrupt files
        raise CheckpointError(f"checkpoint {path} is unreadable ({type(error).__name__}: {error})") from error


def file_sha256(path: Path | str) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


#: Where things are and what runs them, not what they are: a run moved to another folder or machine
#: (CPU <-> GPU, compiled or not) still resumes.
LOCATION_KEYS = frozenset({"out_dir", "data_dir", "teacher_path", "init_from", "device", "compile",
                           "cuda_graph", "eval_batch", "eval_workers"})


def config_differences(saved: Any, current: Any, path: str = "") -> list[str]:
    """Where ``current`` settings disagree with a checkpoint's ``saved`` ones.

    A key only in ``current`` is a field added by newer code, whose default must keep the old
    behaviour; it is not a difference, and neither are :data:`LOCATION_KEYS` (the teacher and the
    pretrained weights are inside the checkpoint). Returns readable ``key: saved -> current`` lines.
    """
    if isinstance(saved, dict) and isinstance(current, dict):
        lines = []
        for key, value in saved.items():
            where = f"{path}.{key}" if path else str(key)
            if key in LOCATION_KEYS:
                continue
            if key not in current:
                lines.append(f"{where}: {value!r} -> (no longer a setting)")
            else:
                lines += config_differences(value, current[key], where)
        return lines
    if isinstance(saved, list | tuple) and isinstance(current, list | tuple):
        saved, current = list(saved), list(current)
    return [] if saved == current else [f"{path}: {saved!r} -> {current!r}"]
