"""Where outputs live: ``$DISWM_HOME`` (the Docker image sets ``/work/outputs``) or the current directory; and the
one function for each folder that stages and figures look up (teachers, video models, finetune runs)."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

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


#: the pretraining videos: a DreamerV2 agent's replay (the paper's recipe) or a uniform random policy's
VIDEO_KINDS = ("dreamerv2_replay", "random")


def video_model_tag(image_model: str, beta: float, z_dim: int, videos: str) -> str:
    """Folder name of a video model under ``checkpoints/pretrain/<scale>/<task>/``: ``beta<β2:g>`` (β-VAE) or
    ``conv``, then ``_z<z_dim>`` when z_dim is not 20, then ``_random`` for random-policy videos (none for the
    default replay videos), e.g. ``beta0.015``, ``beta0_z5``, ``conv_random``, ``beta0.015_z100_random``."""
    if videos not in VIDEO_KINDS:
        raise ValueError(f"videos={videos!r}; expected one of {sorted(VIDEO_KINDS)}")
    return ((f"beta{beta:g}" if image_model == "beta_vae" else "conv") + (f"_z{z_dim}" if z_dim != 20 else "")
            + ("_random" if videos == "random" else ""))


def video_model_folder(scale: str, task: str, image_model: str, beta: float, z_dim: int, videos: str,
                       seed: int) -> Path:
    """A pretraining run's folder (``encoder.pt``, ``decoder.pt``, ``rssm.pt``, ``latest.pt``)."""
    tag = video_model_tag(image_model, beta, z_dim, videos)
    return outputs_home() / "checkpoints" / "pretrain" / scale / task / tag / f"seed_{seed}"


def teacher_encoder(scale: str, source: str, beta: float, z_dim: int, videos: str, seed: int) -> Path:
    """The β-VAE encoder that DisWM distils from: the pretraining run of ``source`` with β2 = ``beta``."""
    return video_model_folder(scale, source, "beta_vae", beta, z_dim, videos, seed) / "encoder.pt"


def finetune_base_folder(scale: str, source: str, task: str, method: str, videos: str, seed: int) -> Path:
    """``checkpoints/finetune/<scale>/<source>_to_<task>/<method>[_random]/seed_<seed>``: the folder of a
    finetune run with its method's own settings (others get ``-<digest>``, :func:`settings_folder`)."""
    return (outputs_home() / "checkpoints" / "finetune" / scale / f"{source}_to_{task}"
            / (method + ("_random" if videos == "random" else "")) / f"seed_{seed}")


def settings_folder(base: Path, differences: dict[str, list[Any]]) -> Path:
    """``base`` for a run with its defaults; ``base-<digest of the differences>`` otherwise, so runs with other
    settings (an η, a β, a budget) never share a checkpoint folder."""
    if not differences:
        return base
    return base.with_name(f"{base.name}-{digest({k: v[1] for k, v in differences.items()})}")


def digest(value: Any) -> str:
    """8 hex digits of the sha256 of ``value`` as sorted JSON."""
    return hashlib.sha256(json.dumps(value, sort_keys=True, default=str).encode()).hexdigest()[:8]
