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
