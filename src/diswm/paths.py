"""Where outputs live: ``$DISWM_HOME`` (the Docker image sets ``/work/outputs``) or the current directory."""

from __future__ import annotations

import os
from pathlib import Path

HOME_ENV = "DISWM_HOME"


def outputs_home() -> Path:
    """Root of ``data/``, ``runs/``, ``checkpoints/`` and ``results/``."""
    return Path(os.environ.get(HOME_ENV, ".")).expanduser()


def data_root() -> Path:
    return outputs_home() / "data"


def relocate(recorded: Path | str) -> Path:
    """A path recorded in a checkpoint, found again under the current ``$DISWM_HOME`` when the run folder
    has moved (the part from ``data/``, ``checkpoints/`` or ``runs/`` on is kept)."""
    recorded = Path(recorded)
    if recorded.exists():
        return recorded
    parts = recorded.parts
    for index in range(len(parts) - 1, -1, -1):
        if parts[index] in ("data", "checkpoints", "runs"):
            return outputs_home().joinpath(*parts[index:])
    return recorded
