"""Weight decay μ on every method: A = F ⊗ I + G ⊗ (H_B + μ I) (docs/theory/weight-decay.md).

Independent references: the plain method on the shifted problem ``H_i + μ I``, brute-force
enumeration of every batch (tests/brute_force.py), one-dimensional closed forms, the
symbolic layer and Monte Carlo.
"""

from __future__ import annotations

import math
from fractions import Fraction

import numpy as np
import pytest
import sympy
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import stability
from stability import GD, SGD, HeavyBall, Nesterov, Quadratic, VariationalGD
from stability.dynamics import LinearDynamics
from stability.errors import InvalidInputError, InvalidTypeError
from stability.testing.strategies import data_matrices, per_sample_hessians
from tests import brute_force

PROPERTY = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _stack(problem: Quadratic) -> np.ndarray:
    return np.asarray(problem.per_sample_hessians())


def _shifted(problem: Quadratic, decay: float) -> Quadratic:
    stack = _stack(problem)
    return Quadratic.from_hessians(stack + decay * np.eye(stack.shape[1]))


@st.composite
def decayed_cases(draw, *, full_rank: bool = False):
    """A problem, a method kind with its arguments, and a weight decay μ (relative to λ_max)."""
    if full_rank:
        data = draw(data_matrices(min_samples=2, max_samples=5, max_dimension=3))
        problem = Quadratic.from_hessians(
            np.einsum("ni,nj->nij", data, data) + 0.1 * np.eye(data.shape[1])
        )
    elif draw(st.booleans()):
        problem = Quadratic.from_data(draw(data_matrices(min_samples=2, max_samples=5)))
    else:
        problem = Quadratic.from_hessians(draw(per_sample_hessians(min_samples=2, max_samples=4)))
    decay = draw(st.floats(0.01, 2.0)) * problem.sharpness
    kind = draw(st.sampled_from(["gd", "sgd", "heavy-ball", "nesterov", "variational"]))
    replacement = draw(st.booleans())
    batch = draw(st.integers(1, problem.samples))
    beta = draw(st.floats(0.0, 0.9))

    def build(weight_decay):
        if kind == "gd":
            return GD(weight_decay=weight_decay)
        if kind == "sgd":
            return SGD(batch, replacement=replacement, weight_decay=weight_decay)
        if kind == "variational":
            return VariationalGD(0.1, batch_size=batch, weight_decay=weight_decay)
        cls = HeavyBall if kind == "heavy-ball" else Nesterov
        return cls(beta, batch_size=batch, replacement=replacement, weight_decay=weight_decay)

    return problem, decay, build


# --------------------------------------------------------------------- the compiled form
def test_gradient_step_predicate_reads_scale_and_shift():
    assert SGD(2).dynamics().gradient_step() == (1, 0)
    assert SGD(2).dynamics().gradient_step_scale() == 1
    decayed = SGD(2, weight_decay=0.25).dynamics()
    assert decayed.gradient_step() == (1, Fraction(1, 4))
    assert decayed.gradient_step_scale() is None  # evaluators take the general route
    assert GD(weight_decay=3).dynamics().gradient_step() == (1, 3)
    assert VariationalGD(0.5, weight_decay=0.5).dynamics().gradient_step() == (1, Fraction(1, 2))
    assert HeavyBall(0.5, weight_decay=0.1).dynamics().gradient_step() is None
    # a step g η with a shift: F = 1 − g μ η, G = −g η
    scaled = LinearDynamics(
        "scaled",
        stability.MatrixPolynomial.from_matrices([[[1]], [[-6]]]),
        stability.MatrixPolynomial.from_matrices([[[0]], [[-2]]]),
        stability.BatchLaw(None),
    )
    assert scaled.gradient_step() == (2, 3)
    # not a gradient step: F(0) ≠ 1, or G with a constant term, or F of degree 2
    for identity, hessian in [
        ([[[2]], [[-1]]], [[[0]], [[-1]]]),
        ([[[1]]], [[[1]], [[-1]]]),
        ([[[1]], [[0]], [[1]]], [[[0]], [[-1]]]),
    ]:
        other = LinearDynamics(
            "other",
            stability.MatrixPolynomial.from_matrices(identity),
            stability.MatrixPolynomial.from_matrices(hessian),
            stability.BatchLaw(None),
        )
        assert other.gradient_step() is None


def test_zero_weight_decay_is_the_plain_method():
    assert SGD(3, weight_decay=0).dynamics() == SGD(3).dynamics()
    assert HeavyBall(0.5, 2, weight_decay=0.0).dynamics() == HeavyBall(0.5, 2).dynamics()
    assert GD().weight_decay == 0


def test_shift_compiles_into_identity_part_and_noise():
    dynamics = HeavyBall(0.5, weight_decay=2).dynamics()
    lr, hessian = 0.1, np.array([[3.0, 1.0], [1.0, 2.0]])
    plain = HeavyBall(0.5).dynamics()
    np.testing.assert_allclose(
        dynamics.state_map(lr, hessian), plain.state_map(lr, hessian + 2 * np.eye(2)), atol=1e-15
    )
    noise = VariationalGD(0.5, weight_decay=2).dynamics().noise
    identity, hessian_part = noise.evaluate(0.1)
    np.testing.assert_allclose(identity, [-0.2])  # u = μ w = −μ η
    np.testing.assert_allclose(hessian_part, [-0.1])


@pytest.mark.parametrize("bad", [-0.1, math.inf, math.nan])
def test_bad_weight_decay_is_refused(bad):
    with pytest.raises(InvalidInputError, match="weight_decay"):
        SGD(2, weight_decay=bad)
    with pytest.raises(InvalidInputError, match="weight_decay"):
        HeavyBall(0.5, weight_decay=bad)


def test_non_numeric_weight_decay_is_refused():
    with pytest.raises(InvalidTypeError, match="weight_decay"):
        GD(weight_decay="0.1")
    with pytest.raises(InvalidTypeError, match="weight_decay"):
        Nesterov(0.5, weight_decay=True)
    with pytest.raises(InvalidInputError, match="weight_decay"):
        GD(weight_decay=-sympy.Symbol("mu", positive=True))


# ------------------------------------------------ equal to the shifted plain problem
@PROPERTY
@given(decayed_cases())
def test_threshold_equals_plain_method_on_shifted_hessians(case):
    problem, decay, build = case
    with_decay = stability.critical_learning_rate(problem, build(decay))
    plain = stability.critical_learning_rate(_shifted(problem, decay), build(0))
    assert with_decay == pytest.approx(plain, rel=1e-12)


@PROPERTY
@given(decayed_cases(full_rank=True), st.floats(0.1, 1.5))
def test_spectral_radius_equals_plain_method_on_shifted_hessians(case, fraction):
    # full rank: no null space, so the reduced operators act on the same space
    problem, decay, build = case
    lr = fraction * stability.critical_learning_rate(problem, build(decay))
    with_decay = stability.spectral_radius(problem, build(decay), lr)
    plain = stability.spectral_radius(_shifted(problem, decay), build(0), lr)
    assert with_decay == pytest.approx(plain, rel=1e-12)


@PROPERTY
@given(decayed_cases())
def test_threshold_matches_brute_force(case):
    problem, decay, build = case
    method = build(decay)
    exact = stability.critical_learning_rate(problem, method)
    reference = brute_force.threshold(_stack(problem), method.dynamics())
    assert exact == pytest.approx(reference, rel=1e-9)


@PROPERTY
@given(decayed_cases())
def test_every_solver_route_agrees(case):
    problem, decay, build = case
    method = build(decay)
    dense = stability.critical_learning_rate(problem, method, solver="dense")
    assert stability.critical_learning_rate(problem, method) == pytest.approx(dense, rel=1e-9)
    free = stability.critical_learning_rate(problem, method, solver="matrix-free")
    assert free == pytest.approx(dense, rel=1e-8)


def test_null_space_is_not_neutral_with_weight_decay():
    # H = diag(2, 0): with μ the null direction contracts by (1 − η μ)² per step, so on the
    # full space ρ = max(ρ_range, (1 − η μ)²); the shift never binds the threshold because
    # 2/μ > 2/(λ_max + μ).
    problem = Quadratic.from_hessians(np.array([np.diag([4.0, 0.0]), np.diag([0.0, 0.0])]))
    decay, lr = 0.5, 0.1
    method = SGD(1, replacement=True, weight_decay=decay)
    full = brute_force.operator(_stack(problem), method.dynamics(), lr, reduce=False)
    radius = float(np.max(np.abs(np.linalg.eigvals(full))))
    # spectral_radius includes the contraction of null(H), which is not neutral under decay
    reduced = stability.spectral_radius(problem, method, lr)
    assert radius == pytest.approx(max(reduced, (1 - lr * decay) ** 2), rel=1e-12)
    assert radius == pytest.approx((1 - lr * decay) ** 2, rel=1e-12)  # the slow mode: null(H)
    shifted = _shifted(problem, decay)
    assert stability.spectral_radius(shifted, SGD(1, replacement=True), lr) == pytest.approx(
        radius, rel=1e-12
    )
    assert stability.critical_learning_rate(problem, method) == pytest.approx(
        stability.critical_learning_rate(shifted, SGD(1, replacement=True)), rel=1e-12
    )


# ------------------------------------------------------------------ closed forms
@given(
    st.lists(st.floats(0.0, 5.0), min_size=1, max_size=5).filter(lambda h: sum(h) > 0.1),
    st.floats(0.0, 3.0),
    st.integers(1, 5),
)
@settings(max_examples=40, deadline=None)
def test_one_dimensional_sgd_closed_form(curvatures, decay, batch):
    # SGD on h_i + μ in 1-D: η* = 2 (h̄ + μ) / ((h̄ + μ)² + p Var h)
    values = np.array(curvatures)
    problem = Quadratic.from_hessians(values[:, None, None])
    method = SGD(batch, replacement=True, weight_decay=decay)
    mean, variance = values.mean() + decay, values.var()
    expected = 2 * mean / (mean**2 + variance / batch)
    assert stability.critical_learning_rate(problem, method) == pytest.approx(expected, rel=1e-10)


@given(st.floats(0.1, 10.0), st.floats(0.0, 5.0), st.floats(0.0, 0.95))
@settings(max_examples=40, deadline=None)
def test_full_batch_closed_forms(sharpness, decay, beta):
    problem = Quadratic(np.diag([sharpness, sharpness / 3, 0.0]))
    top = sharpness + decay
    cases = [
        (GD(weight_decay=decay), 2 / top),
        (HeavyBall(beta, weight_decay=decay), 2 * (1 + beta) / top),
        (Nesterov(beta, weight_decay=decay), 2 * (1 + beta) / ((1 + 2 * beta) * top)),
    ]
    for method, expected in cases:
        assert stability.critical_learning_rate(problem, method) == pytest.approx(
            expected, rel=1e-10
        )
    # the published edges with the same weight decay
    assert stability.bounds.heavy_ball_edge(problem, beta, weight_decay=decay) == pytest.approx(
        2 * (1 + beta) / top, rel=1e-12
    )


# ------------------------------------------------------------------ symbolic layer
@pytest.mark.parametrize(
    "method",
    [
        SGD(1, weight_decay=sympy.Rational(1, 4)),
        GD(weight_decay=sympy.Rational(1, 4)),
        HeavyBall(sympy.Rational(1, 2), 2, weight_decay=sympy.Rational(1, 3)),
        Nesterov(sympy.Rational(1, 2), 1, replacement=True, weight_decay=Fraction(1, 5)),
    ],
)
def test_symbolic_threshold_agrees(method):
    hessians = [
        sympy.Matrix([[1, 0], [0, 0]]),
        sympy.Matrix([[1, 1], [1, 1]]),
        sympy.Matrix([[0, 0], [0, 2]]),
    ]
    exact = stability.symbolic.critical_learning_rate(hessians, method)
    problem = Quadratic.from_hessians(np.array([np.array(h, dtype=float) for h in hessians]))
    assert float(exact) == pytest.approx(
        stability.critical_learning_rate(problem, method), rel=1e-12
    )


def test_symbolic_one_dimensional_weight_decay_closed_form():
    h, mu = sympy.symbols("h mu", positive=True)
    exact = stability.symbolic.critical_learning_rate(sympy.Matrix([[h]]), GD(weight_decay=mu))
    assert sympy.simplify(exact - 2 / (h + mu)) == 0


# ------------------------------------------------------------------ Monte Carlo
def test_simulation_agrees_with_prediction():
    # 99.9% band: |mean − prediction| ≤ 3.3 standard errors at every checked step
    problem = Quadratic.from_data(np.random.default_rng(3).standard_normal((5, 3)))
    method = SGD(2, weight_decay=0.5)
    lr = 0.7 * stability.critical_learning_rate(problem, method)
    predicted = stability.predicted_mean_square(problem, method, lr, steps=20)
    result = stability.simulate(problem, method, lr, steps=20, runs=20_000, seed=11)
    for step in (5, 10, 20):
        error = float(result.standard_error[step])
        assert abs(result.mean_square[step] - predicted[step]) <= 3.3 * error


@PROPERTY
@given(decayed_cases())
def test_gradient_bounds_read_weight_decay_as_the_shifted_problem(case):
    problem, decay, build = case
    method = build(decay)
    if method.dynamics().gradient_step() is None:  # momentum has its own edges
        return
    exact = stability.critical_learning_rate(problem, method)
    shifted = _shifted(problem, decay)
    for function in (
        stability.bounds.mulayoff_michaeli_threshold,
        stability.bounds.identity_test_bound,
        stability.bounds.trace_bound,
        stability.bounds.frobenius_bound,
        stability.bounds.wu_ma_e_sufficient_threshold,
    ):
        value = function(problem, method)
        assert value == pytest.approx(function(shifted, build(0)), rel=1e-12)
        if function.side == "upper":
            assert value >= exact * (1 - 1e-9)
        elif function.side == "lower":
            assert value <= exact * (1 + 1e-9)
        else:
            assert value == pytest.approx(exact, rel=1e-9)


def test_bounds_refuse_symbolic_weight_decay():
    with pytest.raises(InvalidTypeError, match="symbolic"):
        stability.bounds.identity_test_bound(
            Quadratic.from_data(np.eye(2)), SGD(1, weight_decay=sympy.Symbol("mu", positive=True))
        )
