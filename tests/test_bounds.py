"""stability.bounds (GD, SGD, momentum, variational GD) against the exact threshold.

Every bound is checked on random instances on the side it claims (``side`` attribute) against
:func:`stability.critical_learning_rate`, and at the instances where it is tight.
"""

from __future__ import annotations

import itertools
import math
from fractions import Fraction

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from stability import (
    GD,
    SGD,
    BatchLaw,
    HeavyBall,
    InvalidInputError,
    InvalidTypeError,
    LinearDynamics,
    MatrixPolynomial,
    Nesterov,
    Quadratic,
    StabilityError,
    VariationalGD,
    bounds,
    critical_learning_rate,
    spectral_radius,
    variational_edge,
)
from stability.numeric import reduced_operator
from stability.testing.strategies import (
    commuting_hessians,
    data_matrices,
    gradient_methods,
    one_dimensional_hessians,
    per_sample_hessians,
    psd_matrices,
)

PROPERTY = settings(
    max_examples=50,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow],
)
RTOL = 1e-9

GRADIENT_BOUNDS = [
    bounds.gradient_descent_edge,
    bounds.mulayoff_michaeli_threshold,
    bounds.commuting_threshold,
    bounds.rank_one_test_bound,
    bounds.identity_test_bound,
    bounds.trace_bound,
    bounds.frobenius_bound,
    bounds.wu_ma_e_sufficient_threshold,
]


@st.composite
def problems_with_samples(draw, max_samples: int = 5, max_dimension: int = 4):
    if draw(st.booleans()):
        data = draw(
            data_matrices(min_samples=1, max_samples=max_samples, max_dimension=max_dimension)
        )
        return Quadratic.from_data(data)
    stack = draw(per_sample_hessians(max_samples=max_samples, max_dimension=max_dimension))
    return Quadratic.from_hessians(stack)


@st.composite
def gradient_cases(draw):
    problem = draw(problems_with_samples())
    return problem, draw(gradient_methods(problem.samples))


def _on_its_side(bound, problem, method) -> None:
    exact = critical_learning_rate(problem, method)
    value = bound(problem, method)
    if bound.side == "upper":
        assert exact <= value * (1 + RTOL), (bound.__name__, exact, value)
    elif bound.side == "lower":
        assert value <= exact * (1 + RTOL), (bound.__name__, exact, value)
    else:
        assert value == pytest.approx(exact, rel=RTOL), (bound.__name__, exact, value)


@PROPERTY
@given(gradient_cases())
@pytest.mark.parametrize(
    "bound",
    [b for b in GRADIENT_BOUNDS if b is not bounds.commuting_threshold],
    ids=lambda b: b.__name__,
)
def test_gradient_bound_on_its_side(bound, case):
    _on_its_side(bound, *case)


@PROPERTY
@given(commuting_hessians(min_samples=2), st.data())
def test_commuting_bounds_tight(stack, data):
    problem = Quadratic.from_hessians(stack)
    method = data.draw(gradient_methods(problem.samples))
    exact = critical_learning_rate(problem, method)
    assert bounds.commuting_threshold(problem, method) == pytest.approx(exact, rel=RTOL)
    assert bounds.wu_ma_e_sufficient_threshold(problem, method) == pytest.approx(exact, rel=RTOL)
    assert bounds.rank_one_test_bound(problem, method) >= exact * (1 - RTOL)


@PROPERTY
@given(one_dimensional_hessians(min_samples=1), st.data())
def test_one_dimensional_bounds_tight(stack, data):
    problem = Quadratic.from_hessians(stack)
    method = data.draw(gradient_methods(problem.samples))
    exact = critical_learning_rate(problem, method)
    for bound in (
        bounds.wu_ma_e_threshold,
        bounds.rank_one_test_bound,
        bounds.identity_test_bound,
        bounds.wu_ma_e_sufficient_threshold,
        bounds.mulayoff_michaeli_threshold,
    ):
        assert bound(problem, method) == pytest.approx(exact, rel=RTOL), bound.__name__


def test_wu_ma_e_closed_form():
    # h = (1, 3): a = 2, s² = 1; B = 1 with replacement p = 1: 2·2/(4 + 1)
    problem = Quadratic.from_hessians([[[1.0]], [[3.0]]])
    assert bounds.wu_ma_e_threshold(problem, SGD(1, replacement=True)) == pytest.approx(0.8)
    assert bounds.wu_ma_e_threshold(problem, GD()) == pytest.approx(1.0)
    with pytest.raises(InvalidInputError, match="rank"):
        bounds.wu_ma_e_threshold(Quadratic.from_data(np.eye(2)), SGD(1))


@pytest.mark.parametrize("dimension", [1, 2, 3, 5])
def test_identity_and_trace_tight_for_orthonormal_samples(dimension):
    problem = Quadratic.from_data(np.eye(dimension))
    method = SGD(1, replacement=True)
    assert critical_learning_rate(problem, method) == pytest.approx(2.0)
    assert bounds.identity_test_bound(problem, method) == pytest.approx(2.0)
    assert bounds.trace_bound(problem, method) == pytest.approx(2.0)
    assert bounds.frobenius_bound(problem, method) == pytest.approx(2.0 * math.sqrt(dimension))


def test_frobenius_tight_for_equal_one_dimensional_samples():
    problem = Quadratic.from_data([[2.0], [-2.0], [2.0]])
    method = SGD(1, replacement=True)
    assert bounds.frobenius_bound(problem, method) == pytest.approx(
        critical_learning_rate(problem, method), rel=1e-12
    )


def test_trace_bound_uses_the_largest_sample_rank():
    # rank-two samples: the Cauchy–Schwarz step ‖H_i‖_F² ≥ (tr H_i)²/2 is tight for H_i = I
    problem = Quadratic.from_hessians([np.eye(2), np.eye(2)])
    method = SGD(1, replacement=True)
    assert bounds.trace_bound(problem, method) == pytest.approx(2.0 * 2 / (1.0 * 2.0))
    assert critical_learning_rate(problem, method) <= bounds.trace_bound(problem, method)


def test_gradient_descent_edge_exact_for_gd_and_weight_decay():
    hessian = np.diag([4.0, 1.0])
    assert bounds.gradient_descent_edge(Quadratic(hessian)) == 0.5
    decay = 0.5
    shifted = critical_learning_rate(Quadratic(hessian + decay * np.eye(2)), GD())
    assert bounds.gradient_descent_edge(Quadratic(hessian), weight_decay=decay) == pytest.approx(
        shifted
    )
    with pytest.raises(InvalidInputError, match="weight_decay"):
        bounds.gradient_descent_edge(Quadratic(hessian), weight_decay=-1.0)


def test_sgd_with_identical_samples_reaches_the_gd_edge():
    row = np.array([[1.0, 2.0]])
    problem = Quadratic.from_data(np.repeat(row, 4, axis=0))
    assert critical_learning_rate(problem, SGD(1)) == pytest.approx(
        bounds.gradient_descent_edge(problem), rel=1e-12
    )


def test_rank_one_direction_argument():
    problem = Quadratic.from_hessians([np.diag([1.0, 2.0]), np.diag([3.0, 2.0])])
    method = SGD(1, replacement=True)
    assert bounds.rank_one_test_bound(problem, method, [0.0, 5.0]) == pytest.approx(1.0)
    assert bounds.rank_one_test_bound(problem, method, [1.0, 0.0]) == pytest.approx(0.8)
    with pytest.raises(InvalidInputError, match="direction"):
        bounds.rank_one_test_bound(problem, method, [0.0, 0.0])
    with pytest.raises(StabilityError, match="direction"):
        bounds.rank_one_test_bound(problem, method, [1.0, 0.0, 0.0])


@PROPERTY
@given(gradient_cases(), st.data())
def test_rayleigh_quotient_bound_any_test_matrix(case, data):
    problem, method = case
    seed = data.draw(st.integers(0, 2**32 - 1))
    factor = np.random.default_rng(seed).standard_normal((problem.dimension, problem.dimension))
    value = bounds.rayleigh_quotient_bound(problem, method, factor + factor.T)
    assert critical_learning_rate(problem, method) <= value * (1 + RTOL)


def test_rayleigh_quotient_bound_at_the_top_eigenvector_is_exact():
    problem = Quadratic.from_data([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]])
    method = SGD(1)
    exact = critical_learning_rate(problem, method)
    operator = reduced_operator(problem, method)
    curvature = operator.curvature
    scaled = operator.noise_curvature / np.sqrt(np.outer(curvature, curvature))
    _, vectors = np.linalg.eigh(scaled)
    svec = vectors[:, -1] / np.sqrt(curvature)
    rows, cols = np.triu_indices(problem.reduced().rank)
    test = np.zeros((problem.reduced().rank,) * 2)
    test[rows, cols] = np.where(rows == cols, svec, svec / np.sqrt(2))
    test = test + np.triu(test, 1).T
    basis = problem.reduced().basis
    value = bounds.rayleigh_quotient_bound(problem, method, basis @ test @ basis.T)
    assert value == pytest.approx(exact, rel=1e-10)


@PROPERTY
@given(gradient_cases())
def test_wu_ma_e_sufficient_condition_certifies_stability(case):
    problem, method = case
    threshold = bounds.wu_ma_e_sufficient_threshold(problem, method)
    if math.isinf(threshold):
        return
    assert bounds.wu_ma_e_sufficient_condition(problem, method, 0.999 * threshold)
    assert not bounds.wu_ma_e_sufficient_condition(problem, method, 1.001 * threshold)
    assert spectral_radius(problem, method, 0.999 * threshold) < 1


@PROPERTY
@given(gradient_cases())
def test_mulayoff_michaeli_radius_crosses_one(case):
    problem, method = case
    threshold = bounds.mulayoff_michaeli_threshold(problem, method)
    if math.isinf(threshold):
        return
    assert spectral_radius(problem, method, 0.999 * threshold) < 1
    assert spectral_radius(problem, method, 1.001 * threshold) > 1


def test_mixing_weight_and_equivalent_batch_sizes():
    assert bounds.mixing_weight(6, 3) == Fraction(1, 5)
    assert bounds.mixing_weight(6, 5, replacement=True) == Fraction(1, 5)
    assert bounds.mixing_weight(6, None) == 0
    assert bounds.equivalent_batch_size(6, 3) == 5
    assert bounds.equivalent_batch_size(6, 5, replacement=True) == 3
    with pytest.raises(InvalidInputError, match="full"):
        bounds.equivalent_batch_size(6, 6)
    with pytest.raises(InvalidTypeError, match="samples"):
        bounds.mixing_weight(2.5, 1)


@PROPERTY
@given(data_matrices(min_samples=2, max_samples=6, max_dimension=3))
def test_threshold_monotone_in_batch_size(data):
    problem = Quadratic.from_data(data)
    values = [bounds.mulayoff_michaeli_threshold(problem, SGD(b)) for b in range(1, len(data) + 1)]
    assert all(a <= b * (1 + RTOL) for a, b in itertools.pairwise(values))
    assert values[-1] == pytest.approx(bounds.gradient_descent_edge(problem), rel=RTOL)


def test_bounds_refuse_momentum_and_bad_types():
    problem = Quadratic.from_data(np.eye(2))
    with pytest.raises(InvalidInputError, match="plain gradient step"):
        bounds.identity_test_bound(problem, HeavyBall(0.5))
    with pytest.raises(InvalidTypeError, match="problem"):
        bounds.trace_bound(np.eye(2), SGD(1))
    with pytest.raises(InvalidTypeError, match="method"):
        bounds.trace_bound(problem, "sgd")
    with pytest.raises(InvalidInputError, match="batch_size"):
        bounds.trace_bound(problem, SGD(5))


def test_sides_and_citations():
    for function in (*GRADIENT_BOUNDS, bounds.heavy_ball_edge, bounds.nesterov_edge):
        assert function.side in ("upper", "lower", "exact")
        # a source: a paper of this century, or the theory page that derives it
        assert any(mark in function.citation for mark in ("20", "§", "docs/theory/"))


# ----------------------------------------------------------------------------- momentum
@PROPERTY
@given(psd_matrices(max_dimension=4), st.floats(0.0, 0.95))
def test_momentum_edges_exact_for_full_batch(hessian, beta):
    problem = Quadratic(hessian)
    assert critical_learning_rate(problem, HeavyBall(beta)) == pytest.approx(
        bounds.heavy_ball_edge(problem, beta), rel=1e-8
    )
    assert critical_learning_rate(problem, Nesterov(beta)) == pytest.approx(
        bounds.nesterov_edge(problem, beta), rel=1e-8
    )


@settings(max_examples=30, deadline=None, derandomize=True)
@given(problems_with_samples(max_samples=4, max_dimension=2), st.floats(0.0, 0.9), st.data())
def test_momentum_edges_bound_minibatch_momentum(problem, beta, data):
    batch = data.draw(st.integers(1, problem.samples))
    for kind, edge in ((HeavyBall, bounds.heavy_ball_edge), (Nesterov, bounds.nesterov_edge)):
        method = kind(beta, batch_size=batch)
        assert critical_learning_rate(problem, method) <= edge(problem, method) * (1 + 1e-8)


def test_momentum_edges_read_the_method_and_weight_decay():
    problem = Quadratic(np.diag([2.0, 1.0]))
    assert bounds.heavy_ball_edge(problem, HeavyBall(0.5)) == 1.5
    assert bounds.nesterov_edge(problem, Nesterov(0.5)) == 0.75
    shifted = Quadratic(np.diag([2.5, 1.5]))
    assert bounds.heavy_ball_edge(problem, 0.5, weight_decay=0.5) == pytest.approx(
        critical_learning_rate(shifted, HeavyBall(0.5))
    )
    assert bounds.nesterov_edge(problem, 0.5, weight_decay=0.5) == pytest.approx(
        critical_learning_rate(shifted, Nesterov(0.5))
    )
    with pytest.raises(InvalidInputError, match="HeavyBall"):
        bounds.heavy_ball_edge(problem, Nesterov(0.5))
    with pytest.raises(InvalidInputError, match="momentum"):
        bounds.heavy_ball_edge(problem, GD())
    with pytest.raises(InvalidInputError, match="momentum"):
        bounds.nesterov_edge(problem, 1.5)


def _ema_dynamics(beta: float) -> LinearDynamics:
    return LinearDynamics(
        "EMA",
        MatrixPolynomial.from_matrices([[[1 + beta, -beta], [1, 0]]]),
        MatrixPolynomial.from_matrices([[[0, 0], [0, 0]], [[-(1 - beta), 0], [0, 0]]]),
        BatchLaw(None),
        state=("δ_t", "δ_{t-1}"),
    )


@PROPERTY
@given(
    psd_matrices(min_dimension=2, max_dimension=3, allow_singular=False),
    st.floats(0.0, 0.95),
    st.lists(st.floats(0.2, 5.0), min_size=3, max_size=3),
)
def test_ema_momentum_edge(hessian, beta, scales):
    preconditioner = np.diag(scales[: len(hessian)])
    root = np.diag(1 / np.sqrt(np.diag(preconditioner)))
    exact = critical_learning_rate(Quadratic(root @ hessian @ root), _ema_dynamics(beta))
    value = bounds.ema_momentum_edge(Quadratic(hessian), beta, preconditioner=preconditioner)
    assert value == pytest.approx(exact, rel=1e-8)
    same = bounds.ema_momentum_edge(
        Quadratic(hessian), beta, preconditioner=np.diag(preconditioner)
    )
    assert same == pytest.approx(value, rel=1e-12)


def test_ema_momentum_edge_38():
    assert bounds.ema_momentum_edge(Quadratic(np.eye(1)), 0.9) == pytest.approx(38.0)
    with pytest.raises(InvalidInputError, match="positive definite"):
        bounds.ema_momentum_edge(Quadratic(np.eye(2)), 0.9, preconditioner=np.diag([1.0, 0.0]))
    with pytest.raises(StabilityError, match="preconditioner"):
        bounds.ema_momentum_edge(Quadratic(np.eye(2)), 0.9, preconditioner=np.ones(3))


# ----------------------------------------------------------------------------- variational
def test_ghosh_edge_is_the_package_edge():
    for lr, z in ((0.5, 4.0), (0.1, 100.0), (2.0, 1e-3)):
        assert bounds.ghosh_edge(lr, z) == variational_edge(lr, z)
        value = bounds.ghosh_edge(lr, z)
        assert value**3 + z * value - 2 * z / lr == pytest.approx(0.0, abs=1e-9 * z / lr)


@PROPERTY
@given(st.floats(1e-3, 10.0), st.floats(1e-3, 1e3))
def test_descent_learning_rate_inverts_the_edge(eigenvalue, z):
    lr = bounds.variational_descent_learning_rate(eigenvalue, z)
    assert lr < 2 / eigenvalue
    assert bounds.ghosh_edge(lr, z) == pytest.approx(eigenvalue, rel=1e-9)


def test_descent_learning_rate_limits_and_errors():
    assert bounds.variational_descent_learning_rate(2.0, math.inf) == 1.0
    assert bounds.variational_descent_learning_rate(2.0, 0.0) == 0.0
    with pytest.raises(InvalidInputError, match="eigenvalue"):
        bounds.variational_descent_learning_rate(-1.0, 1.0)
    with pytest.raises(InvalidInputError, match="z"):
        bounds.variational_descent_learning_rate(1.0, -1.0)


@PROPERTY
@given(st.floats(0.01, 5.0), st.floats(0.01, 1.99))
def test_stationary_parameter_sits_on_the_edge(lr, product):
    eigenvalue = product / lr
    z = bounds.stationary_edge_parameter(lr, eigenvalue)
    assert bounds.ghosh_edge(lr, z) == pytest.approx(eigenvalue, rel=1e-9)


def test_stationary_parameter_refuses_unstable_directions():
    with pytest.raises(InvalidInputError, match="lr · eigenvalue < 2"):
        bounds.stationary_edge_parameter(1.0, 2.5)


@PROPERTY
@given(problems_with_samples(max_samples=4, max_dimension=3), st.floats(0.01, 5.0), st.data())
def test_variational_gd_threshold_is_sgd(problem, variance, data):
    batch = data.draw(st.one_of(st.none(), st.integers(1, problem.samples)))
    method = VariationalGD(variance, samples=data.draw(st.integers(1, 5)), batch_size=batch)
    plain = GD() if batch is None else SGD(batch)
    assert bounds.variational_gd_threshold(problem, method) == pytest.approx(
        critical_learning_rate(problem, plain), rel=RTOL
    )
    assert critical_learning_rate(problem, method) == pytest.approx(
        bounds.variational_gd_threshold(problem, method), rel=RTOL
    )
