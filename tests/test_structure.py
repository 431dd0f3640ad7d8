"""Structure detection and closed forms (stability.numeric._structure; docs/theory/threshold.md).

The closed forms are checked against the general dense routes, brute-force bisection,
mpmath and an independent implementation in :mod:`stability.bounds`.
"""

from __future__ import annotations

import math
from fractions import Fraction

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from stability import GD, SGD, HeavyBall, InvalidInputError, Nesterov, Quadratic
from stability.bounds import commuting_threshold as published_commuting_threshold
from stability.numeric import critical_learning_rate, threshold_report
from stability.numeric._structure import (
    coherence_critical_learning_rate,
    coherence_problem,
    common_eigenbasis_curvatures,
    commuting_critical_learning_rate,
    commuting_threshold,
    full_batch_critical_learning_rate,
    one_dimensional_critical_learning_rate,
)
from stability.testing.strategies import methods
from tests import brute_force

PROPERTY = settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@st.composite
def commuting_problems(draw, *, max_samples=5, max_dimension=4):
    """Per-sample Hessians Q diag(h_i) Qᵀ sharing a random eigenbasis Q (some h_ik zero)."""
    samples = draw(st.integers(1, max_samples))
    dimension = draw(st.integers(1, max_dimension))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    curvatures = rng.exponential(size=(samples, dimension))
    curvatures[rng.random((samples, dimension)) < 0.3] = 0.0
    if draw(st.booleans()) and dimension > 1:
        curvatures[:, 1] = curvatures[:, 0]  # a repeated eigenvalue of H (and of every H_i)
    if not curvatures.any():
        curvatures[0, 0] = 1.0
    rotation = np.linalg.qr(rng.standard_normal((dimension, dimension)))[0]
    hessians = np.einsum("ij,nj,kj->nik", rotation, curvatures, rotation)
    return Quadratic.from_hessians(hessians), curvatures


def _sorted_columns(matrix: np.ndarray) -> np.ndarray:
    rounded = np.round(matrix, 9) + 0.0  # rounding errors must not decide the order
    return rounded[:, np.lexsort(rounded[::-1])]


@PROPERTY
@given(commuting_problems())
def test_common_eigenbasis_recovers_the_curvatures(case):
    problem, curvatures = case
    found = common_eigenbasis_curvatures(problem.reduced())
    assert found is not None
    kept = curvatures[:, curvatures.mean(axis=0) > 0]
    assert found.shape == kept.shape
    np.testing.assert_allclose(_sorted_columns(found), _sorted_columns(kept), atol=2e-9)


def test_non_commuting_samples_are_not_detected():
    assert (
        common_eigenbasis_curvatures(Quadratic.from_data([[1.0, 1.0], [1.0, 0.0]]).reduced())
        is None
    )
    hessians = np.array([np.diag([1.0, 2.0]), [[1.0, 0.5], [0.5, 1.0]]])
    assert common_eigenbasis_curvatures(Quadratic.from_hessians(hessians).reduced()) is None
    # a tiny but real coupling is not rounded away
    nearly = np.array([[1.0, 1e-6], [0.0, 1.0]])
    assert common_eigenbasis_curvatures(Quadratic.from_data(nearly).reduced()) is None


@PROPERTY
@given(commuting_problems(), st.data())
def test_commuting_closed_form_matches_the_dense_routes(case, data):
    problem, _ = case
    method = data.draw(methods(problem.samples, momentum=True, max_momentum=0.9))
    report = threshold_report(problem, method)
    dense = critical_learning_rate(problem, method, solver="dense")
    mixing = float(method.dynamics().batch.mixing(problem.samples))
    assert report.route == ("full-batch" if mixing == 0 else "commuting")
    assert report.value == pytest.approx(dense, rel=1e-9)


@PROPERTY
@given(commuting_problems(), st.integers(1, 6), st.booleans())
def test_commuting_formula_matches_the_published_implementation(case, batch, replacement):
    problem, curvatures = case
    if not replacement:
        batch = min(batch, problem.samples)
    method = SGD(batch, replacement=replacement)
    mixing = float(method.dynamics().batch.mixing(problem.samples))
    ours = commuting_critical_learning_rate(curvatures, mixing)
    assert ours == pytest.approx(published_commuting_threshold(problem, method), rel=1e-12)


def test_commuting_formula_in_one_dimension_is_wu_ma_e():
    """1-D: η* = 2a / (a² + p s²) (docs/theory/threshold.md), against brute-force bisection."""
    h = np.array([0.5, 1.0, 3.0])
    problem = Quadratic.from_hessians(h[:, None, None])
    for method in (SGD(1), SGD(2), SGD(2, replacement=True)):
        mixing = float(method.dynamics().batch.mixing(3))
        expected = 2 * h.mean() / (h.mean() ** 2 + mixing * h.var())
        assert commuting_critical_learning_rate(h[:, None], mixing) == pytest.approx(expected)
        reference = brute_force.threshold(h[:, None, None], method.dynamics())
        assert expected == pytest.approx(reference, rel=1e-10)
        assert critical_learning_rate(problem, method) == pytest.approx(expected, rel=1e-14)


@pytest.mark.parametrize("method", [HeavyBall(0.7, batch_size=1), Nesterov(0.4, batch_size=2)])
def test_one_dimensional_momentum_threshold_matches_brute_force(method):
    h = np.array([0.5, 1.0, 3.0])
    mixing = float(method.dynamics().batch.mixing(3))
    mean, second = h.mean(), h.mean() ** 2 + mixing * h.var()
    reference = brute_force.threshold(h[:, None, None], method.dynamics())
    assert one_dimensional_critical_learning_rate(method.dynamics(), mean, second) == pytest.approx(
        reference, rel=1e-9
    )


def test_commuting_momentum_threshold_is_the_smallest_direction():
    """The pairs (k, l), k ≠ l, never cross first (Cauchy–Schwarz, module notes)."""
    curvatures = np.array([[2.0, 0.0, 1.0], [0.0, 1.0, 1.0], [1.0, 1.5, 0.2]])
    problem = Quadratic.from_hessians(np.einsum("nk,kl->nkl", curvatures, np.eye(3)))
    for method in (HeavyBall(0.9, batch_size=1), Nesterov(0.5, batch_size=2, replacement=True)):
        dynamics = method.dynamics()
        mixing = float(dynamics.batch.mixing(3))
        per_direction = [
            one_dimensional_critical_learning_rate(
                dynamics, column.mean(), column.mean() ** 2 + mixing * column.var()
            )
            for column in curvatures.T
        ]
        expected = min(per_direction)
        assert commuting_threshold(dynamics, curvatures, mixing) == pytest.approx(expected)
        dense = critical_learning_rate(problem, method, solver="dense")
        assert dense == pytest.approx(expected, rel=1e-9)


def test_full_batch_closed_forms():
    eigenvalues = np.array([2.5, 1.0, 0.25])
    problem = Quadratic(np.diag(eigenvalues))
    for beta in (0.0, 0.5, 0.9):
        heavy = full_batch_critical_learning_rate(HeavyBall(beta).dynamics(), eigenvalues)
        nesterov = full_batch_critical_learning_rate(Nesterov(beta).dynamics(), eigenvalues)
        assert heavy == pytest.approx(2 * (1 + beta) / 2.5, rel=1e-12)
        assert nesterov == pytest.approx(2 * (1 + beta) / (2.5 * (1 + 2 * beta)), rel=1e-12)
        report = threshold_report(problem, HeavyBall(beta))
        assert report.route == "full-batch" and report.value == pytest.approx(heavy, rel=1e-14)
    assert full_batch_critical_learning_rate(GD().dynamics(), np.zeros(2)) == math.inf


# ------------------------------------------------------------------------- coherence
def _coherence_by_formula(samples, copies, mixing):
    """Wu–Ma–E per direction, written out from the construction (no shared code)."""
    sharp = np.zeros(samples)
    sharp[:copies] = 2.0 * samples / copies
    candidates = [2 * sharp.mean() / (sharp.mean() ** 2 + mixing * sharp.var())]
    if copies < samples:
        unit = np.zeros(samples)
        unit[copies] = 1.0
        candidates.append(2 * unit.mean() / (unit.mean() ** 2 + mixing * unit.var()))
    return min(candidates)


@pytest.mark.parametrize("copies", [1, 3, 6])
@pytest.mark.parametrize(
    ("batch", "replacement"), [(1, True), (2, True), (2, False), (5, False), (6, False)]
)
def test_coherence_closed_form_small_against_the_dense_route_and_brute_force(
    copies, batch, replacement
):
    samples = 6
    problem = coherence_problem(samples, copies)
    assert problem.dimension == samples + 1 - copies and problem.sharpness == pytest.approx(2.0)
    method = SGD(batch, replacement=replacement)
    closed = coherence_critical_learning_rate(samples, copies, batch, replacement)
    mixing = float(method.dynamics().batch.mixing(samples))
    assert closed == pytest.approx(_coherence_by_formula(samples, copies, mixing), rel=1e-14)
    assert critical_learning_rate(problem, method, solver="dense") == pytest.approx(
        closed, rel=1e-12
    )
    if copies == 6 or batch <= 2:
        reference = brute_force.threshold(
            np.asarray(problem.per_sample_hessians()), method.dynamics()
        )
        assert closed == pytest.approx(reference, rel=1e-9)


@pytest.mark.parametrize("copies", [1, 10, 37, 99, 100])
@pytest.mark.parametrize(("batch", "replacement"), [(1, True), (10, True), (10, False)])
def test_coherence_closed_form_at_n_100(copies, batch, replacement):
    problem = coherence_problem(100, copies)
    method = SGD(batch, replacement=replacement)
    closed = coherence_critical_learning_rate(100, copies, batch, replacement)
    report = threshold_report(problem, method)
    assert report.route == "commuting"
    assert report.value == pytest.approx(closed, rel=1e-13)
    free = critical_learning_rate(problem, method, solver="matrix-free")
    assert free == pytest.approx(closed, rel=1e-10)


def test_coherence_with_one_sample_per_copy_is_sigma_over_n():
    for copies in (1, 5, 20, 100):
        assert coherence_critical_learning_rate(100, copies, 1, True) == pytest.approx(
            copies / 100, rel=1e-14
        )
        assert coherence_critical_learning_rate(100, copies, None) == pytest.approx(1.0)


def test_coherence_arguments_are_checked():
    with pytest.raises(InvalidInputError, match="copies must be at most samples=5"):
        coherence_problem(5, 6)
    with pytest.raises(InvalidInputError, match="copies must be at least 1"):
        coherence_critical_learning_rate(5, 0, 1)
    with pytest.raises(InvalidInputError, match="batch_size must be at most"):
        coherence_critical_learning_rate(5, 2, 7)


def test_curvatures_are_validated():
    with pytest.raises(InvalidInputError, match="curvatures must have 2 dimensions"):
        commuting_critical_learning_rate([1.0, 2.0], 0.5)
    assert commuting_critical_learning_rate([[0.0, 0.0]], 0.5) == math.inf


# ------------------------------------------------- heavy ball, full batch, β near one (issue 13)
def _mpmath_heavy_ball_full_batch(beta: Fraction, top: float) -> float:
    """Bisection at 60 digits on max |z| over F + η λ G, z² − (1 + β − η λ) z + β = 0."""
    import mpmath

    with mpmath.workdps(60):
        beta_mp = mpmath.mpf(beta.numerator) / beta.denominator
        lam = mpmath.mpf(top)

        def radius(lr):
            matrix = mpmath.matrix([[1 + beta_mp - lr * lam, -beta_mp], [1, 0]])
            return max(abs(value) for value in mpmath.eig(matrix, left=False, right=False))

        low, high = mpmath.mpf(0), 4 / lam
        for _ in range(200):
            middle = (low + high) / 2
            if radius(middle) < 1:
                low = middle
            else:
                high = middle
        return float(low)


@pytest.mark.parametrize("beta", ["0.9999999999999999", "0.999999999999", "0.9", "0.3"])
def test_full_batch_heavy_ball_threshold_near_one_matches_mpmath(beta) -> None:
    exact = Fraction(beta)
    for problem in (
        Quadratic(np.diag([2.0, 1.0])),
        Quadratic.from_data(np.random.default_rng(3).standard_normal((8, 3))),
    ):
        top = float(np.linalg.eigvalsh(problem.hessian).max())
        reference = _mpmath_heavy_ball_full_batch(exact, top)
        value = critical_learning_rate(problem, HeavyBall(float(beta)))
        assert value == pytest.approx(reference, rel=1e-13)
