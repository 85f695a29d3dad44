"""Disentanglement, Completeness, Informativeness (Eastwood & Williams, ICLR 2018,
https://openreview.net/forum?id=By-7dz-AZ), as disentanglement_lib's ``dci``: one gradient-boosted
classifier per factor on the codes; importances ``[codes, factors]``; disentanglement and completeness
from entropies with bases K (factors) and C (codes); informativeness = mean accuracy.

Deviation, documented: the classifiers get ``random_state`` (default 0) so scores are reproducible;
the reference leaves it ``None``. ``estimator="hist"`` is a faster, clearly different variant
(``HistGradientBoostingClassifier``, which has no impurity importances: importances are test-set
permutation importances, clipped at 0 and normalised per factor); never the default.
"""

from __future__ import annotations

import numpy as np
import scipy.stats
from joblib import Parallel, delayed
from sklearn.ensemble import GradientBoostingClassifier

from diswm.metrics.discretize import check_layout

ESTIMATORS = ("gbt", "hist")


def _fit_factor(x_train, y_train, x_test, y_test, random_state, estimator):
    if estimator == "gbt":
        model = GradientBoostingClassifier(random_state=random_state)
        model.fit(x_train, y_train)
        importance = np.abs(model.feature_importances_)
    else:
        from sklearn.ensemble import HistGradientBoostingClassifier
        from sklearn.inspection import permutation_importance

        model = HistGradientBoostingClassifier(random_state=random_state)
        model.fit(x_train, y_train)
        result = permutation_importance(model, x_test, y_test, n_repeats=2, random_state=random_state)
        importance = np.clip(result.importances_mean, 0.0, None)
        total = importance.sum()
        importance = importance / total if total > 0 else importance
    train_accuracy = np.mean(model.predict(x_train) == y_train)
    test_accuracy = np.mean(model.predict(x_test) == y_test)
    return importance, train_accuracy, test_accuracy


def importance_gbt(codes_train, factors_train, codes_test, factors_test, random_state=0, estimator="gbt",
                   n_jobs=None):
    """Importance matrix [C, K] and mean train/test accuracies; inputs in sklearn layout."""
    if estimator not in ESTIMATORS:
        raise ValueError(f"estimator={estimator!r}; expected one of {ESTIMATORS}")
    results = Parallel(n_jobs=n_jobs)(
        delayed(_fit_factor)(codes_train, factors_train[:, j], codes_test, factors_test[:, j], random_state,
                             estimator)
        for j in range(factors_train.shape[1])
    )
    importance = np.zeros([codes_train.shape[1], factors_train.shape[1]], dtype=np.float64)
    for j, (column, _, _) in enumerate(results):
        importance[:, j] = column
    return importance, np.mean([r[1] for r in results]), np.mean([r[2] for r in results])


def dci_disentanglement(importance: np.ndarray) -> float:
    per_code = 1.0 - scipy.stats.entropy(importance.T + 1e-11, base=importance.shape[1])
    if importance.sum() == 0.0:
        importance = np.ones_like(importance)
    code_importance = importance.sum(axis=1) / importance.sum()
    return float(np.sum(per_code * code_importance))


def dci_completeness(importance: np.ndarray) -> float:
    per_factor = 1.0 - scipy.stats.entropy(importance + 1e-11, base=importance.shape[0])
    if importance.sum() == 0.0:
        importance = np.ones_like(importance)
    factor_importance = importance.sum(axis=0) / importance.sum()
    return float(np.sum(per_factor * factor_importance))


def dci(codes_train: np.ndarray, factors_train: np.ndarray, codes_test: np.ndarray, factors_test: np.ndarray,
        random_state: int | None = 0, estimator: str = "gbt", n_jobs: int | None = None) -> dict[str, float]:
    """DCI scores; codes float [N, C], factors int [N, K] (K >= 2 and C >= 2 for the entropy bases).

    ``n_jobs`` parallelises over factors (joblib); results do not depend on it.
    """
    check_layout(codes_train, factors_train, "dci (train)")
    check_layout(codes_test, factors_test, "dci (test)")
    codes_train, factors_train = np.asarray(codes_train), np.asarray(factors_train)
    if codes_train.shape[1] < 2 or factors_train.shape[1] < 2:
        raise ValueError(f"dci: needs at least 2 codes and 2 factors, got {codes_train.shape[1]} and "
                         f"{factors_train.shape[1]}")
    importance, train_accuracy, test_accuracy = importance_gbt(
        codes_train, factors_train, np.asarray(codes_test), np.asarray(factors_test), random_state, estimator,
        n_jobs)
    return {
        "disentanglement": dci_disentanglement(importance),
        "completeness": dci_completeness(importance),
        "informativeness_train": float(train_accuracy),
        "informativeness_test": float(test_accuracy),
    }
