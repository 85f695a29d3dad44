"""Disentanglement of a trained encoder: encode frames with the encoder *mean* (disentanglement_lib's
``mean_representation``) and score the codes against discretised ground-truth factors.

Encoders are read from any checkpoint of this project: a pretraining ``encoder.pt`` (the teacher), a
pretraining ``latest.pt``, or a finetuning ``latest.pt`` (``part="encoder"``: the online student;
``part="teacher"``). The architecture is inferred from the weights' shapes.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch

from diswm.checkpoint import CheckpointError, load_checkpoint
from diswm.data.factors import FactorDataset
from diswm.metrics.dci import dci
from diswm.metrics.mig import mig
from diswm.metrics.sap import sap
from diswm.models import BetaVAEEncoder
from diswm.models.images import image_tensor

PARTS = ("encoder", "teacher")


def encoder_state(checkpoint: Path | str, part: str = "encoder") -> dict[str, torch.Tensor]:
    """The β-VAE encoder weights inside ``checkpoint``."""
    if part not in PARTS:
        raise ValueError(f"part={part!r}; expected one of {PARTS}")
    state = load_checkpoint(checkpoint)
    if "head.weight" in state:  # a bare encoder.pt
        return state
    model = state.get("model", {})
    prefix = f"{part}."
    weights = {k[len(prefix):]: v for k, v in model.items() if k.startswith(prefix)}
    if "head.weight" not in weights:
        raise CheckpointError(f"{checkpoint} holds no β-VAE {part} (keys: {sorted(model)[:5]}...)")
    return weights


def build_encoder(weights: dict[str, torch.Tensor]) -> BetaVAEEncoder:
    convs = sorted(int(k.split(".")[1]) for k in weights if k.startswith("convs.") and k.endswith(".weight"))
    widths = tuple(int(weights[f"convs.{i}.weight"].shape[0]) for i in convs)
    encoder = BetaVAEEncoder(z_dim=int(weights["head.weight"].shape[0]) // 2, widths=widths)
    encoder.load_state_dict(weights)
    return encoder.eval()


@torch.no_grad()
def encode_means(encoder: BetaVAEEncoder, images: np.ndarray, batch_size: int = 256) -> np.ndarray:
    means = [encoder(image_tensor(images[i : i + batch_size]))[0] for i in range(0, len(images), batch_size)]
    return torch.cat(means).numpy().astype(np.float64)


def disentanglement_scores(codes: np.ndarray, dataset: FactorDataset, random_state: int = 0,
                           n_jobs: int | None = None) -> dict[str, Any]:
    codes_train, codes_test = dataset.split(codes)
    factors_train, factors_test = dataset.split(dataset.classes)
    scores = {"mig": mig(codes_train, factors_train)}
    scores.update({f"dci_{k}": v for k, v in dci(codes_train, factors_train, codes_test, factors_test,
                                                  random_state=random_state, n_jobs=n_jobs).items()})
    scores["sap"] = sap(codes_train, factors_train, codes_test, factors_test)
    return scores
