"""The expectations of disentanglement_lib's own unit tests (utils_test, mig_test, dci_test, sap_score_test),
ported to our sklearn-layout API, plus edge cases of the reference."""

import numpy as np
import pytest

from diswm.metrics import (
    dci,
    dci_completeness,
    dci_disentanglement,
    discrete_entropy,
    discrete_mutual_info,
    histogram_discretize,
    mig,
    sap,
)

LOG2_10 = 1.0 - np.log(2) / np.log(10)


def identity_data(num, seed=0):
    """disentanglement_lib's IdentityObservationsData: 10 factors, integers 1..10, observation = factors."""
    return np.random.RandomState(seed).randint(1, 11, size=(num, 10))


# ---------------------------------------------------------------- utils_test
def test_histogram_discretize():
    target = np.array([[0.1, 0.2, 0.3, 0.4, 0.5, 0.6], [0.6, 0.5, 0.4, 0.3, 0.2, 0.1]])
    np.testing.assert_array_equal(histogram_discretize(target, 3), [[1, 1, 2, 2, 3, 3], [3, 3, 2, 2, 1, 1]])
    assert histogram_discretize(target, 3).dtype == target.dtype  # the reference keeps the input dtype


def test_discrete_entropy_and_mutual_info():
    target = np.array([[1, 1, 2, 2, 3, 3], [3, 3, 2, 2, 1, 1]])
    np.testing.assert_allclose(discrete_entropy(target), [np.log(3), np.log(3)])
    xs = np.array([[1, 2, 1, 2], [1, 1, 2, 2]])
    ys = np.array([[1, 2, 1, 2], [2, 2, 1, 1]])
    np.testing.assert_allclose(discrete_mutual_info(xs, ys), [[np.log(2), 0.0], [0.0, np.log(2)]])


# ---------------------------------------------------------------- mig_test
def test_mig_identity_zeros_duplicated():
    factors = identity_data(3000)
    assert 0.9 <= mig(factors.astype(np.float64), factors) <= 1.0
    assert 0.0 <= mig(np.zeros_like(factors, dtype=np.float64), factors) <= 0.2
    assert 0.0 <= mig(np.hstack([factors, factors]).astype(np.float64), factors) <= 0.1


def test_mig_edge_cases_follow_the_reference():
    factors = identity_data(500)
    constant = factors.copy()
    constant[:, 0] = 3
    assert np.isnan(mig(factors.astype(float), constant))  # H = 0: NaN, as disentanglement_lib
    with pytest.raises(ValueError, match="at least 2 codes"):
        mig(factors[:, :1].astype(float), factors)
    with pytest.raises(ValueError, match="rows"):
        mig(factors[:10].astype(float), factors)


def test_mig_is_the_normalised_gap():
    rng = np.random.RandomState(1)
    factors = rng.randint(0, 4, size=(2000, 2))
    codes = np.stack([factors[:, 0] + 0.01 * rng.randn(2000), rng.randn(2000), factors[:, 1] * 1.0], 1)
    expected_m = discrete_mutual_info(histogram_discretize(codes.T, 20), factors.T)
    top = np.sort(expected_m, axis=0)[::-1]
    expected = np.mean((top[0] - top[1]) / discrete_entropy(factors.T))
    assert mig(codes, factors) == pytest.approx(expected, rel=0, abs=0)


# ---------------------------------------------------------------- dci_test
@pytest.mark.parametrize(
    "matrix, disentanglement, completeness",
    [
        (np.diag(5.0 * np.ones(5)), 1.0, 1.0),
        (np.array([[1.0, 0.0], [0.0, 1.0], [0.0, 0.0]]), 1.0, 1.0),
        (np.vstack([np.diag(5.0 * np.ones(5))] * 2), 1.0, LOG2_10),
        (np.diag(5.0 * np.ones(5))[:2, :], 1.0, 1.0),
        (np.hstack([np.diag(5.0 * np.ones(5))] * 2), LOG2_10, 1.0),
    ],
)
def test_dci_closed_forms(matrix, disentanglement, completeness):
    np.testing.assert_allclose(dci_disentanglement(matrix), disentanglement)
    np.testing.assert_allclose(dci_completeness(matrix), completeness)


def test_dci_zero_importance():
    np.testing.assert_allclose(dci_disentanglement(np.zeros([10, 10])), 0.0)
    np.testing.assert_allclose(dci_completeness(np.zeros([10, 10])), 0.0, atol=1e-7)


@pytest.mark.slow
def test_dci_identity_permuted_duplicated():
    train, test = identity_data(1000, 0), identity_data(1000, 1)
    scores = dci(train.astype(float), train, test.astype(float), test)
    assert 0.9 <= scores["disentanglement"] <= 1.0 and 0.9 <= scores["completeness"] <= 1.0
    assert scores["informativeness_test"] > 0.9

    permute = np.random.RandomState(0)

    def permuted(x):
        code = x.astype(float)
        for i in range(code.shape[0]):
            code[i, :] = permute.permutation(code[i, :])
        return code

    bad = dci(permuted(train), train, permuted(test), test)
    assert 0.0 <= bad["disentanglement"] <= 0.2 and 0.0 <= bad["completeness"] <= 0.2

    double = dci(np.hstack([train, train]).astype(float), train, np.hstack([test, test]).astype(float), test)
    assert 0.9 <= double["disentanglement"] <= 1.0
    assert LOG2_10 - 0.1 <= double["completeness"] <= LOG2_10 + 0.1


@pytest.mark.slow
def test_dci_is_reproducible_and_parallel_safe():
    train, test = identity_data(300, 0)[:, :3], identity_data(300, 1)[:, :3]
    codes_train = train + np.random.RandomState(2).randn(*train.shape)
    codes_test = test + np.random.RandomState(3).randn(*test.shape)
    one = dci(codes_train, train, codes_test, test, n_jobs=1)
    two = dci(codes_train, train, codes_test, test, n_jobs=2)
    assert one == two
    fast = dci(codes_train, train, codes_test, test, estimator="hist")
    assert set(fast) == set(one) and 0 <= fast["disentanglement"] <= 1


# ---------------------------------------------------------------- sap_score_test
def test_sap_identity_zeros_duplicated_continuous():
    train, test = identity_data(3000, 0), identity_data(3000, 1)
    assert 0.9 <= sap(train.astype(float), train, test.astype(float), test, continuous_factors=True) <= 1.0
    zeros = np.zeros_like(train, dtype=float)
    assert 0.0 <= sap(zeros, train, zeros, test, continuous_factors=True) <= 0.2
    double = np.hstack([train, train]).astype(float)
    assert 0.0 <= sap(double, train, np.hstack([test, test]).astype(float), test, continuous_factors=True) <= 0.2


def test_sap_discrete_factors():
    train, test = identity_data(1000, 0)[:, :3], identity_data(1000, 1)[:, :3]
    good = sap(train.astype(float), train, test.astype(float), test)
    noise = np.random.RandomState(0).randn(1000, 3)
    assert good > sap(noise, train, noise, test) and 0 <= good <= 1
