"""Adam, AdamW, RMSProp and SGD with a frozen preconditioner (docs/theory/adaptive.md).

Independent references: the recursion written in the original coordinates (δ, m) with P⁻¹
and every batch enumerated (no congruence), the closed form of Cohen et al. (2022), heavy
ball on the congruent problem, the symbolic layer and Monte Carlo.
"""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
import sympy
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import stability
from stability import SGD, HeavyBall, Quadratic
from stability.errors import InvalidInputError
from stability.methods import Adam, AdamW, RMSProp
from stability.preconditioning import congruent, congruent_problem, congruent_start
from stability.testing.strategies import data_matrices, per_sample_hessians

PROPERTY = settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _inverse_root(matrix: np.ndarray) -> np.ndarray:
    values, vectors = np.linalg.eigh(matrix)
    return (vectors * values**-0.5) @ vectors.T


@st.composite
def preconditioners(draw, dimension: int):
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    if draw(st.booleans()):
        return rng.uniform(0.2, 5.0, size=dimension)
    factor = rng.standard_normal((dimension, dimension))
    return factor @ factor.T + 0.3 * np.eye(dimension)


def _dense(preconditioner, dimension):
    array = np.asarray(preconditioner, dtype=float)
    return np.diag(array) if array.ndim == 1 else array


# ------------------------------------------------------------------ brute force, δ-space
def _batches(samples, batch_size, replacement):
    if batch_size is None:
        yield np.full(samples, 1.0 / samples), 1.0
        return
    pool = (
        itertools.product(range(samples), repeat=batch_size)
        if replacement
        else itertools.combinations(range(samples), batch_size)
    )
    draws = list(pool)
    for draw in draws:
        weights = np.bincount(draw, minlength=samples) / batch_size
        yield weights, 1.0 / len(draws)


def _adam_map(lr, beta, inverse, batch_hessian, coupled, decoupled):
    dimension = batch_hessian.shape[0]
    eye = np.eye(dimension)
    gradient = batch_hessian + coupled * eye
    top_left = eye - lr * decoupled * eye - lr * (1 - beta) * inverse @ gradient
    return np.block([[top_left, -lr * beta * inverse], [(1 - beta) * gradient, beta * eye]])


def _adam_radius(stack, lr, beta, preconditioner, batch, replacement, coupled, decoupled):
    inverse = np.linalg.inv(preconditioner)
    total = 0.0
    for weights, probability in _batches(len(stack), batch, replacement):
        mapping = _adam_map(lr, beta, inverse, np.tensordot(weights, stack, 1), coupled, decoupled)
        total = total + probability * np.kron(mapping, mapping)
    return float(np.max(np.abs(np.linalg.eigvals(total))))


def _adam_threshold(stack, *args):
    low = high = 0.01 / float(np.linalg.eigvalsh(stack.mean(axis=0))[-1])
    while _adam_radius(stack, high, *args) < 1:
        low, high = high, 1.2 * high
    while high - low > 1e-11 * high:
        middle = 0.5 * (low + high)
        if _adam_radius(stack, middle, *args) < 1:
            low = middle
        else:
            high = middle
    return 0.5 * (low + high)


@st.composite
def adam_cases(draw):
    stack = draw(per_sample_hessians(min_samples=2, max_samples=3, max_dimension=2))
    stack = stack + 0.2 * np.eye(stack.shape[1])  # full rank: no neutral directions
    problem = Quadratic.from_hessians(stack)
    preconditioner = draw(preconditioners(problem.dimension))
    beta = draw(st.floats(0.0, 0.95))
    full = draw(st.booleans())
    batch = None if full else draw(st.integers(1, problem.samples))
    replacement = draw(st.booleans())
    decay = draw(st.sampled_from([0.0, 0.25]))
    decoupled = draw(st.booleans())
    return problem, preconditioner, beta, batch, replacement, decay, decoupled


@PROPERTY
@given(adam_cases())
def test_adam_threshold_equals_brute_force_in_original_coordinates(case):
    problem, preconditioner, beta, batch, replacement, decay, decoupled = case
    method = Adam(
        beta,
        preconditioner=preconditioner,
        batch_size=batch,
        replacement=replacement,
        weight_decay=decay,
        decoupled=decoupled,
    )
    exact = stability.critical_learning_rate(*congruent(problem, method))
    reference = _adam_threshold(
        np.asarray(problem.per_sample_hessians()),
        beta,
        _dense(preconditioner, problem.dimension),
        batch,
        replacement,
        0.0 if decoupled else decay,
        decay if decoupled else 0.0,
    )
    assert exact == pytest.approx(reference, rel=1e-9)


# ------------------------------------------------------------------ closed forms
@given(
    data_matrices(min_samples=1, max_samples=5, max_dimension=4),
    st.floats(0.0, 0.99),
    st.data(),
)
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_adam_full_batch_edge_is_cohen_et_al(data, beta, draw):
    problem = Quadratic.from_data(data)
    preconditioner = draw.draw(preconditioners(problem.dimension))
    dense = _dense(preconditioner, problem.dimension)
    top = float(np.max(np.linalg.eigvals(np.linalg.solve(dense, problem.hessian)).real))
    method = Adam(beta, preconditioner=preconditioner)
    exact = stability.critical_learning_rate(*congruent(problem, method))
    assert exact == pytest.approx((2 + 2 * beta) / ((1 - beta) * top), rel=1e-9)


def test_adam_at_beta_point_nine_is_38_over_the_preconditioned_sharpness():
    problem = Quadratic(np.diag([3.0, 1.0]))
    method = Adam(0.9, preconditioner=[0.5, 2.0])  # P⁻¹H = diag(6, 1/2)
    assert stability.critical_learning_rate(*congruent(problem, method)) == pytest.approx(38 / 6)


@PROPERTY
@given(per_sample_hessians(min_samples=2, max_samples=4), st.floats(0.0, 0.9), st.data())
def test_minibatch_adam_is_heavy_ball_at_scaled_rate_on_the_congruent_problem(stack, beta, draw):
    problem = Quadratic.from_hessians(stack)
    preconditioner = draw.draw(preconditioners(problem.dimension))
    batch = draw.draw(st.integers(1, problem.samples))
    root = _inverse_root(_dense(preconditioner, problem.dimension))
    plain = Quadratic.from_hessians(np.einsum("ab,nbc,cd->nad", root, stack, root))
    adam = stability.critical_learning_rate(
        *congruent(problem, Adam(beta, preconditioner=preconditioner, batch_size=batch))
    )
    heavy = stability.critical_learning_rate(plain, HeavyBall(beta, batch))
    assert adam * (1 - beta) == pytest.approx(heavy, rel=1e-9)


# ------------------------------------------------------- equal to the plain problems
@PROPERTY
@given(per_sample_hessians(min_samples=2, max_samples=4), st.floats(0.0, 1.0), st.data())
def test_preconditioner_and_coupled_decay_equal_the_plain_problem(stack, decay, draw):
    problem = Quadratic.from_hessians(stack)
    dimension = problem.dimension
    preconditioner = draw.draw(preconditioners(dimension))
    batch = draw.draw(st.integers(1, problem.samples))
    root = _inverse_root(_dense(preconditioner, dimension))
    plain = Quadratic.from_hessians(
        np.einsum("ab,nbc,cd->nad", root, stack + decay * np.eye(dimension), root)
    )
    cases = [
        (SGD(batch, preconditioner=preconditioner, weight_decay=decay), SGD(batch)),
        (RMSProp(preconditioner, batch, weight_decay=decay), SGD(batch)),
        (RMSProp(preconditioner, batch, momentum=0.5, weight_decay=decay), HeavyBall(0.5, batch)),
        (Adam(0.8, preconditioner, batch, weight_decay=decay), Adam(0.8, batch_size=batch)),
    ]
    for method, reference in cases:
        ours = stability.critical_learning_rate(*congruent(problem, method))
        theirs = stability.critical_learning_rate(plain, reference)
        assert ours == pytest.approx(theirs, rel=1e-12)


def test_identity_preconditioner_is_the_plain_method():
    problem = Quadratic.from_data(np.random.default_rng(0).standard_normal((5, 3)))
    for method, plain in [
        (SGD(2, preconditioner=np.ones(3)), SGD(2)),
        (RMSProp(np.eye(3), 2, momentum=0.3), HeavyBall(0.3, 2)),
    ]:
        assert stability.critical_learning_rate(*congruent(problem, method)) == pytest.approx(
            stability.critical_learning_rate(problem, plain), rel=1e-12
        )


def test_decoupled_decay_is_not_a_hessian_shift():
    # AdamW's decay is not preconditioned: different thresholds from coupled Adam when P ≠ I
    problem = Quadratic.from_data(np.random.default_rng(1).standard_normal((4, 2)))
    p = [4.0, 0.25]
    coupled = stability.critical_learning_rate(
        *congruent(problem, Adam(0.9, p, 2, weight_decay=0.5))
    )
    decoupled = stability.critical_learning_rate(
        *congruent(problem, AdamW(0.9, p, 2, weight_decay=0.5))
    )
    assert not math.isclose(coupled, decoupled, rel_tol=1e-3)
    # with P = I and β₁ = 0 both are SGD on H_i + μ I
    same = [
        stability.critical_learning_rate(problem, cls(0.0, None, 2, weight_decay=0.5))
        for cls in (Adam, AdamW)
    ]
    assert same[0] == pytest.approx(same[1], rel=1e-12)


# ------------------------------------------------------------------ symbolic layer
def test_symbolic_adam_agrees_on_the_congruent_problem():
    hessians = [sympy.Matrix([[2, 1], [1, 1]]), sympy.Matrix([[1, 0], [0, 3]])]
    root = sympy.diag(sympy.Rational(1, 2), 1)  # P = diag(4, 1)
    congruent_hessians = [root * h * root for h in hessians]
    beta = sympy.Rational(9, 10)
    exact = stability.symbolic.critical_learning_rate(congruent_hessians, Adam(beta, batch_size=1))
    problem = Quadratic.from_hessians(np.array([np.array(h, dtype=float) for h in hessians]))
    numeric = stability.critical_learning_rate(
        *congruent(problem, Adam(0.9, preconditioner=[4.0, 1.0], batch_size=1))
    )
    assert float(exact) == pytest.approx(numeric, rel=1e-12)


# ------------------------------------------------------------------ Monte Carlo
def test_monte_carlo_of_minibatch_adam_agrees():
    # 99.9% band: the prediction on the congruent pair lies within 3.3 standard errors
    problem = Quadratic.from_data(np.random.default_rng(2).standard_normal((6, 3)))
    method = Adam(0.9, preconditioner=[2.0, 1.0, 0.5], batch_size=2)
    pair = congruent(problem, method)
    lr = 0.7 * stability.critical_learning_rate(*pair)
    start = np.concatenate([congruent_start([1.0, -1.0, 0.5], [2.0, 1.0, 0.5]), np.zeros(3)])
    predicted = stability.predicted_mean_square(*pair, lr, steps=30, init=start)
    result = stability.simulate(*pair, lr, steps=30, runs=20_000, seed=3, init=start)
    for step in (10, 20, 30):
        assert abs(result.mean_square[step] - predicted[step]) <= 3.3 * result.standard_error[step]


# ------------------------------------------------------------------ input checks
def test_evaluators_refuse_a_preconditioned_method_directly():
    problem = Quadratic(np.eye(2))
    with pytest.raises(InvalidInputError, match="congruent"):
        stability.critical_learning_rate(problem, Adam(0.9, preconditioner=[1.0, 2.0]))


@pytest.mark.parametrize(
    "bad", [[1.0, -1.0], [[1.0, 2.0], [2.0, 1.0]], [[1.0, 0.5], [0.0, 1.0]], [1.0, np.inf]]
)
def test_bad_preconditioners_are_refused(bad):
    with pytest.raises(InvalidInputError, match="preconditioner"):
        Adam(0.9, preconditioner=bad)


def test_congruent_problem_of_data_stays_data_and_gram_is_refused():
    problem = Quadratic.from_data([[2.0, 1.0], [0.0, 1.0]])
    assert congruent_problem(problem, [4.0, 1.0]).kind == "data"
    assert congruent_problem(problem, [4.0, 1.0], shift=0.1).kind == "hessians"
    with pytest.raises(InvalidInputError, match="Gram"):
        congruent_problem(Quadratic.from_gram(np.eye(2)), [1.0])
    with pytest.raises(InvalidInputError, match="dimension"):
        congruent_problem(problem, [1.0, 1.0, 1.0])


def test_reshuffled_adam_is_reshuffled_heavy_ball_at_scaled_rate():
    # the elimination of the momentum holds run by run, so it holds for reshuffled epochs too
    from stability.reshuffling import epoch_critical_learning_rate

    rng = np.random.default_rng(4)
    problem = Quadratic.from_data(rng.standard_normal((6, 2)))
    preconditioner = [2.0, 0.5]
    adam = epoch_critical_learning_rate(
        *congruent(problem, Adam(0.8, preconditioner, batch_size=2, shuffle=True))
    )
    plain = congruent_problem(problem, preconditioner)
    heavy = epoch_critical_learning_rate(plain, HeavyBall(0.8, 2, shuffle=True))
    assert adam * (1 - 0.8) == pytest.approx(heavy, rel=1e-9)


@pytest.mark.parametrize(
    "method",
    [
        Adam(sympy.Rational(9, 10), [4.0, 1.0], batch_size=1, weight_decay=sympy.Rational(1, 4)),
        RMSProp([0.25, 4.0], batch_size=2, momentum=sympy.Rational(1, 2)),
        SGD(1, preconditioner=[4.0, 9.0], weight_decay=sympy.Rational(1, 2)),
    ],
)
def test_symbolic_congruent_agrees_with_numeric(method):
    from stability.preconditioning import symbolic_congruent

    hessians = [sympy.Matrix([[2, 1], [1, 1]]), sympy.Matrix([[1, 0], [0, 3]])]
    congruent_hessians, plain = symbolic_congruent(hessians, method)
    exact = stability.symbolic.critical_learning_rate(congruent_hessians, plain)
    problem = Quadratic.from_hessians(np.array([np.array(h, dtype=float) for h in hessians]))
    assert float(exact) == pytest.approx(
        stability.critical_learning_rate(*congruent(problem, method)), rel=1e-12
    )
