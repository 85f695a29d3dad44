"""Mutual Information Gap (Chen et al., "Isolating Sources of Disentanglement in VAEs", NeurIPS 2018,
https://arxiv.org/abs/1802.04942), as disentanglement_lib's ``mig._compute_mig`` with its histogram
discretiser: for each factor, the gap between the two codes with the highest mutual information,
divided by the factor's entropy, averaged over factors. A constant factor gives NaN, as the reference.
"""

from __future__ import annotations

import numpy as np

from diswm.metrics.discretize import check_layout, discrete_entropy, discrete_mutual_info, histogram_discretize


def mig(codes: np.ndarray, factors: np.ndarray, num_bins: int = 20) -> float:
    """``codes`` float [N, C] (C >= 2), ``factors`` int [N, K] -> discrete MIG."""
    mus, ys = check_layout(codes, factors, "mig")
    if mus.shape[0] < 2:
        raise ValueError(f"mig: needs at least 2 codes, got {mus.shape[0]}")
    m = discrete_mutual_info(histogram_discretize(mus, num_bins), ys)
    entropy = discrete_entropy(ys)
    sorted_m = np.sort(m, axis=0)[::-1]
    with np.errstate(divide="ignore", invalid="ignore"):
        return float(np.mean(np.divide(sorted_m[0, :] - sorted_m[1, :], entropy[:])))
