"""Learning-rate schedules (stability.schedules) against independent computations."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import stability
from stability import GD, SGD, HeavyBall, Nesterov, Quadratic, VariationalGD
from stability.errors import InvalidInputError
from stability.schedules import (
    as_schedule,
    constant,
    predicted_schedule_mean_square,
    schedule_report,
    simulate_schedule,
    step_decay,
    warmup_cosine,
)
from stability.testing.strategies import data_matrices, per_sample_hessians
from tests import brute_force

PROPERTY = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@st.composite
def cases(draw):
    if draw(st.booleans()):
        problem = Quadratic.from_data(draw(data_matrices(min_samples=2, max_samples=5)))
    else:
        problem = Quadratic.from_hessians(draw(per_sample_hessians(min_samples=2, max_samples=4)))
    batch = draw(st.integers(1, problem.samples))
    replacement = draw(st.booleans())
    decay = draw(st.sampled_from([0.0, 0.3]))
    kind = draw(st.sampled_from(["gd", "sgd", "heavy-ball", "nesterov", "variational"]))
    if kind == "gd":
        method = GD(weight_decay=decay)
    elif kind == "sgd":
        method = SGD(batch, replacement=replacement, weight_decay=decay)
    elif kind == "variational":
        method = VariationalGD(0.2, samples=2, batch_size=batch, weight_decay=decay)
    else:
        cls = HeavyBall if kind == "heavy-ball" else Nesterov
        method = cls(draw(st.floats(0.0, 0.9)), batch, replacement=replacement)
    return problem, method


@PROPERTY
@given(cases(), st.floats(0.1, 1.5), st.integers(0, 2**32 - 1))
def test_constant_schedule_equals_predicted_mean_square(case, fraction, seed):
    # an independent implementation: stability.predicted_mean_square at a constant rate
    problem, method = case
    lr = fraction / problem.sharpness
    start = np.random.default_rng(seed).standard_normal(problem.dimension)
    ours = predicted_schedule_mean_square(problem, method, constant(lr, 12), init=start)
    reference = stability.predicted_mean_square(problem, method, lr, steps=12, init=start)
    np.testing.assert_allclose(ours, reference, rtol=1e-9, atol=1e-12 * reference[0])


@PROPERTY
@given(cases(), st.integers(0, 2**32 - 1))
def test_varying_schedule_equals_brute_force_operators(case, seed):
    # vec(S_{t+1}) = E[A_t ⊗ A_t] vec(S_t), E[A ⊗ A] by enumerating every batch
    problem, method = case
    dynamics = method.dynamics()
    if dynamics.noise is not None:  # the brute-force operator has no additive noise
        dynamics = dataclasses.replace(dynamics, noise=None)
    rng = np.random.default_rng(seed)
    rates = rng.uniform(0.1, 1.5, size=5) / problem.sharpness
    start = np.tile(rng.standard_normal(problem.dimension), dynamics.blocks)
    stack = np.asarray(problem.per_sample_hessians())
    vector = np.outer(start, start).ravel()
    expected = [start @ start]
    for lr in rates:
        vector = brute_force.operator(stack, dynamics, lr, reduce=False) @ vector
        expected.append(np.trace(vector.reshape(start.size, start.size)))
    values = predicted_schedule_mean_square(problem, dynamics, rates, init=start)
    np.testing.assert_allclose(values, expected, rtol=1e-9, atol=1e-12 * expected[0])


def test_gradient_descent_schedule_is_the_product_of_factors():
    hessian = np.diag([3.0, 1.0, 0.5])
    rates = warmup_cosine(0.9, 15, warmup=4)
    start = np.array([1.0, -2.0, 0.5])
    expected = [start @ start]
    state = start.copy()
    for lr in rates:
        state = state - lr * hessian @ state
        expected.append(state @ state)
    values = predicted_schedule_mean_square(Quadratic(hessian), GD(), rates, init=start)
    np.testing.assert_allclose(values, expected, rtol=1e-12)


@pytest.mark.parametrize(
    "method", [SGD(2), HeavyBall(0.6, 2, replacement=True), VariationalGD(0.3, batch_size=2)]
)
def test_monte_carlo_agrees_under_a_schedule(method):
    # 99.9% band of the seeded simulation contains the exact prediction at every step. The
    # peak stays below η*: above it the sample mean of these heavy-tailed runs converges far
    # too slowly for a z-test (the exact prediction there is checked by enumeration above)
    problem = Quadratic.from_data(np.random.default_rng(8).standard_normal((6, 3)))
    threshold = stability.critical_learning_rate(problem, method)
    rates = warmup_cosine(0.8 * threshold, 20, warmup=8, initial=0.1 * threshold)
    exact = predicted_schedule_mean_square(problem, method, rates)
    result = simulate_schedule(problem, method, rates, runs=20_000, seed=5)
    lower, upper = result.interval(0.999)
    slack = 1e-12 * exact
    assert np.all(lower - slack <= exact) and np.all(exact <= upper + slack)


def test_report_lists_the_steps_above_the_threshold():
    problem = Quadratic.from_data(np.random.default_rng(1).standard_normal((6, 3)))
    method = SGD(2)
    threshold = stability.critical_learning_rate(problem, method)
    rates = warmup_cosine(1.5 * threshold, 40, warmup=8)
    report = schedule_report(problem, method, rates)
    assert report.critical_learning_rate == threshold
    np.testing.assert_array_equal(report.above, np.flatnonzero(rates > threshold))
    assert report.above.size > 0
    assert report.peak_growth >= 1.0
    np.testing.assert_allclose(
        report.mean_square, predicted_schedule_mean_square(problem, method, rates)
    )


def test_schedule_shapes():
    rates = warmup_cosine(1.0, 10, warmup=3, final=0.1)
    np.testing.assert_allclose(rates[:3], [1 / 3, 2 / 3, 1.0])
    assert rates[3] == pytest.approx(1.0)
    assert rates[-1] == pytest.approx(0.1 + 0.45 * (1 + math.cos(math.pi * 6 / 7)))
    assert np.all(np.diff(rates[3:]) < 0)
    np.testing.assert_allclose(
        step_decay(2.0, 7, every=3, factor=0.1), [2, 2, 2, 0.2, 0.2, 0.2, 0.02]
    )
    assert constant(0.3, 4).tolist() == [0.3] * 4


def test_bad_schedules_are_refused():
    with pytest.raises(InvalidInputError, match="schedule"):
        as_schedule([0.1, -0.1])
    with pytest.raises(InvalidInputError, match="warmup"):
        warmup_cosine(1.0, 5, warmup=6)
    with pytest.raises(InvalidInputError, match="reshuffl"):
        predicted_schedule_mean_square(Quadratic.from_data(np.eye(2)), SGD(1, shuffle=True), [0.1])
    with pytest.raises(InvalidInputError, match="init"):
        predicted_schedule_mean_square(Quadratic(np.eye(2)), GD(), [0.1], init=[1.0, 2.0, 3.0])
