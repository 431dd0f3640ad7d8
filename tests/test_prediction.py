"""Exact finite-time second moments (stability.numeric._prediction), docs/theory/operator.md and
docs/monte-carlo.md.

Every formula is checked against an independent computation: batch enumeration
(tests/brute_force.py), the dense operator, closed forms, explicit per-sample sums at
large d, and the stationary second moment solved by a different code path.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import sympy
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from stability import GD, SGD, AdditiveNoise, HeavyBall, Nesterov, Quadratic
from stability._starts import default_initial_error, initial_states
from stability.errors import DimensionError, InvalidInputError, InvalidTypeError
from stability.methods import VariationalGD
from stability.numeric import (
    apply_second_moment_operator,
    critical_learning_rate,
    noise_second_moment,
    predicted_mean_square,
    second_moment_operator,
    second_moment_recursion,
    stationary_second_moment,
)
from stability.testing.strategies import data_matrices, methods, per_sample_hessians
from tests import brute_force

PROPERTY = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@st.composite
def problem_method_rate(draw):
    if draw(st.booleans()):
        problem = Quadratic.from_data(draw(data_matrices(max_samples=4, max_dimension=3)))
    else:
        problem = Quadratic.from_hessians(draw(per_sample_hessians(max_samples=4, max_dimension=3)))
    method = draw(methods(problem.samples, momentum=True, max_momentum=0.9))
    scale = max(problem.sharpness, 1e-3)
    lr = draw(st.floats(0.05, 3.0)) / scale
    return problem, method, lr


def _random_noise(rng: np.random.Generator, blocks: int, dimension: int) -> AdditiveNoise:
    factor = rng.standard_normal((dimension, dimension))
    return AdditiveNoise(
        identity_coefficients=tuple(
            (float(a), float(b)) for a, b in rng.standard_normal((blocks, 2))
        ),
        hessian_coefficients=tuple(
            (0.0, float(a), float(b)) for a, b in rng.standard_normal((blocks, 2))
        ),
        covariance=factor @ factor.T,
    )


def _enumerated_noise(problem: Quadratic, dynamics, lr: float) -> np.ndarray:
    """E[b bᵀ] by enumerating every batch with its probability."""
    per_sample = np.asarray(problem.per_sample_hessians())
    u, w = dynamics.noise.evaluate(lr)
    covariance = dynamics.noise.covariance_matrix(problem.dimension)
    total = 0.0
    for weights, probability in brute_force.batch_distribution(
        per_sample.shape[0], dynamics.batch.batch_size, dynamics.batch.replacement
    ):
        batch_hessian = np.tensordot(weights, per_sample, axes=1)
        loading = np.kron(u[:, None], np.eye(problem.dimension)) + np.kron(
            w[:, None], batch_hessian
        )
        total = total + probability * loading @ covariance @ loading.T
    return total


@PROPERTY
@given(problem_method_rate(), st.integers(0, 2**32 - 1))
def test_operator_matches_batch_enumeration(case, seed):
    problem, method, lr = case
    dynamics = method.dynamics()
    reference = brute_force.operator(
        np.asarray(problem.per_sample_hessians()), dynamics, lr, reduce=False
    )
    size = dynamics.blocks * problem.dimension
    moment = np.random.default_rng(seed).standard_normal((size, size))
    moment = moment + moment.T
    result = apply_second_moment_operator(problem, method, lr, moment)
    expected = (reference @ moment.ravel()).reshape(size, size)
    scale = max(np.abs(expected).max(), np.abs(moment).max())
    assert np.allclose(result, expected, rtol=1e-10, atol=1e-10 * scale)


@PROPERTY
@given(problem_method_rate(), st.integers(0, 2**32 - 1))
def test_noise_moment_matches_batch_enumeration(case, seed):
    problem, method, lr = case
    base = method.dynamics()
    noise = _random_noise(np.random.default_rng(seed), base.blocks, problem.dimension)
    dynamics = dataclasses.replace(base, noise=noise)
    expected = _enumerated_noise(problem, dynamics, lr)
    result = noise_second_moment(problem, dynamics, lr)
    scale = np.abs(dynamics.noise.covariance_matrix(problem.dimension)).max()
    scale = max(np.abs(expected).max(), scale)
    assert np.allclose(result, expected, rtol=1e-10, atol=1e-10 * scale)


@PROPERTY
@given(problem_method_rate())
def test_mean_square_matches_dense_operator_iteration(case):
    problem, method, lr = case
    dense = second_moment_operator(problem, method, lr)
    size = method.dynamics().blocks * problem.dimension
    start = np.tile(default_initial_error(problem.dimension), method.dynamics().blocks)
    moment = np.outer(start, start).ravel()
    expected = []
    for _ in range(8):
        expected.append(np.trace(moment.reshape(size, size)))
        moment = dense @ moment
    result = predicted_mean_square(problem, method, lr, steps=7)
    assert np.allclose(result, expected, rtol=1e-9)


def test_gd_closed_form_with_neutral_directions():
    eigenvalues = np.array([4.0, 1.0, 0.25, 0.0])
    rotation, _ = np.linalg.qr(np.random.default_rng(0).standard_normal((4, 4)))
    problem = Quadratic(rotation @ np.diag(eigenvalues) @ rotation.T)
    start = np.array([0.3, -1.0, 2.0, 0.5])
    coefficients = rotation.T @ start
    for lr in (0.3, 0.6):  # below and above 2/λ_max = 0.5
        times = np.arange(21)
        expected = (
            coefficients[:, None] ** 2 * (1 - lr * eigenvalues)[:, None] ** (2 * times)
        ).sum(0)
        result = predicted_mean_square(problem, GD(), lr, steps=20, init=start)
        assert np.allclose(result, expected, rtol=1e-10)
        assert result[-1] > coefficients[-1] ** 2 * 0.999  # the neutral part stays


def test_one_dimensional_sgd_closed_form():
    curvatures = np.array([0.5, 1.0, 3.0])
    problem = Quadratic.from_hessians(curvatures[:, None, None])
    for batch, replacement in ((1, True), (2, True), (2, False)):
        method = SGD(batch, replacement=replacement)
        mixing = float(method.dynamics().batch.mixing(3))
        lr = 0.7
        mean, second = curvatures.mean(), (curvatures**2).mean()
        factor = 1 - 2 * lr * mean + lr**2 * ((1 - mixing) * mean**2 + mixing * second)
        result = predicted_mean_square(problem, method, lr, steps=10, init=[2.0])
        assert np.allclose(result, 4.0 * factor ** np.arange(11), rtol=1e-12)


def test_full_batch_momentum_is_the_deterministic_orbit():
    problem = Quadratic(np.diag([3.0, 1.0, 0.2]))
    start = np.array([1.0, -2.0, 0.5])
    for method in (HeavyBall(0.7), Nesterov(0.4)):
        lr = 1.1 * critical_learning_rate(problem, method)
        state_map = method.dynamics().state_map(lr, problem.hessian)
        state = np.concatenate([start, start])
        expected = []
        for _ in range(31):
            expected.append(state @ state)
            state = state_map @ state
        result = predicted_mean_square(problem, method, lr, steps=30, init=start)
        assert np.allclose(result, expected, rtol=1e-9)


def test_variational_gd_full_batch_closed_form():
    eigenvalues = np.array([2.0, 0.5])
    problem = Quadratic(np.diag(eigenvalues))
    variance, samples, lr = 0.3, 4, 0.6
    method = VariationalGD(variance, samples=samples)
    contraction = (1 - lr * eigenvalues) ** 2
    injected = lr**2 * eigenvalues**2 * variance / samples
    start = np.array([1.0, -1.0])
    moment = start**2
    expected = []
    for _ in range(16):
        expected.append(moment.sum())
        moment = contraction * moment + injected
    result = predicted_mean_square(problem, method, lr, steps=15, init=start)
    assert np.allclose(result, expected, rtol=1e-12)


@pytest.mark.parametrize(
    "method",
    [
        VariationalGD(0.4, samples=2, batch_size=2),
        VariationalGD([0.2, 0.5, 1.0], samples=3, batch_size=3, replacement=True),
    ],
)
def test_long_run_converges_to_the_stationary_moment(method):
    problem = Quadratic.from_data(np.random.default_rng(5).standard_normal((6, 3)))
    lr = 0.7 * critical_learning_rate(problem, method)
    recursion = second_moment_recursion(problem, method, lr)
    zero = np.zeros(problem.dimension)
    traces = recursion.mean_square(3000, init=zero)
    stationary = stationary_second_moment(problem, method, lr)
    assert traces[-1] == pytest.approx(np.trace(stationary), rel=1e-9)


def test_large_dimension_against_explicit_sums():
    rng = np.random.default_rng(2)
    data = rng.standard_normal((300, 120)) / np.sqrt(120)
    problem = Quadratic.from_data(data)
    method, lr = SGD(10), 0.8
    mixing = float(method.dynamics().batch.mixing(300))
    moment = rng.standard_normal((120, 120))
    moment = moment @ moment.T / 120
    hessian = data.T @ data / 300
    sandwich = sum(np.outer(x, x) * (x @ moment @ x) for x in data) / 300
    expected = (
        moment
        - lr * (hessian @ moment + moment @ hessian)
        + lr**2 * ((1 - mixing) * hessian @ moment @ hessian + mixing * sandwich)
    )
    result = apply_second_moment_operator(problem, method, lr, moment)
    assert np.allclose(result, expected, rtol=1e-10, atol=1e-12)


def test_large_dimension_gd_closed_form():
    rng = np.random.default_rng(3)
    data = rng.standard_normal((150, 100)) / 10
    problem = Quadratic.from_data(data)
    eigenvalues, vectors = np.linalg.eigh(problem.hessian)
    lr = 1.8 / eigenvalues[-1]
    start = default_initial_error(100)
    coefficients = vectors.T @ start
    times = np.arange(51)
    expected = (coefficients[:, None] ** 2 * (1 - lr * eigenvalues)[:, None] ** (2 * times)).sum(0)
    result = predicted_mean_square(problem, GD(), lr, steps=50)
    assert np.allclose(result, expected, rtol=1e-9)


def test_stacks_of_moments_are_applied_one_by_one():
    problem = Quadratic.from_data(np.random.default_rng(4).standard_normal((5, 2)))
    recursion = second_moment_recursion(problem, HeavyBall(0.5, batch_size=2), 0.3)
    stack = np.random.default_rng(5).standard_normal((3, 2, 4, 4))
    stack = stack + np.swapaxes(stack, -1, -2)
    result = recursion.apply(stack)
    for index in np.ndindex(3, 2):
        assert np.allclose(result[index], recursion.apply(stack[index]), rtol=1e-13)


def test_initial_states_layouts_and_per_run_starts():
    assert np.allclose(initial_states(None, 4, 1), 0.5)
    assert np.allclose(initial_states([1.0, 2.0], 2, 2), [1.0, 2.0, 1.0, 2.0])
    assert np.allclose(initial_states([1.0, 2.0, 3.0, 4.0], 2, 2), [1, 2, 3, 4])
    rows = initial_states([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]], 2, 2)
    assert rows.shape == (3, 4) and np.allclose(rows[2], 1.0)
    problem = Quadratic(np.diag([1.0, 2.0]))
    recursion = second_moment_recursion(problem, HeavyBall(0.3), 0.2)
    mean_moment = recursion.initial_moment([[1.0, 0.0], [0.0, 1.0]])
    assert np.allclose(mean_moment, 0.5 * np.kron(np.ones((2, 2)), np.eye(2)))
    # momentum starts at rest: δ_{-1} = δ_0, so ‖z_0‖² = 2 ‖δ_0‖²
    assert predicted_mean_square(problem, HeavyBall(0.3), 0.2, steps=1, init=[3.0, 4.0])[0] == 50


def test_bad_input_is_refused_with_named_arguments():
    problem = Quadratic(np.diag([1.0, 2.0]))
    with pytest.raises(DimensionError, match="init"):
        predicted_mean_square(problem, GD(), 0.1, steps=3, init=[1.0, 2.0, 3.0])
    with pytest.raises(DimensionError, match="moment"):
        apply_second_moment_operator(problem, GD(), 0.1, np.eye(3))
    with pytest.raises(InvalidInputError, match="steps"):
        predicted_mean_square(problem, GD(), 0.1, steps=0)
    with pytest.raises(InvalidInputError, match="lr"):
        predicted_mean_square(problem, GD(), -1.0, steps=3)
    with pytest.raises(InvalidInputError, match="batch_size"):
        predicted_mean_square(problem, SGD(1), 0.1, steps=3)
    with pytest.raises(InvalidTypeError, match="symbolic"):
        predicted_mean_square(problem, HeavyBall(sympy.Symbol("beta")), 0.1, steps=3)
    noisy = dataclasses.replace(
        GD().dynamics(), noise=AdditiveNoise(((0,),), ((0, -1),), covariance=np.eye(3))
    )
    with pytest.raises(DimensionError, match="noise covariance"):
        noise_second_moment(problem, noisy, 0.1)


def test_overflow_gives_infinity_not_a_warning():
    problem = Quadratic(np.diag([10.0]))
    result = predicted_mean_square(problem, GD(), 100.0, steps=400, init=[1.0])
    assert np.isinf(result[-1]) and np.all(np.isfinite(result[:50]))
