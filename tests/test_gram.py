"""The Gram (NTK) path and the reduction of wide data (docs/theory/threshold.md, Gram form).

``η*`` of rank-one samples depends on ``K = X Xᵀ`` alone: checked against the data
problem, against an independent residual-space operator ``r ↦ (I − η K W) r`` built by
enumerating the batch weights ``W``, and at sizes where a ``d × d`` Hessian could not even
be stored.
"""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from stability import SGD, HeavyBall, Quadratic
from stability.numeric import critical_learning_rate, threshold_report
from stability.testing.strategies import gram_matrices
from tests import brute_force

PROPERTY = settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _residual_operator(gram: np.ndarray, batch: int, replacement: bool, lr: float) -> np.ndarray:
    """E[(I − η K W) ⊗ (I − η K W)] on R^{n²}, restricted to range(K) ⊗ range(K)."""
    n = gram.shape[0]
    total = np.zeros((n * n, n * n))
    for weights, probability in brute_force.batch_distribution(n, batch, replacement):
        step = np.eye(n) - lr * gram @ np.diag(weights)
        total += probability * np.kron(step, step)
    values, vectors = np.linalg.eigh(gram)
    basis = vectors[:, values > 1e-10 * values.max()]
    lifted = np.kron(basis, basis)
    return lifted.T @ total @ lifted


def _residual_threshold(gram: np.ndarray, batch: int, replacement: bool) -> float:
    """Bisection on the spectral radius of the residual recursion (a reference only)."""
    sharpness = np.linalg.eigvalsh(gram)[-1] / gram.shape[0]

    def radius(lr):
        return np.abs(np.linalg.eigvals(_residual_operator(gram, batch, replacement, lr))).max()

    low, high = 1e-9 / sharpness, 2.0 / sharpness
    while high - low > 1e-13 * high:
        middle = 0.5 * (low + high)
        low, high = (middle, high) if radius(middle) <= 1.0 else (low, middle)
    return 0.5 * (low + high)


@pytest.mark.parametrize(("batch", "replacement"), [(1, False), (2, False), (2, True)])
def test_gram_threshold_equals_the_residual_recursion(batch, replacement):
    """r = X δ obeys r_{t+1} = (I − η K W_B) r_t, W_B the batch weights.

    Theory: docs/theory/threshold.md (the Gram form).
    """
    rng = np.random.default_rng(0)
    data = rng.standard_normal((4, 7))
    gram = data @ data.T
    method = SGD(batch, replacement=replacement)
    reference = _residual_threshold(gram, batch, replacement)
    for solver in ("auto", "dense", "matrix-free"):
        value = critical_learning_rate(Quadratic.from_gram(gram), method, solver=solver)
        assert value == pytest.approx(reference, rel=1e-9)


@PROPERTY
@given(gram_matrices(max_samples=6, max_features=8), st.integers(1, 6), st.booleans())
def test_gram_and_data_thresholds_agree(gram, batch, replacement):
    values, vectors = np.linalg.eigh(gram)
    features = vectors * np.sqrt(np.clip(values, 0, None))  # any X with X Xᵀ = K
    n = gram.shape[0]
    if not replacement:
        batch = min(batch, n)
    method = SGD(batch, replacement=replacement)
    from_gram = critical_learning_rate(Quadratic.from_gram(gram), method)
    from_data = critical_learning_rate(Quadratic.from_data(features), method)
    if math.isinf(from_data):
        assert math.isinf(from_gram)
    else:
        assert from_gram == pytest.approx(from_data, rel=1e-9)


def test_gram_reduction_is_exact_and_ordered():
    rng = np.random.default_rng(1)
    data = rng.standard_normal((6, 4)) @ rng.standard_normal((4, 9))  # rank 4
    gram = data @ data.T
    problem = Quadratic.from_gram(gram)
    reduced = problem.reduced()
    assert reduced.rank == 4 == problem.dimension and problem.samples == 6
    np.testing.assert_array_equal(reduced.basis, np.eye(4))
    assert np.all(np.diff(reduced.eigenvalues) <= 0)
    np.testing.assert_allclose(reduced.vectors @ reduced.vectors.T, gram, atol=1e-12 * gram.max())
    np.testing.assert_allclose(problem.hessian, np.diag(reduced.eigenvalues), atol=0)
    np.testing.assert_allclose(
        reduced.eigenvalues, np.linalg.eigvalsh(data.T @ data / 6)[::-1][:4], rtol=1e-12
    )


def test_zero_gram_is_stable_everywhere():
    problem = Quadratic.from_gram(np.zeros((3, 3)))
    assert problem.reduced().rank == 0
    assert critical_learning_rate(problem, SGD(1)) == math.inf


@pytest.mark.parametrize("dimension", [50, 3000])
def test_wide_data_reduces_through_the_thin_factorisation(dimension):
    rng = np.random.default_rng(2)
    data = rng.standard_normal((7, dimension))
    problem = Quadratic.from_data(data)
    reduced = problem.reduced()
    basis = reduced.basis
    assert basis.shape == (dimension, 7)
    np.testing.assert_allclose(basis.T @ basis, np.eye(7), atol=1e-12)
    np.testing.assert_allclose(data @ basis, reduced.vectors, atol=1e-12 * np.abs(data).max())
    singular = np.linalg.svd(data, compute_uv=False)
    np.testing.assert_allclose(reduced.eigenvalues, singular**2 / 7, rtol=1e-12)
    assert problem.sharpness == pytest.approx(singular[0] ** 2 / 7, rel=1e-12)
    for method in (SGD(2), HeavyBall(0.5, batch_size=3)):
        assert critical_learning_rate(problem, method) == pytest.approx(
            critical_learning_rate(Quadratic.from_gram(data @ data.T), method), rel=1e-10
        )


def test_tall_data_reduces_through_the_thin_factorisation():
    rng = np.random.default_rng(3)
    data = rng.standard_normal((400, 5))
    reduced = Quadratic.from_data(data).reduced()
    np.testing.assert_allclose(reduced.basis.T @ reduced.basis, np.eye(5), atol=1e-12)
    np.testing.assert_allclose(data @ reduced.basis, reduced.vectors, atol=1e-12 * 10)
    np.testing.assert_allclose(
        reduced.eigenvalues, np.linalg.svd(data, compute_uv=False) ** 2 / 400, rtol=1e-12
    )


def test_thresholds_never_form_the_parameter_hessian():
    """d = 400 000: a d × d Hessian would need 1.28 TB; the thresholds need n × d only."""
    rng = np.random.default_rng(4)
    data = rng.standard_normal((6, 400_000)) / 600.0
    problem = Quadratic.from_data(data)
    gram = Quadratic.from_gram(data @ data.T)
    for method in (SGD(1), SGD(3, replacement=True)):
        report = threshold_report(problem, method, solver="matrix-free")
        assert report.value == pytest.approx(critical_learning_rate(gram, method), rel=1e-10)
    assert problem.dimension == 400_000 and problem.samples == 6
    assert problem.sharpness == pytest.approx(gram.sharpness, rel=1e-12)


def test_gram_threshold_is_invariant_under_relabelling_samples():
    rng = np.random.default_rng(5)
    data = rng.standard_normal((8, 5))
    gram = data @ data.T
    permutation = rng.permutation(8)
    permuted = gram[np.ix_(permutation, permutation)]
    for method in (SGD(1), SGD(3)):
        assert critical_learning_rate(Quadratic.from_gram(permuted), method) == pytest.approx(
            critical_learning_rate(Quadratic.from_gram(gram), method), rel=1e-12
        )


def test_gram_of_duplicated_samples():
    """Two identical rows: K has a repeated row; with B = 1 the duplicate doubles its weight."""
    row = np.array([[1.0, 2.0, 0.5]])
    other = np.array([[0.0, 1.0, -1.0]])
    data = np.vstack([row, row, other])
    gram = data @ data.T
    reference = brute_force.threshold(
        np.einsum("ni,nj->nij", data, data), SGD(1, replacement=True).dynamics()
    )
    assert critical_learning_rate(
        Quadratic.from_gram(gram), SGD(1, replacement=True)
    ) == pytest.approx(reference, rel=1e-9)


def test_all_enumerated_batches_are_counted():
    """Guard for the reference itself: the batch law sums to one."""
    for batch, replacement in itertools.product((1, 2, 3), (False, True)):
        total = sum(p for _, p in brute_force.batch_distribution(4, batch, replacement))
        assert total == pytest.approx(1.0, rel=1e-14)
