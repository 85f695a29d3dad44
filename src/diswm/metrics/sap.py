"""Separated Attribute Predictability (Kumar et al., ICLR 2018, https://openreview.net/forum?id=H1kG7GZAW,
§3), as disentanglement_lib's ``sap_score``: a score matrix [codes, factors] (discrete factors: test
accuracy of a balanced ``LinearSVC(C=0.01)`` on one code; continuous: squared correlation), then the
mean over factors of the gap between the two best codes.
"""

from __future__ import annotations

import numpy as np
from sklearn import svm

from diswm.metrics.discretize import check_layout


def sap_score_matrix(mus, ys, mus_test, ys_test, continuous_factors: bool) -> np.ndarray:
    """Inputs ``[dims, N]`` (disentanglement_lib layout)."""
    score = np.zeros([mus.shape[0], ys.shape[0]])
    for i in range(mus.shape[0]):
        for j in range(ys.shape[0]):
            mu_i, y_j = mus[i, :], ys[j, :]
            if continuous_factors:
                cov = np.cov(mu_i, y_j, ddof=1)
                cov_mu_y = cov[0, 1] ** 2
                var_mu, var_y = cov[0, 0], cov[1, 1]
                score[i, j] = cov_mu_y * 1.0 / (var_mu * var_y) if var_mu > 1e-12 else 0.0
            else:
                classifier = svm.LinearSVC(C=0.01, class_weight="balanced")
                classifier.fit(mu_i[:, np.newaxis], y_j)
                prediction = classifier.predict(mus_test[i, :][:, np.newaxis])
                score[i, j] = np.mean(prediction == ys_test[j, :])
    return score


def sap(codes_train: np.ndarray, factors_train: np.ndarray, codes_test: np.ndarray, factors_test: np.ndarray,
        continuous_factors: bool = False) -> float:
    """SAP score; codes float [N, C] (C >= 2), factors [N, K]."""
    mus, ys = check_layout(codes_train, factors_train, "sap (train)")
    mus_test, ys_test = check_layout(codes_test, factors_test, "sap (test)")
    if mus.shape[0] < 2:
        raise ValueError(f"sap: needs at least 2 codes, got {mus.shape[0]}")
    matrix = sap_score_matrix(mus, ys, mus_test, ys_test, continuous_factors)
    sorted_matrix = np.sort(matrix, axis=0)
    return float(np.mean(sorted_matrix[-1, :] - sorted_matrix[-2, :]))
