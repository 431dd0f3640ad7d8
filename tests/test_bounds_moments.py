"""Higher-moment and almost-sure stability (stability.bounds._moments).

Theory: docs/theory/higher-moments.md.
"""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from stability import (
    GD,
    SGD,
    HeavyBall,
    InvalidInputError,
    Quadratic,
    SizeLimitError,
    critical_learning_rate,
)
from stability.bounds import _moments as moments_module
from stability.bounds import (
    almost_sure_threshold,
    infinite_moment_threshold,
    lyapunov_exponent,
    moment_operator,
    moment_spectral_radius,
    moment_threshold,
    moment_threshold_bracket,
)
from stability.testing.strategies import (
    commuting_hessians,
    data_matrices,
    one_dimensional_hessians,
)
from tests import brute_force

PROPERTY = settings(
    max_examples=30, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow]
)


def _brute_radius(problem: Quadratic, method, lr: float, order: int) -> float:
    """ρ of Σ_b π_b A_b^{⊗k} restricted to symmetric tensors, by explicit Kronecker powers."""
    per_sample = np.asarray(problem.per_sample_hessians())
    dynamics = method.dynamics()
    basis = brute_force.range_basis(per_sample)
    reduced = np.einsum("ia,nij,jb->nab", basis, per_sample, basis)
    size = dynamics.blocks * reduced.shape[1]
    total = np.zeros((size**order, size**order))
    for weights, probability in brute_force.batch_distribution(
        len(reduced), dynamics.batch.batch_size, dynamics.batch.replacement
    ):
        state = dynamics.state_map(lr, np.tensordot(weights, reduced, axes=1))
        power = state
        for _ in range(order - 1):
            power = np.kron(power, state)
        total += probability * power
    projector = np.zeros_like(total)
    permutations = list(itertools.permutations(range(order)))
    for permutation in permutations:
        index = np.arange(size**order).reshape((size,) * order).transpose(permutation).ravel()
        projector[np.arange(size**order), index] += 1.0 / len(permutations)
    return float(np.max(np.abs(np.linalg.eigvals(projector @ total @ projector))))


@st.composite
def small_cases(draw, momentum: bool = False):
    data = draw(data_matrices(min_samples=2, max_samples=3, max_dimension=2))
    problem = Quadratic.from_data(data)
    replacement = draw(st.booleans())
    batch = draw(st.integers(1, problem.samples))
    if momentum and draw(st.booleans()):
        return problem, HeavyBall(draw(st.floats(0.0, 0.8)), batch_size=batch)
    return problem, SGD(batch, replacement=replacement)


@PROPERTY
@given(small_cases(momentum=True), st.floats(0.2, 1.1))
def test_fourth_moment_radius_matches_brute_force(case, fraction):
    problem, method = case
    lr = fraction * critical_learning_rate(problem, method)
    assert moment_spectral_radius(problem, method, lr, 4) == pytest.approx(
        _brute_radius(problem, method, lr, 4), rel=1e-8
    )


@PROPERTY
@given(small_cases(momentum=True))
def test_fourth_moment_threshold_is_where_the_radius_crosses_one(case):
    problem, method = case
    threshold = moment_threshold(problem, method, 4)
    assert threshold <= critical_learning_rate(problem, method) * (1 + 1e-9)
    assert _brute_radius(problem, method, threshold * (1 - 1e-4), 4) < 1
    assert _brute_radius(problem, method, threshold * (1 + 1e-4), 4) > 1


@PROPERTY
@given(small_cases())
def test_second_moment_is_the_mean_square_threshold(case):
    problem, method = case
    assert moment_threshold(problem, method, 2) == pytest.approx(
        critical_learning_rate(problem, method), rel=1e-12
    )


@PROPERTY
@given(one_dimensional_hessians(min_samples=1, max_samples=4), st.booleans())
def test_one_dimensional_moment_thresholds(stack, replacement):
    problem = Quadratic.from_hessians(stack)
    method = SGD(1, replacement=replacement)
    curvatures = stack[:, 0, 0]
    values = [moment_threshold(problem, method, k) for k in range(1, 9)]
    for order, value in enumerate(values, start=1):
        # E|1 − η h_B|^k = 1 at η*_k (B = 1: h_B is a uniform sample)
        moment = np.mean(np.abs(1 - value * curvatures) ** order)
        assert moment == pytest.approx(1.0, rel=1e-9)
        assert moment_spectral_radius(problem, method, 0.99 * value, order) < 1
    assert all(a >= b * (1 - 1e-12) for a, b in itertools.pairwise(values))
    limit = infinite_moment_threshold(problem, method)
    assert limit == pytest.approx(2 / curvatures.max())
    assert all(value >= limit * (1 - 1e-12) for value in values)
    assert moment_threshold(problem, method, 400) == pytest.approx(limit, rel=0.02)


@PROPERTY
@given(commuting_hessians(min_samples=2, max_samples=3, max_dimension=3), st.booleans())
def test_commuting_fourth_moment_is_the_smallest_direction(stack, replacement):
    problem = Quadratic.from_hessians(stack)
    method = SGD(1, replacement=replacement)
    combination = np.tensordot(np.linspace(1.0, 2.0, len(stack)), stack, axes=1)
    _, vectors = np.linalg.eigh(combination)
    values = []
    for vector in vectors.T:
        curvatures = np.einsum("i,nij,j->n", vector, stack, vector)
        if curvatures.max() > 1e-9 * np.abs(stack).max():
            values.append(
                moment_threshold(Quadratic.from_hessians(curvatures[:, None, None]), method, 4)
            )
    assert moment_threshold(problem, method, 4) == pytest.approx(min(values), rel=1e-8)


def test_signed_odd_moment_is_not_the_threshold():
    # h ∈ {0, 2}: the signed E(1 − ηh)³ stays above −1 up to (1 + 3^{1/3})/2 ≈ 1.22, while the
    # absolute third moment, like the second, is bounded only up to η = 1.
    problem = Quadratic.from_hessians([[[0.0]], [[2.0]]])
    eta = (1 + 3 ** (1 / 3)) / 2
    assert 0.5 * (1 + (1 - 2 * eta) ** 3) == pytest.approx(-1.0)
    assert moment_threshold(problem, SGD(1), 3) == pytest.approx(1.0, rel=1e-12)
    assert moment_threshold(problem, SGD(1), 2) == pytest.approx(1.0, rel=1e-12)


def test_odd_order_on_a_two_dimensional_state_is_refused_and_bracketed():
    problem = Quadratic.from_hessians([np.diag([1.0, 2.0]), np.diag([3.0, 2.0])])
    with pytest.raises(InvalidInputError, match="order must be even"):
        moment_threshold(problem, SGD(1), 3)
    low, high = moment_threshold_bracket(problem, SGD(1), 3)
    assert low == pytest.approx(moment_threshold(problem, SGD(1), 4))
    assert high == pytest.approx(moment_threshold(problem, SGD(1), 2))
    low, high = moment_threshold_bracket(problem, SGD(1), 1)
    assert low == pytest.approx(critical_learning_rate(problem, SGD(1)))
    assert high == pytest.approx(critical_learning_rate(Quadratic(problem.hessian), GD()))
    exact = moment_threshold_bracket(Quadratic.from_hessians([[[1.0]], [[3.0]]]), SGD(1), 3)
    assert exact[0] == exact[1]


def test_matrix_free_route_agrees_with_the_dense_pencil():
    problem = Quadratic.from_data(np.random.default_rng(3).standard_normal((3, 2)))
    setting = moments_module._setting(problem, SGD(1))
    dense = moment_threshold(problem, SGD(1), 4)
    assert moments_module._matrix_free_threshold(setting, 4) == pytest.approx(dense, rel=1e-10)


def test_moment_operator_shape_and_action():
    operator = moment_operator(Quadratic(np.diag([1.0, 0.5])), GD(), 0.5, 4)
    assert operator.shape == (5, 5)
    # GD is diagonal on monomials: e_1^{⊗4} ↦ (1 − 0.5)^4
    image = operator.matvec(np.eye(5)[0])
    assert image[0] == pytest.approx(0.0625)
    assert np.allclose(image[1:], 0)
    dense = operator.matmat(np.eye(5))
    assert np.allclose(dense, np.diag(np.diag(dense)))


def test_moment_arguments_are_checked():
    problem = Quadratic.from_hessians([[[1.0]], [[3.0]]])
    with pytest.raises(InvalidInputError, match="order"):
        moment_threshold(problem, SGD(1), 0)
    with pytest.raises(InvalidInputError, match="infinite_moment_threshold"):
        moment_threshold(problem, SGD(1), math.inf)
    with pytest.raises(InvalidInputError, match="plain gradient step"):
        infinite_moment_threshold(problem, HeavyBall(0.5))
    many = Quadratic.from_data(np.random.default_rng(0).standard_normal((40, 2)))
    with pytest.raises(SizeLimitError, match="batches"):
        moment_threshold(many, SGD(8), 4)


# ----------------------------------------------------------------------------- almost sure
def test_exact_almost_sure_threshold_closed_form():
    problem = Quadratic.from_hessians([[[1.0]], [[3.0]]])
    assert almost_sure_threshold(problem, SGD(1)) == pytest.approx(4 / 3, rel=1e-12)
    estimate = lyapunov_exponent(problem, SGD(1), 0.9)
    assert estimate.exact and estimate.stable
    assert estimate.exponent == pytest.approx(0.5 * (math.log(0.1) + math.log(1.7)))


def test_almost_sure_stable_set_is_not_an_interval():
    problem = Quadratic.from_hessians([[[1.0]], [[10.0]]])
    threshold = almost_sure_threshold(problem, SGD(1))
    # |1 − η||1 − 10η| = 1 on (0.1, 1) at the left root of 10η² − 11η = 0 shifted: solve exactly
    roots = np.roots([10.0, -11.0, 2.0])  # (1 − η)(10η − 1) = 1
    assert threshold == pytest.approx(roots.min(), rel=1e-12)
    assert lyapunov_exponent(problem, SGD(1), 0.25).exponent > 0
    assert lyapunov_exponent(problem, SGD(1), 1.05).exponent < 0
    assert lyapunov_exponent(problem, SGD(1), 1.0).exponent == -math.inf


@PROPERTY
@given(one_dimensional_hessians(min_samples=1, max_samples=4), st.booleans())
def test_almost_sure_threshold_dominates_moment_thresholds(stack, replacement):
    problem = Quadratic.from_hessians(stack)
    method = SGD(1, replacement=replacement)
    threshold = almost_sure_threshold(problem, method)
    for order in (1, 2, 4):
        assert threshold >= moment_threshold(problem, method, order) * (1 - 1e-12)
    assert lyapunov_exponent(problem, method, threshold * (1 - 1e-7)).exponent < 0
    assert lyapunov_exponent(problem, method, threshold * (1 + 1e-7)).exponent >= 0


@settings(max_examples=15, deadline=None, derandomize=True)
@given(st.integers(0, 2**32 - 1), st.floats(0.2, 1.5))
def test_simulated_exponent_covers_the_exact_diagonal_value(seed, lr):
    """Diagonal H_i: γ = max_k E log|1 − η h_{B,k}|.

    With a gap of at least 0.05 between the two directions and 400 burn-in steps the state is
    carried by the top direction up to a factor exp(−20), so the per-step log growth is i.i.d.
    and the 1 − 1e-6 Student-t interval over 16 runs has its nominal coverage: across the 15
    examples the false-failure probability is below 2e-5.
    """
    from hypothesis import assume

    curvatures = np.random.default_rng(seed).uniform(0.2, 2.0, size=(3, 2))
    problem = Quadratic.from_hessians([np.diag(row) for row in curvatures])
    exponents = [np.mean(np.log(np.abs(1 - lr * curvatures[:, k]))) for k in range(2)]
    assume(abs(exponents[0] - exponents[1]) > 0.05)
    estimate = lyapunov_exponent(
        problem,
        SGD(1, replacement=True),
        lr,
        steps=1000,
        runs=16,
        burn_in=400,
        confidence=1 - 1e-6,
        seed=seed,
    )
    assert not estimate.exact
    assert estimate.lower <= max(exponents) <= estimate.upper


def test_lyapunov_full_batch_and_momentum():
    problem = Quadratic(np.diag([1.0, 3.0]))
    estimate = lyapunov_exponent(problem, GD(), 0.5, steps=300, runs=4, burn_in=100)
    assert estimate.exponent == pytest.approx(math.log(0.5), abs=1e-6)
    beta = 0.5
    radius = max(np.abs(np.roots([1.0, -(1 + beta - 0.5 * lam), beta])).max() for lam in (1.0, 3.0))
    momentum = lyapunov_exponent(problem, HeavyBall(beta), 0.5, steps=2000, runs=4, burn_in=200)
    assert momentum.exponent == pytest.approx(math.log(radius), abs=5e-3)


def test_lyapunov_arguments_are_checked():
    problem = Quadratic.from_hessians([[[1.0]], [[3.0]]])
    with pytest.raises(InvalidInputError, match="runs"):
        lyapunov_exponent(problem, SGD(1), 0.5, runs=1)
    with pytest.raises(InvalidInputError, match="confidence"):
        lyapunov_exponent(problem, SGD(1), 0.5, confidence=1.5)
    with pytest.raises(InvalidInputError, match="burn_in"):
        lyapunov_exponent(problem, SGD(1), 0.5, burn_in=-1)
    with pytest.raises(InvalidInputError, match="one-dimensional"):
        almost_sure_threshold(Quadratic.from_data(np.eye(2)), SGD(1))


@PROPERTY
@given(small_cases())
def test_infinite_moment_threshold_is_a_lower_bound(case):
    from stability.testing import assert_bound_holds

    problem, method = case
    assert infinite_moment_threshold.side == "lower"
    value = assert_bound_holds(infinite_moment_threshold, problem, method)
    assert value <= moment_threshold(problem, method, 4) * (1 + 1e-9)
