"""Deep linear networks: Hessians and sharpness bounds, against finite differences.

Theory: docs/theory/deep-linear.md.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from stability import (
    GD,
    SGD,
    DimensionError,
    InvalidInputError,
    InvalidTypeError,
    critical_learning_rate,
)
from stability.bounds import (
    balanced_minimiser,
    balanced_minimiser_sharpness,
    deep_linear_hessian,
    deep_linear_learning_rate_limit,
    deep_linear_loss,
    deep_linear_problem,
    deep_linear_sharpness_lower_bound,
    end_to_end,
    least_squares_solution,
)
from stability.testing.strategies import data_matrices, deep_linear_minimisers

PROPERTY = settings(
    max_examples=30, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow]
)


def _unflatten(vector: np.ndarray, shapes: list[tuple[int, int]]) -> list[np.ndarray]:
    layers, start = [], 0
    for shape in shapes:
        size = shape[0] * shape[1]
        layers.append(vector[start : start + size].reshape(shape))
        start += size
    return layers


def finite_difference_hessian(X, y, layers, step=1e-4) -> np.ndarray:
    """Central second differences of the loss R itself (independent of the analytic J)."""
    shapes = [layer.shape for layer in layers]
    theta = np.concatenate([layer.ravel() for layer in layers])
    count = theta.size
    unit = np.eye(count) * step

    def loss(vector):
        return deep_linear_loss(X, y, _unflatten(vector, shapes))

    result = np.zeros((count, count))
    for i in range(count):
        for j in range(i, count):
            result[i, j] = result[j, i] = (
                loss(theta + unit[i] + unit[j])
                - loss(theta + unit[i] - unit[j])
                - loss(theta - unit[i] + unit[j])
                + loss(theta - unit[i] - unit[j])
            ) / (4 * step * step)
    return result


@PROPERTY
@given(deep_linear_minimisers(max_samples=5, max_dimension=3, max_depth=3, max_width=3))
def test_hessian_matches_finite_differences(case):
    X, y, layers = case
    exact = deep_linear_hessian(X, y, layers)
    approximate = finite_difference_hessian(X, y, layers)
    # R is a polynomial of degree 2L: the O(h²) truncation error with h = 1e-4 and the
    # O(ε R / h²) round-off are both below 1e-6 of the Hessian's scale here
    scale = max(1.0, float(np.abs(exact).max()))
    assert np.abs(exact - approximate).max() <= 1e-6 * scale


@PROPERTY
@given(deep_linear_minimisers(max_samples=5, max_dimension=3, max_depth=4, max_width=3))
def test_every_minimiser_is_at_least_as_sharp_as_the_bound(case):
    X, y, layers = case
    depth = len(layers)
    sharpness = float(np.linalg.eigvalsh(finite_difference_hessian(X, y, layers))[-1])
    bound = deep_linear_sharpness_lower_bound(X, y, depth)
    weaker = deep_linear_sharpness_lower_bound(X, y, depth, simplified=True)
    assert weaker <= bound * (1 + 1e-10)
    assert bound <= sharpness * (1 + 1e-6) + 1e-9
    # hence GD above the limit is unstable at this minimiser
    limit = deep_linear_learning_rate_limit(X, y, depth)
    if np.isfinite(limit) and sharpness > 0:
        assert 2 / sharpness <= limit * (1 + 1e-6)


@PROPERTY
@given(
    data_matrices(max_samples=5, max_dimension=3), st.integers(1, 4), st.integers(1, 3), st.data()
)
def test_balanced_minimiser_sharpness_closed_form(data, depth, width, draws):
    seed = draws.draw(st.integers(0, 2**32 - 1))
    targets = np.random.default_rng(seed).standard_normal(data.shape[0])
    layers = balanced_minimiser(data, targets, depth, width=width)
    assert np.allclose(end_to_end(layers), least_squares_solution(data, targets))
    hessian = finite_difference_hessian(data, targets, layers)
    assert balanced_minimiser_sharpness(data, targets, depth) == pytest.approx(
        float(np.linalg.eigvalsh(hessian)[-1]), rel=1e-6, abs=1e-9
    )
    assert deep_linear_sharpness_lower_bound(data, targets, depth) <= balanced_minimiser_sharpness(
        data, targets, depth
    ) * (1 + 1e-10)


@pytest.mark.parametrize("depth", [1, 2, 3, 5])
@pytest.mark.parametrize("dimension", [1, 2, 3])
def test_bound_is_tight_for_isotropic_inputs(depth, dimension):
    X = np.sqrt(dimension) * np.eye(dimension)  # Σ_x = I
    y = np.arange(1.0, dimension + 1)
    norm = np.linalg.norm(y / np.sqrt(dimension))
    expected = 2 * depth * norm ** (2 - 2 / depth)
    assert deep_linear_sharpness_lower_bound(X, y, depth) == pytest.approx(expected)
    assert deep_linear_sharpness_lower_bound(X, y, depth, simplified=True) == pytest.approx(
        expected
    )
    assert balanced_minimiser_sharpness(X, y, depth) == pytest.approx(expected)
    layers = balanced_minimiser(X, y, depth, width=2)
    hessian = deep_linear_hessian(X, y, layers)
    assert float(np.linalg.eigvalsh(hessian)[-1]) == pytest.approx(expected)
    assert deep_linear_learning_rate_limit(X, y, depth) == pytest.approx(2 / expected)


def test_bound_tight_when_the_solution_is_a_dominant_eigenvector():
    # Σ_x = diag(1, 0.5) and w* along e_1: both equal 2L ‖w*‖^{2−2/L} since L · 1 ≥ λ_max = 1
    X = np.diag([1.0, np.sqrt(0.5)]) * np.sqrt(2)
    y = np.array([3.0, 0.0])
    for depth in (1, 2, 3):
        assert deep_linear_sharpness_lower_bound(X, y, depth) == pytest.approx(
            balanced_minimiser_sharpness(X, y, depth)
        )


def test_gd_threshold_of_the_minimum():
    X, y = np.eye(2), np.array([1.0, 0.0])
    layers = balanced_minimiser(X, y, 2)
    problem = deep_linear_problem(X, y, layers)
    assert problem.samples == 2
    sharpness = balanced_minimiser_sharpness(X, y, 2)
    assert critical_learning_rate(problem, GD()) == pytest.approx(2 / sharpness)
    assert critical_learning_rate(problem, SGD(1)) <= 2 / sharpness
    # a minimiser that does not interpolate: only the mean Hessian is returned
    X3, y3 = np.array([[1.0], [1.0]]), np.array([1.0, 3.0])
    full = deep_linear_problem(X3, y3, balanced_minimiser(X3, y3, 2))
    assert full.samples is None
    assert full.sharpness == pytest.approx(balanced_minimiser_sharpness(X3, y3, 2))


def test_zero_solution_gives_an_empty_bound():
    X = np.array([[1.0, 0.0]])
    y = np.array([0.0])
    assert deep_linear_sharpness_lower_bound(X, y, 3) == 0.0
    assert deep_linear_learning_rate_limit(X, y, 3) == np.inf


def test_bad_arguments():
    X, y = np.eye(2), np.array([1.0, 0.0])
    with pytest.raises(InvalidInputError, match="minimiser"):
        deep_linear_hessian(X, y, [np.array([[2.0, 0.0]]), np.array([[1.0]])])
    with pytest.raises(DimensionError, match="columns"):
        deep_linear_hessian(X, y, [np.array([[1.0, 0.0, 0.0]]), np.array([[1.0]])])
    with pytest.raises(DimensionError, match="one row"):
        deep_linear_hessian(X, y, [np.eye(2)])
    with pytest.raises(InvalidTypeError, match="weights"):
        deep_linear_hessian(X, y, np.eye(2))
    with pytest.raises(DimensionError, match="one entry per row"):
        deep_linear_sharpness_lower_bound(X, np.ones(3), 2)
    with pytest.raises(InvalidInputError, match="depth"):
        deep_linear_sharpness_lower_bound(X, y, 0)
