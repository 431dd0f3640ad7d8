"""Exact thresholds and spectral radii against brute force.

Theory: docs/theory/operator.md, docs/theory/threshold.md and docs/theory/methods.md.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

import stability
from stability import GD, SGD, HeavyBall, Nesterov, Quadratic
from stability.testing.strategies import data_matrices, methods, per_sample_hessians
from tests import brute_force

PROPERTY = settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)


def _per_sample(problem: Quadratic) -> np.ndarray:
    return np.asarray(problem.per_sample_hessians())


@st.composite
def problem_and_method(draw, *, momentum: bool = True):
    if draw(st.booleans()):
        problem = Quadratic.from_data(draw(data_matrices(max_samples=5, max_dimension=4)))
    else:
        problem = Quadratic.from_hessians(
            draw(per_sample_hessians(max_samples=4, max_dimension=3))
        )
    method = draw(methods(problem.samples, momentum=momentum, max_momentum=0.9))
    return problem, method


@PROPERTY
@given(problem_and_method())
def test_threshold_matches_brute_force(case):
    problem, method = case
    exact = stability.critical_learning_rate(problem, method)
    reference = brute_force.threshold(_per_sample(problem), method.dynamics())
    assert math.isfinite(exact)
    assert exact == pytest.approx(reference, rel=1e-9)


@PROPERTY
@given(problem_and_method())
def test_spectral_radius_crosses_one_at_threshold(case):
    problem, method = case
    exact = stability.critical_learning_rate(problem, method)
    below = stability.spectral_radius(problem, method, exact * (1 - 1e-6))
    above = stability.spectral_radius(problem, method, exact * (1 + 1e-6))
    assert below <= 1.0
    assert above > 1.0


@settings(max_examples=30, deadline=None)
@given(problem_and_method(), st.floats(0.05, 3.0))
def test_spectral_radius_matches_brute_force(case, fraction):
    problem, method = case
    lr = fraction * stability.critical_learning_rate(problem, method)
    reference = brute_force.spectral_radius(_per_sample(problem), method.dynamics(), lr)
    assert stability.spectral_radius(problem, method, lr) == pytest.approx(reference, rel=1e-9)


@settings(max_examples=30, deadline=None)
@given(problem_and_method(), st.floats(0.05, 3.0))
def test_dense_operator_matches_enumeration(case, fraction):
    problem, method = case
    if problem.dimension > 3:
        problem = Quadratic.from_hessians(_per_sample(problem)[:, :3, :3])
        method = GD()
    lr = fraction * stability.critical_learning_rate(problem, method)
    expected = brute_force.operator(_per_sample(problem), method.dynamics(), lr, reduce=False)
    actual = stability.second_moment_operator(problem, method, lr)
    np.testing.assert_allclose(actual, expected, rtol=1e-10, atol=1e-12)


@settings(max_examples=30, deadline=None)
@given(problem_and_method(), st.floats(0.1, 2.0))
def test_is_stable_agrees_with_spectral_radius(case, fraction):
    problem, method = case
    exact = stability.critical_learning_rate(problem, method)
    lr = fraction * exact
    assume(abs(fraction - 1.0) > 1e-3)
    assert stability.is_stable(problem, method, lr) == (
        stability.spectral_radius(problem, method, lr) < 1.0
    )


def test_gd_edge_is_two_over_sharpness():
    hessian = np.array([[3.0, 1.0, 0.0], [1.0, 2.0, 0.0], [0.0, 0.0, 0.0]])
    problem = Quadratic(hessian)
    sharpness = np.linalg.eigvalsh(hessian)[-1]
    assert stability.critical_learning_rate(problem, GD()) == pytest.approx(2 / sharpness, 1e-14)


@pytest.mark.parametrize("beta", [0.0, 0.3, 0.9, 0.99])
def test_full_batch_momentum_edges(beta):
    """docs/theory/methods.md: heavy ball λ < 2(1+β)/η; Nesterov λ < 2(1+β)/(η(1+2β))."""
    problem = Quadratic(np.diag([2.5, 1.0, 0.25]))
    heavy = stability.critical_learning_rate(problem, HeavyBall(beta))
    nesterov = stability.critical_learning_rate(problem, Nesterov(beta))
    assert heavy == pytest.approx(2 * (1 + beta) / 2.5, rel=1e-10)
    assert nesterov == pytest.approx(2 * (1 + beta) / (2.5 * (1 + 2 * beta)), rel=1e-10)


def test_zero_hessian_is_stable_everywhere():
    problem = Quadratic.from_data(np.zeros((3, 2)))
    assert stability.critical_learning_rate(problem, SGD(1)) == math.inf
    assert stability.spectral_radius(problem, SGD(1), 10.0) == 0.0
    assert stability.is_stable(problem, HeavyBall(0.5), 1e6)


def test_neutral_directions_do_not_change_the_threshold():
    """Padding the parameters with null directions (n < d) leaves η* unchanged."""
    rng = np.random.default_rng(3)
    data = rng.standard_normal((4, 3))
    padded = np.hstack([data, np.zeros((4, 5))]) @ np.linalg.qr(rng.standard_normal((8, 8)))[0]
    for method in (SGD(1), SGD(3, replacement=True), HeavyBall(0.7, batch_size=2)):
        assert stability.critical_learning_rate(
            Quadratic.from_data(padded), method
        ) == pytest.approx(stability.critical_learning_rate(Quadratic.from_data(data), method),
                           rel=1e-10)


def test_gram_and_data_give_the_same_thresholds():
    rng = np.random.default_rng(4)
    data = rng.standard_normal((5, 9))
    for method in (SGD(1), SGD(2, replacement=True), Nesterov(0.5, batch_size=3)):
        from_data = stability.critical_learning_rate(Quadratic.from_data(data), method)
        from_gram = stability.critical_learning_rate(Quadratic.from_gram(data @ data.T), method)
        assert from_gram == pytest.approx(from_data, rel=1e-10)


def test_linear_dynamics_is_accepted_directly():
    problem = Quadratic.from_data([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]])
    assert stability.critical_learning_rate(problem, SGD(1).dynamics()) == pytest.approx(
        3 - math.sqrt(3), rel=1e-13
    )


# ------------------------------------------------------------------ extreme inputs (issue 13)
def test_spectral_radius_at_huge_rates_is_refused_by_name_not_infinite():
    import warnings

    from stability.errors import OutOfRangeError

    problem = Quadratic.from_data(np.random.default_rng(0).standard_normal((6, 3)))
    for method in (stability.GD(), stability.SGD(2), stability.HeavyBall(0.5, batch_size=2)):
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            for solver in ("auto", "dense", "matrix-free"):
                # a radius beyond the float range is refused (never inf), naming lr
                with pytest.raises(OutOfRangeError, match=r"lr = 1e\+308.*exceeds the float"):
                    stability.spectral_radius(problem, method, 1e308, solver=solver)
            assert not stability.is_stable(problem, method, 1e308)
        # far above η* but representable: the operator is scaled, and the routes agree
        values = [
            stability.spectral_radius(problem, method, 1e100, solver=solver)
            for solver in ("dense", "matrix-free")
        ]
        assert values[0] == pytest.approx(values[1], rel=1e-10) and 1e190 < values[0] < 1e210


def test_precision_has_a_documented_limit():
    from stability.errors import InvalidInputError
    from stability.numeric import MAX_PRECISION_DIGITS

    problem = Quadratic(np.diag([2.0, 1.0]))
    with pytest.raises(InvalidInputError, match="precision must be at most 1000"):
        stability.critical_learning_rate(problem, stability.GD(), precision=100000)
    assert MAX_PRECISION_DIGITS == 1000


def test_spectral_gap_beyond_the_float_range_is_refused_by_name():
    """1 − ρ is never returned as −inf: a radius past the float range is a named refusal."""
    from stability.errors import OutOfRangeError
    from stability.numeric import spectral_gap

    problem = Quadratic(np.diag([2.0, 1.0]))
    with pytest.raises(OutOfRangeError, match="lr = 1e"):
        spectral_gap(problem, GD(), 1e308)
    assert spectral_gap(problem, GD(), 0.25) == pytest.approx(1 - 0.5625, rel=1e-12)
