"""Learning-rate schedules (stability.schedules) against independent computations."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import stability
from stability import GD, SGD, AdditiveNoise, HeavyBall, Nesterov, Quadratic, VariationalGD
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


def _brute_noise(stack, dynamics, lr):
    """N(η) = E[b bᵀ] by enumerating every batch: b = (u ⊗ I + w ⊗ H_B) ε, Cov ε = C."""
    samples, dimension = stack.shape[0], stack.shape[1]
    u, w = dynamics.noise.evaluate(lr)
    covariance = dynamics.noise.covariance_matrix(dimension)
    total = 0.0
    for weights, probability in brute_force.batch_distribution(
        samples, dynamics.batch.batch_size, dynamics.batch.replacement
    ):
        batch_hessian = np.tensordot(weights, stack, axes=1)
        noise_map = np.kron(u[:, None], np.eye(dimension)) + np.kron(w[:, None], batch_hessian)
        total = total + probability * noise_map @ covariance @ noise_map.T
    return total


@PROPERTY
@given(cases(), st.integers(0, 2**32 - 1))
def test_varying_schedule_with_noise_equals_brute_force_recursion(case, seed):
    # S_{t+1} = E[A_t S_t A_tᵀ] + E[b_t b_tᵀ], both expectations by enumerating every batch,
    # on dense md × md matrices (variational GD carries additive noise)
    problem, _ = case
    rng = np.random.default_rng(seed)
    samples = problem.samples
    method = VariationalGD(
        float(rng.uniform(0.05, 0.5)), samples=int(rng.integers(1, 4)),
        batch_size=int(rng.integers(1, samples + 1)),
    )
    dynamics = method.dynamics()
    rates = rng.uniform(0.1, 1.5, size=6) / problem.sharpness
    start = rng.standard_normal(problem.dimension)
    stack = np.asarray(problem.per_sample_hessians())
    size = dynamics.blocks * problem.dimension
    moment = np.outer(np.tile(start, dynamics.blocks), np.tile(start, dynamics.blocks))
    expected = [np.trace(moment)]
    for lr in rates:
        transition = brute_force.operator(stack, dynamics, lr, reduce=False)
        moment = (transition @ moment.ravel()).reshape(size, size)
        moment = moment + _brute_noise(stack, dynamics, lr)
        expected.append(np.trace(moment))
    values = predicted_schedule_mean_square(problem, method, rates, init=start)
    np.testing.assert_allclose(values, expected, rtol=1e-9, atol=1e-12 * expected[0])


@pytest.mark.parametrize("kind", ["warmup-cosine", "step", "sequence"])
def test_monte_carlo_agrees_for_each_kind_of_schedule(kind):
    # the seeded simulation's normal bands contain the exact prediction at all 25 steps at
    # family-wise level 99.9% (Bonferroni: 1 − 0.001/25 at each step). The simulation draws
    # batches; it shares no code with the step loop of the prediction
    problem = Quadratic.from_data(np.random.default_rng(11).standard_normal((5, 3)))
    method = SGD(2, replacement=True)
    threshold = stability.critical_learning_rate(problem, method)
    rates = {
        "warmup-cosine": warmup_cosine(0.9 * threshold, 25, warmup=5, initial=0.2 * threshold),
        "step": step_decay(0.9 * threshold, 25, every=8, factor=0.5),
        "sequence": np.random.default_rng(4).uniform(0.1, 0.9, 25) * threshold,
    }[kind]
    exact = predicted_schedule_mean_square(problem, method, rates)
    result = simulate_schedule(problem, method, rates, runs=20_000, seed=3)
    lower, upper = result.interval(1 - 1e-3 / rates.size)
    slack = 1e-12 * exact
    assert np.all(lower - slack <= exact) and np.all(exact <= upper + slack)
    assert result.runs == 20_000 and result.seed == 3


def test_simulation_draws_noise_given_only_by_its_covariance():
    # an AdditiveNoise without a sampler: Gaussian draws with Cov ε = C. The bands (family-wise
    # 99.9% over the 30 steps, Bonferroni) contain the exact E‖z_t‖² = tr S_t with
    # S_{t+1} = (I − ηH) S_t (I − ηH) + η² H C H
    hessian = np.diag([2.0, 1.0])
    covariance = np.array([[0.5, 0.2], [0.2, 0.3]])
    dynamics = dataclasses.replace(
        GD().dynamics(), noise=AdditiveNoise(((0,),), ((0, -1),), covariance=covariance)
    )
    rates = warmup_cosine(0.8, 30, warmup=5)
    moment = np.eye(2) / 2
    expected = [np.trace(moment)]
    for lr in rates:
        step = np.eye(2) - lr * hessian
        moment = step @ moment @ step.T + lr**2 * hessian @ covariance @ hessian
        expected.append(np.trace(moment))
    exact = predicted_schedule_mean_square(Quadratic(hessian), dynamics, rates)
    np.testing.assert_allclose(exact, expected, rtol=1e-12)
    result = simulate_schedule(Quadratic(hessian), dynamics, rates, runs=20_000, seed=6)
    lower, upper = result.interval(1 - 1e-3 / rates.size)
    assert np.all(lower <= exact) and np.all(exact <= upper)


def test_steps_above_the_brute_force_threshold():
    # η* by bisection on the brute-force spectral radius (every batch enumerated)
    problem = Quadratic.from_data(np.random.default_rng(7).standard_normal((5, 2)))
    method = SGD(2)
    threshold = brute_force.threshold(np.asarray(problem.per_sample_hessians()), method.dynamics())
    rates = warmup_cosine(1.3 * threshold, 30, warmup=6)
    report = schedule_report(problem, method, rates)
    assert report.critical_learning_rate == pytest.approx(threshold, rel=1e-9)
    clear = np.abs(rates - threshold) > 1e-6 * threshold  # no step within rounding of η*
    np.testing.assert_array_equal(
        np.isin(np.arange(rates.size), report.above)[clear], (rates > threshold)[clear]
    )


def test_one_start_per_row():
    # a 2-D init: S_0 is the mean outer product (prediction), one start per run (simulation)
    problem = Quadratic(np.diag([1.5, 0.5]))
    starts = np.array([[1.0, 0.0], [0.0, 2.0]])
    rates = [0.5, 0.25]
    values = predicted_schedule_mean_square(problem, GD(), rates, init=starts)
    single = [predicted_schedule_mean_square(problem, GD(), rates, init=row) for row in starts]
    np.testing.assert_allclose(values, np.mean(single, axis=0), rtol=1e-14)
    result = simulate_schedule(problem, GD(), rates, runs=2, init=starts)
    np.testing.assert_allclose(result.mean_square, values, rtol=1e-14)
    with pytest.raises(InvalidInputError, match="one start per run"):
        simulate_schedule(problem, GD(), rates, runs=3, init=starts)


def test_preconditioned_schedule_equals_the_prediction_at_each_constant_stretch() -> None:
    # a frozen preconditioner goes straight in: a constant schedule is predicted_mean_square
    # (E‖δ_t‖² in the original coordinates, same default start), and a two-rate schedule is
    # the prediction at the first rate followed by the prediction at the second
    import stability
    from stability import Adam

    problem = Quadratic.from_data(np.random.default_rng(0).standard_normal((6, 3)))
    method = Adam(0.5, preconditioner=[1.0, 2.0, 0.5], batch_size=2)
    lr = 0.5 * stability.critical_learning_rate(problem, method)
    constant = predicted_schedule_mean_square(problem, method, [lr] * 6)
    assert constant == pytest.approx(stability.predicted_mean_square(problem, method, lr, steps=6),
                                     rel=1e-12)
    given = predicted_schedule_mean_square(problem, method, [lr] * 3, init=[1.0, -0.5, 0.3])
    direct = stability.predicted_mean_square(problem, method, lr, steps=3, init=[1.0, -0.5, 0.3])
    assert given == pytest.approx(direct, rel=1e-12)
    assert not np.allclose(given, predicted_schedule_mean_square(
        problem, Adam(0.5, batch_size=2), [lr] * 3, init=[1.0, -0.5, 0.3]))


@pytest.mark.parametrize(
    "method",
    [
        stability.Adam(0.5, preconditioner=[1.0, 2.0, 0.5], batch_size=2, weight_decay=0.05),
        SGD(2, preconditioner=np.array([[2.0, 0.5, 0.0], [0.5, 1.0, 0.0], [0.0, 0.0, 3.0]])),
    ],
    ids=["adam-diagonal-decay", "sgd-dense"],
)
def test_preconditioned_schedule_simulation_matches_the_prediction(method) -> None:
    # the simulation applies P⁻¹ (H_B + μ I) in δ, the prediction works in u = P^{1/2} δ:
    # a z-test at |z| ≤ 5 on 40,000 seeded runs at 4 steps (false alarm below 3e-6 per case)
    problem = Quadratic.from_data(np.random.default_rng(0).standard_normal((6, 3)))
    top = 0.8 * stability.critical_learning_rate(problem, method)
    schedule = warmup_cosine(top, 8, warmup=3)
    predicted = predicted_schedule_mean_square(problem, method, schedule)
    simulated = simulate_schedule(problem, method, schedule, runs=40_000, seed=2)
    assert simulated.mean_square[0] == pytest.approx(predicted[0], rel=1e-12)
    for step in (2, 4, 6, 8):
        assert abs(simulated.mean_square[step] - predicted[step]) <= (
            5 * simulated.standard_error[step]
        ), step
