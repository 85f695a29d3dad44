"""Histogram discretisation, discrete mutual information and entropy (disentanglement_lib ``utils``).

Internally arrays are ``[dims, N]`` as in disentanglement_lib; the public metric functions transpose.
"""

from __future__ import annotations

import numpy as np
from sklearn.metrics import mutual_info_score


def histogram_discretize(target: np.ndarray, num_bins: int = 20) -> np.ndarray:
    """Per row: ``np.digitize`` against the ``num_bins`` equal-width edges of ``np.histogram`` without
    the last edge, so values fall in bins 1..num_bins. Keeps ``target``'s dtype, as the reference."""
    discretized = np.zeros_like(target)
    for i in range(target.shape[0]):
        discretized[i, :] = np.digitize(target[i, :], np.histogram(target[i, :], num_bins)[1][:-1])
    return discretized


def discrete_mutual_info(codes: np.ndarray, factors: np.ndarray) -> np.ndarray:
    """``m[i, j] = mutual_info_score(factors[j], codes[i])`` in nats; inputs ``[dims, N]``."""
    m = np.zeros([codes.shape[0], factors.shape[0]])
    for i in range(codes.shape[0]):
        for j in range(factors.shape[0]):
            m[i, j] = mutual_info_score(factors[j, :], codes[i, :])
    return m


def discrete_entropy(factors: np.ndarray) -> np.ndarray:
    """Entropy of each row in nats, as ``mutual_info_score(y, y)``; input ``[dims, N]``."""
    return np.array([mutual_info_score(row, row) for row in factors], dtype=np.float64)


def check_layout(codes: np.ndarray, factors: np.ndarray, name: str) -> tuple[np.ndarray, np.ndarray]:
    """Validate sklearn-layout inputs and return them transposed to ``[dims, N]``."""
    codes, factors = np.asarray(codes), np.asarray(factors)
    if codes.ndim != 2 or factors.ndim != 2:
        raise ValueError(f"{name}: codes and factors must be 2-D [N, dims], got {codes.shape} and {factors.shape}")
    if codes.shape[0] != factors.shape[0]:
        raise ValueError(f"{name}: {codes.shape[0]} code rows but {factors.shape[0]} factor rows")
    if codes.shape[0] < 2:
        raise ValueError(f"{name}: need at least 2 samples, got {codes.shape[0]}")
    return codes.T, factors.T
