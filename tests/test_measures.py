"""What people measure (stability.measures) against independent computations."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import stability
from stability import GD, SGD, HeavyBall, Quadratic
from stability.errors import DimensionError, InvalidInputError
from stability.measures import (
    batch_sharpness,
    escape_steps,
    non_uniformity,
    non_uniformity_report,
)
from stability.testing.strategies import data_matrices, per_sample_hessians
from tests import brute_force

PROPERTY = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@st.composite
def sample_problems(draw):
    if draw(st.booleans()):
        return Quadratic.from_data(draw(data_matrices(min_samples=2, max_samples=5)))
    return Quadratic.from_hessians(draw(per_sample_hessians(min_samples=2, max_samples=4)))


# ---------------------------------------------------------------- non-uniformity
@PROPERTY
@given(sample_problems())
def test_non_uniformity_matches_the_full_space_definition(problem):
    stack = np.asarray(problem.per_sample_hessians())
    deviations = stack - stack.mean(axis=0)
    spread = sum(deviation @ deviation for deviation in deviations) / len(stack)
    expected = math.sqrt(max(np.linalg.eigvalsh(spread)[-1], 0.0))
    assert non_uniformity(problem) == pytest.approx(
        expected, rel=1e-9, abs=1e-7 * problem.sharpness
    )


@given(
    st.lists(st.floats(0.0, 4.0), min_size=2, max_size=6).filter(lambda h: sum(h) > 0.1),
    st.integers(1, 4),
)
@settings(max_examples=40, deadline=None)
def test_one_dimensional_threshold_in_terms_of_sharpness_and_non_uniformity(curvatures, batch):
    # 1-D: T(η) = (1 − η a)² + η² p s², so η* = 2a / (a² + p s²) and η* s √p < 1
    problem = Quadratic.from_hessians(np.array(curvatures)[:, None, None])
    method = SGD(batch, replacement=True)
    lr = 0.5
    report = non_uniformity_report(problem, method, lr)
    a, s, p = report.sharpness, report.non_uniformity, report.mixing
    assert s == pytest.approx(np.std(curvatures), rel=1e-9, abs=1e-12)
    assert report.critical_learning_rate == pytest.approx(2 * a / (a**2 + p * s**2), rel=1e-10)
    assert report.critical_learning_rate * s * math.sqrt(p) < 1 + 1e-12
    assert report.non_uniformity_limit == pytest.approx(1 / (lr * math.sqrt(p)))
    assert report.stable == (lr < report.critical_learning_rate)


def test_non_uniformity_condition_is_not_necessary_beyond_one_dimension():
    # a documented fact: in 2-D the exact threshold can exceed 1/(s √p)
    rng = np.random.default_rng(0)
    worst = 0.0
    for _ in range(300):
        n, d = int(rng.integers(2, 10)), int(rng.integers(1, 6))
        problem = Quadratic.from_data(rng.standard_normal((n, d)) * rng.uniform(0.2, 3, d))
        method = SGD(int(rng.integers(1, n + 1)), replacement=bool(rng.integers(2)))
        report = non_uniformity_report(problem, method, 1.0)
        if report.mixing and report.non_uniformity:
            worst = max(
                worst,
                report.critical_learning_rate * report.non_uniformity * math.sqrt(report.mixing),
            )
    assert worst > 1.0


def test_non_uniformity_needs_samples():
    with pytest.raises(InvalidInputError, match="per-sample"):
        non_uniformity(Quadratic(np.eye(2)))


# ---------------------------------------------------------------- batch sharpness
def _brute_batch_sharpness(problem, batch_size, replacement, point):
    stack = np.asarray(problem.per_sample_hessians())
    total = weight = 0.0
    for weights, probability in brute_force.batch_distribution(
        problem.samples, batch_size, replacement
    ):
        hessian = np.tensordot(weights, stack, axes=1)
        gradient = hessian @ point
        norm = gradient @ gradient
        if norm > 1e-20 * max(1.0, problem.sharpness**2 * (point @ point)):
            total += probability * (gradient @ hessian @ gradient) / norm
            weight += probability
    return total / weight


@PROPERTY
@given(sample_problems(), st.booleans(), st.integers(0, 2**32 - 1), st.data())
def test_batch_sharpness_equals_enumeration(problem, replacement, seed, data):
    batch = data.draw(st.integers(1, problem.samples))
    point = np.random.default_rng(seed).standard_normal(problem.dimension)
    result = batch_sharpness(problem, SGD(batch, replacement=replacement), point, lr=0.1)
    expected = _brute_batch_sharpness(problem, batch, replacement, point)
    assert result.exact
    assert result.value == pytest.approx(expected, rel=1e-9)
    assert result.edge == pytest.approx(20.0)
    # a Rayleigh quotient of H_B, an average of the H_i: at most max_i λ_max(H_i)
    top = np.linalg.eigvalsh(np.asarray(problem.per_sample_hessians()))[:, -1].max()
    assert -1e-12 <= result.value <= top * (1 + 1e-9)


def test_batch_sharpness_monte_carlo_agrees_with_exact():
    # the exact value lies in the 99.9% interval of the seeded Monte Carlo estimate
    rng = np.random.default_rng(5)
    problem = Quadratic.from_data(rng.standard_normal((9, 4)))
    point = rng.standard_normal(4)
    for method in (SGD(3), SGD(2, replacement=True)):
        exact = batch_sharpness(problem, method, point)
        estimate = batch_sharpness(problem, method, point, runs=40_000, seed=2, confidence=0.999)
        assert not estimate.exact
        assert estimate.lower <= exact.value <= estimate.upper
        assert estimate.upper - estimate.lower < 0.05 * exact.value


def test_batch_sharpness_full_batch_is_rayleigh_quotient_of_h():
    rng = np.random.default_rng(1)
    problem = Quadratic.from_data(rng.standard_normal((6, 3)))
    point = rng.standard_normal(3)
    gradient = problem.hessian @ point
    expected = gradient @ problem.hessian @ gradient / (gradient @ gradient)
    assert batch_sharpness(problem, GD(), point).value == pytest.approx(expected, rel=1e-12)


def test_batch_sharpness_averages_points_and_reports_zero_gradients():
    problem = Quadratic.from_data(np.eye(3))  # orthogonal samples
    result = batch_sharpness(problem, SGD(1), [1.0, 0.0, 0.0])
    # only sample 1 moves δ = e₁: value 1, the other two batches have g_B = 0
    assert result.value == pytest.approx(1.0)
    assert result.zero_gradient_probability == pytest.approx(2 / 3)
    both = batch_sharpness(problem, SGD(1), [[1.0, 0.0, 0.0], [1.0, 1.0, 0.0]])
    assert both.value == pytest.approx(1.0)


def test_batch_sharpness_bad_input():
    problem = Quadratic.from_data(np.eye(3))
    with pytest.raises(DimensionError, match="point"):
        batch_sharpness(problem, SGD(1), [1.0, 0.0])
    with pytest.raises(InvalidInputError, match="g_B = 0"):
        batch_sharpness(problem, SGD(1), [0.0, 0.0, 0.0])
    with pytest.raises(InvalidInputError, match="confidence"):
        batch_sharpness(problem, SGD(1), [1.0, 0.0, 0.0], confidence=1.5)


# ---------------------------------------------------------------- steps to escape
def test_escape_in_one_dimension_is_exactly_log_growth_over_log_rho():
    # 1-D: E δ_t² = ρ^t δ_0² exactly, so the first crossing is ⌈log G / log ρ⌉
    problem = Quadratic.from_hessians(np.array([[[1.0]], [[2.0]], [[4.0]]]))
    method = SGD(1, replacement=True)
    lr = 1.1 * stability.critical_learning_rate(problem, method)
    estimate = escape_steps(problem, method, lr, growth=1e4)
    assert estimate.radius > 1
    assert estimate.predicted == math.ceil(estimate.asymptotic)


def test_escape_rate_is_the_spectral_radius_in_higher_dimensions():
    rng = np.random.default_rng(2)
    problem = Quadratic.from_data(rng.standard_normal((6, 3)))
    method = HeavyBall(0.5, 2)
    lr = 1.05 * stability.critical_learning_rate(problem, method)
    estimate = escape_steps(problem, method, lr, growth=1e3)
    values = stability.predicted_mean_square(problem, method, lr, steps=4000)
    slope = math.log(values[-1] / values[-1001]) / 1000
    assert slope == pytest.approx(math.log(estimate.radius), rel=1e-6)
    # the exact crossing is off by the start's constant only: |Δt| log ρ ≤ |log c|
    constant = values[-1] / values[0] / estimate.radius**4000
    assert (
        abs(estimate.predicted - estimate.asymptotic)
        <= abs(math.log(constant)) / math.log(estimate.radius) + 1
    )


@pytest.mark.parametrize("method", [SGD(80), HeavyBall(0.5, 80)])
def test_escape_matches_simulated_mean_square(method):
    # low-noise regime (B = 80 of n = 100, so p ≈ 0.0025): the simulated mean square is
    # within 3.3 standard errors (99.9%) of the prediction at the predicted escape step and
    # crosses G times its start within one step of it. (With heavy-tailed noise the sample
    # mean is dominated by rare runs and converges far more slowly; docs/theory/measures.md.)
    rng = np.random.default_rng(3)
    problem = Quadratic.from_data(rng.standard_normal((100, 3)) * np.array([2.0, 1.0, 0.5]))
    lr = 1.05 * stability.critical_learning_rate(problem, method)
    estimate = escape_steps(problem, method, lr, growth=100.0)
    steps = estimate.predicted + 5
    result = stability.simulate(problem, method, lr, steps=steps, runs=5000, seed=1)
    predicted = stability.predicted_mean_square(problem, method, lr, steps=steps)
    t = estimate.predicted
    assert abs(result.mean_square[t] - predicted[t]) <= 3.3 * result.standard_error[t]
    crossing = int(np.flatnonzero(result.mean_square >= 100 * result.mean_square[0])[0])
    assert abs(crossing - estimate.predicted) <= 1


def test_escape_stable_and_bad_input():
    problem = Quadratic(np.diag([2.0, 1.0]))
    stable = escape_steps(problem, GD(), 0.5)
    assert stable.asymptotic == math.inf and stable.predicted is None
    with pytest.raises(InvalidInputError, match="growth"):
        escape_steps(problem, GD(), 1.5, growth=0.5)


@pytest.mark.parametrize(
    ("samples", "batch", "replacement"),
    [(4, 2, False), (4, 3, True), (3, None, False), (5, 1, True)],
)
def test_batch_law_outcomes_match_brute_force(samples, batch, replacement):
    law = stability.BatchLaw(batch, replacement)
    weights, probabilities = law.outcomes(samples)
    assert law.count(samples) == len(weights)
    ours = sorted((tuple(np.round(w, 12)), p) for w, p in zip(weights, probabilities, strict=True))
    theirs: dict[tuple, float] = {}
    for w, p in brute_force.batch_distribution(samples, batch, replacement):
        key = tuple(np.round(w, 12))
        theirs[key] = theirs.get(key, 0.0) + p
    assert [key for key, _ in ours] == sorted(theirs)
    for key, p in ours:
        assert p == pytest.approx(theirs[key], rel=1e-12)


@PROPERTY
@given(sample_problems(), st.booleans(), st.data())
def test_non_uniformity_is_the_spread_of_the_batch_hessian(problem, replacement, data):
    # by enumeration of every batch: E[(H_B − H)²] = p Σ, so its top eigenvalue is p s²
    batch = data.draw(st.integers(1, problem.samples))
    stack = np.asarray(problem.per_sample_hessians())
    mean = stack.mean(axis=0)
    spread = 0.0
    for weights, probability in brute_force.batch_distribution(problem.samples, batch, replacement):
        deviation = np.tensordot(weights, stack, axes=1) - mean
        spread = spread + probability * deviation @ deviation
    p = brute_force.mixing_weight(problem.samples, batch, replacement)
    report = non_uniformity_report(problem, SGD(batch, replacement=replacement), 0.1)
    assert report.mixing == pytest.approx(p, rel=1e-12)
    top = max(np.linalg.eigvalsh(spread)[-1], 0.0)
    scale = problem.sharpness**2
    assert p * report.non_uniformity**2 == pytest.approx(top, rel=1e-8, abs=1e-10 * scale)


def test_batch_sharpness_monte_carlo_over_points_with_different_zero_gradient_mass():
    # H_i = c_i² e_i e_iᵀ, SGD(1): at e₁ only batch 1 moves (quotient 1); at e₂ + e₃ batches
    # 2 and 3 move (quotients 4, 9). Equal weights over the points: (1 + 6.5)/2 = 3.75, not the
    # pooled mean over moving draws (1 + 4 + 9)/3. The seeded 99.9% interval contains 3.75.
    problem = Quadratic.from_data(np.diag([1.0, 2.0, 3.0]))
    points = [[1.0, 0.0, 0.0], [0.0, 1.0, 1.0]]
    exact = batch_sharpness(problem, SGD(1), points)
    assert exact.exact and exact.value == pytest.approx(3.75, rel=1e-12)
    assert exact.zero_gradient_probability == pytest.approx(0.5, rel=1e-12)
    estimate = batch_sharpness(problem, SGD(1), points, runs=20_000, seed=0, confidence=0.999)
    assert estimate.lower <= 3.75 <= estimate.upper
    assert estimate.zero_gradient_probability == pytest.approx(0.5, abs=0.02)


def test_batch_sharpness_monte_carlo_over_many_points_agrees_with_enumeration():
    # final states of a simulation as the points; the delta-method interval (99.9%) of the
    # seeded estimate contains the exact enumerated value, for each batch law
    rng = np.random.default_rng(12)
    problem = Quadratic.from_data(rng.standard_normal((8, 3)) * np.array([2.0, 1.0, 0.3]))
    points = rng.standard_normal((6, 3)) * np.array([1.0, 0.0, 1.0])
    for method in (SGD(2), SGD(3, replacement=True)):
        exact = batch_sharpness(problem, method, points)
        estimate = batch_sharpness(problem, method, points, runs=30_000, seed=4, confidence=0.999)
        assert estimate.lower <= exact.value <= estimate.upper
        assert estimate.upper - estimate.lower < 0.05 * exact.value
