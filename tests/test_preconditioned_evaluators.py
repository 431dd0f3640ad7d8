"""Preconditioned methods passed directly to every evaluator (docs/theory/adaptive.md).

``bind`` applies the congruence ``u = P^{1/2} δ``. Independent references here:

* the equivalent plain problem ``H̃_i = P^{−1/2} (H_i + μ I) P^{−1/2}`` built in the test with the
  equivalent plain method (decoupled decay stays ``μ``), to 1e-12;
* a dense brute force of the full, unreduced second-moment operator of the recursion written
  in the original coordinates, ``A = F ⊗ I + G ⊗ P⁻¹ (H_B + μ I)``, every batch enumerated
  (batches from ``tests/brute_force.py``), no congruence and no reduction;
* closed forms (1-D; Adam's full-batch edge, Cohen et al. 2022);
* the symbolic layer, and ``check`` (Monte Carlo through ``bind``).
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import sympy
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import stability
from stability import SGD, HeavyBall, Quadratic
from stability.bounds import moment_threshold
from stability.checks import check
from stability.dynamics import AdditiveNoise, Preconditioning
from stability.errors import InvalidInputError, InvalidTypeError
from stability.methods import Adam, AdamW, RMSProp
from stability.numeric import radius_report
from stability.preconditioning import congruent, congruent_start
from stability.testing.strategies import per_sample_hessians
from tests.brute_force import batch_distribution

PROPERTY = settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow])


# ------------------------------------------------------------------ helpers (independent)
def _dense(preconditioner, dimension):
    array = np.asarray(preconditioner, dtype=float)
    return np.diag(array) if array.ndim == 1 else array


def _inverse_root(matrix):
    values, vectors = np.linalg.eigh(matrix)
    return (vectors * values**-0.5) @ vectors.T


def _random_preconditioner(rng, dimension, diagonal):
    if diagonal:
        return rng.uniform(0.3, 4.0, size=dimension)
    factor = rng.standard_normal((dimension, dimension))
    return factor @ factor.T + 0.5 * np.eye(dimension)


def _plain_pair(stack, preconditioner, method_kind, beta, batch, replacement, decay):
    """The equivalent plain problem and method, built from scratch."""
    dimension = stack.shape[1]
    root = _inverse_root(_dense(preconditioner, dimension))
    coupled = 0.0 if method_kind == "adamw" else decay
    plain = Quadratic.from_hessians(
        np.einsum("ab,nbc,cd->nad", root, stack + coupled * np.eye(dimension), root)
    )
    reference = {
        "sgd": SGD(batch, replacement) if batch else None,
        "rmsprop": HeavyBall(beta, batch, replacement),
        "adam": Adam(beta, None, batch, replacement),
        "adamw": AdamW(beta, None, batch, replacement, weight_decay=decay),
    }[method_kind]
    return plain, reference


def _method(kind, preconditioner, beta, batch, replacement, decay):
    if kind == "sgd":
        return SGD(batch, replacement, weight_decay=decay, preconditioner=preconditioner)
    if kind == "rmsprop":
        return RMSProp(preconditioner, batch, replacement, momentum=beta, weight_decay=decay)
    if kind == "adam":
        return Adam(beta, preconditioner, batch, replacement, weight_decay=decay)
    return AdamW(beta, preconditioner, batch, replacement, weight_decay=decay)


def _original_maps(method, lr, stack, preconditioner, batch, replacement):
    """Every batch's state map in the original coordinates, with its probability."""
    dynamics = method.dynamics()
    dimension = stack.shape[1]
    inverse = np.linalg.inv(_dense(preconditioner, dimension))
    shift = float(dynamics.preconditioning.shift)
    identity = np.asarray(dynamics.identity_part.evaluate(lr), dtype=float)
    gradient = np.asarray(dynamics.hessian_part.evaluate(lr), dtype=float)
    maps = []
    for weights, probability in batch_distribution(len(stack), batch, replacement):
        batch_hessian = np.tensordot(weights, stack, 1) + shift * np.eye(dimension)
        mapping = np.kron(identity, np.eye(dimension)) + np.kron(gradient, inverse @ batch_hessian)
        maps.append((mapping, probability))
    return maps


def _brute_operator(method, lr, stack, preconditioner, batch, replacement):
    """The full (unreduced) E[A ⊗ A] in the original coordinates."""
    return sum(
        probability * np.kron(mapping, mapping)
        for mapping, probability in _original_maps(
            method, lr, stack, preconditioner, batch, replacement
        )
    )


def _brute_radius(*arguments):
    return float(np.max(np.abs(np.linalg.eigvals(_brute_operator(*arguments)))))


def _brute_threshold(method, stack, preconditioner, batch, replacement):
    low = high = 1e-3 / float(np.linalg.eigvalsh(stack.mean(axis=0))[-1])
    arguments = (stack, preconditioner, batch, replacement)
    while _brute_radius(method, high, *arguments) < 1:
        low, high = high, 1.3 * high
    while high - low > 1e-12 * high:
        middle = 0.5 * (low + high)
        if _brute_radius(method, middle, *arguments) < 1:
            low = middle
        else:
            high = middle
    return 0.5 * (low + high)


KINDS = ["sgd", "rmsprop", "adam", "adamw"]


@st.composite
def cases(draw, max_samples=3, max_dimension=2):
    stack = draw(per_sample_hessians(min_samples=2, max_samples=max_samples,
                                     max_dimension=max_dimension))
    stack = stack + 0.2 * np.eye(stack.shape[1])  # full rank: the brute force has no null space
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    preconditioner = _random_preconditioner(rng, stack.shape[1], draw(st.booleans()))
    kind = draw(st.sampled_from(KINDS))
    beta = draw(st.floats(0.0, 0.9)) if kind != "sgd" else 0.0
    batch = draw(st.integers(1, len(stack)))
    if kind != "sgd" and draw(st.booleans()):
        batch = None
    replacement = draw(st.booleans())
    decay = draw(st.sampled_from([0.0, 0.3]))
    return stack, preconditioner, kind, beta, batch, replacement, decay


# ------------------------------------------------------------------ the plain problem, 1e-12
@PROPERTY
@given(cases(max_samples=4, max_dimension=3))
def test_threshold_and_radius_equal_the_equivalent_plain_problem(case):
    stack, preconditioner, kind, beta, batch, replacement, decay = case
    problem = Quadratic.from_hessians(stack)
    method = _method(kind, preconditioner, beta, batch, replacement, decay)
    plain, reference = _plain_pair(stack, preconditioner, kind, beta, batch, replacement, decay)
    ours = stability.critical_learning_rate(problem, method)
    theirs = stability.critical_learning_rate(plain, reference)
    assert ours == pytest.approx(theirs, rel=1e-12)
    for factor in (0.5, 0.9, 1.2):
        assert stability.spectral_radius(problem, method, factor * ours) == pytest.approx(
            stability.spectral_radius(plain, reference, factor * ours), rel=1e-12
        )
    assert stability.is_stable(problem, method, 0.99 * ours)
    assert not stability.is_stable(problem, method, 1.01 * ours)


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("diagonal", [True, False])
def test_every_route_agrees(kind, diagonal):
    rng = np.random.default_rng(7)
    stack = np.einsum("nki,nkj->nij", *(2 * [rng.standard_normal((5, 2, 3))]))
    preconditioner = _random_preconditioner(rng, 3, diagonal)
    method = _method(kind, preconditioner, 0.5, 2, False, 0.2)
    problem = Quadratic.from_hessians(stack)
    plain, reference = _plain_pair(stack, preconditioner, kind, 0.5, 2, False, 0.2)
    expected = stability.critical_learning_rate(plain, reference)
    for solver in ("auto", "dense", "matrix-free"):
        report = stability.threshold_report(problem, method, solver=solver)
        assert report.value == pytest.approx(expected, rel=1e-9)
    lr = 0.8 * expected
    radius = radius_report(problem, method, lr)
    assert radius.value == pytest.approx(stability.spectral_radius(plain, reference, lr), rel=1e-9)


@pytest.mark.parametrize("kind", KINDS)
def test_high_precision_route_agrees(kind):
    rng = np.random.default_rng(8)
    stack = np.einsum("nki,nkj->nij", *(2 * [rng.standard_normal((3, 1, 2))])) + 0.1 * np.eye(2)
    preconditioner = _random_preconditioner(rng, 2, kind in ("sgd", "adam"))
    method = _method(kind, preconditioner, 0.5, 2, False, 0.2)
    plain, reference = _plain_pair(stack, preconditioner, kind, 0.5, 2, False, 0.2)
    rate = stability.critical_learning_rate(Quadratic.from_hessians(stack), method, precision=30)
    assert float(rate) == pytest.approx(
        stability.critical_learning_rate(plain, reference), rel=1e-12
    )


# ------------------------------------------------------------------ brute force, δ coordinates
@PROPERTY
@given(cases())
def test_threshold_equals_brute_force_of_the_original_coordinate_operator(case):
    stack, preconditioner, kind, beta, batch, replacement, decay = case
    if kind == "sgd" and batch is None:
        batch = 1
    problem = Quadratic.from_hessians(stack)
    method = _method(kind, preconditioner, beta, batch, replacement, decay)
    exact = stability.critical_learning_rate(problem, method)
    reference = _brute_threshold(method, stack, preconditioner, batch, replacement)
    assert exact == pytest.approx(reference, rel=1e-9)
    for factor in (0.6, 1.1):
        assert stability.spectral_radius(problem, method, factor * exact) == pytest.approx(
            _brute_radius(method, factor * exact, stack, preconditioner, batch, replacement),
            rel=1e-9,
        )


@pytest.mark.parametrize(
    "method",
    [
        AdamW(0.3, [2.0, 0.5, 1.0, 3.0], 2, weight_decay=0.2),
        AdamW(0.0, [[2.0, 0.3, 0, 0], [0.3, 1, 0, 0], [0, 0, 1, 0], [0, 0, 0, 2]], 1,
              weight_decay=0.4),
        Adam(0.5, [2.0] * 4, 2, weight_decay=0.3),
        RMSProp([2.0] * 4, 2, weight_decay=0.3),
        RMSProp([2.0] * 4, 2, momentum=0.2, weight_decay=0.3),
        SGD(1, weight_decay=0.1, preconditioner=[1.0, 2.0, 3.0, 4.0]),
    ],
)
def test_rank_deficient_problems_count_the_decaying_null_space(method):
    # n = 3 < d = 4: null(H) is not neutral under weight decay; the radius is the full operator's
    rng = np.random.default_rng(12)
    data = rng.standard_normal((3, 4))
    stack = np.einsum("ni,nj->nij", data, data)
    problem = Quadratic.from_data(data)
    preconditioner = method.preconditioner
    batch, replacement = method.batch_size, method.replacement
    exact = stability.critical_learning_rate(problem, method)
    assert exact == pytest.approx(
        _brute_threshold(method, stack, preconditioner, batch, replacement), rel=1e-9
    )
    for factor in (0.1, 0.5, 0.9, 1.1):
        assert stability.spectral_radius(problem, method, factor * exact) == pytest.approx(
            _brute_radius(method, factor * exact, stack, preconditioner, batch, replacement),
            rel=1e-9,
        )


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("diagonal", [True, False])
def test_predicted_mean_square_is_the_original_coordinate_recursion(kind, diagonal):
    # E‖z_t‖² with z in the original coordinates, from the brute-force iteration of E[A S Aᵀ]
    rng = np.random.default_rng(11)
    stack = np.einsum("nki,nkj->nij", *(2 * [rng.standard_normal((4, 2, 2))]))
    preconditioner = _random_preconditioner(rng, 2, diagonal)
    method = _method(kind, preconditioner, 0.6, 2, False, 0.25)
    problem = Quadratic.from_hessians(stack)
    lr = 0.9 * stability.critical_learning_rate(problem, method)
    blocks = method.dynamics().blocks
    start = np.concatenate([[1.0, -0.5], np.zeros(2 * (blocks - 1))])
    predicted = stability.predicted_mean_square(problem, method, lr, steps=12, init=start)
    maps = _original_maps(method, lr, stack, preconditioner, 2, False)
    moment = np.outer(start, start)
    expected = [np.trace(moment)]
    for _ in range(12):
        moment = sum(p * a @ moment @ a.T for a, p in maps)
        expected.append(np.trace(moment))
    np.testing.assert_allclose(predicted, expected, rtol=1e-10)
    # E‖δ‖² = tr(P⁻¹ Σ_u): not the congruent pair's E‖u‖²
    pair = congruent(problem, method)
    in_u = stability.predicted_mean_square(
        *pair, lr, steps=12, init=congruent_start(start, preconditioner, blocks=blocks)
    )
    assert not np.allclose(in_u, predicted, rtol=1e-3)


def test_stationary_moment_is_reported_in_the_original_coordinates():
    # a preconditioned description with additive noise: S_δ = M S_u Mᵀ, M = P^{−1/2}
    rng = np.random.default_rng(3)
    problem = Quadratic.from_data(rng.standard_normal((5, 3)))
    preconditioner = np.array([2.0, 0.5, 1.5])
    noisy = AdditiveNoise(((0,),), ((0, -1),), covariance=0.3)
    plain = SGD(2).dynamics()
    preconditioned = dataclasses.replace(
        plain, noise=noisy, preconditioning=Preconditioning(tuple(preconditioner))
    )
    lr = 0.5 * stability.critical_learning_rate(problem, preconditioned)
    ours = stability.stationary_second_moment(problem, preconditioned, lr)
    in_u = stability.stationary_second_moment(*congruent(problem, preconditioned), lr)
    root = np.diag(preconditioner**-0.5)
    np.testing.assert_allclose(ours, root @ in_u @ root, rtol=1e-10, atol=1e-14)


# ------------------------------------------------------------------ closed forms
@given(
    st.lists(st.floats(0.1, 5.0), min_size=2, max_size=5),
    st.floats(0.2, 5.0),
    st.floats(0.0, 1.0),
    st.data(),
)
@settings(max_examples=30, deadline=None)
def test_one_dimensional_preconditioned_sgd_closed_form(curvatures, scale, decay, draw):
    # δ ← (1 − η (h_B + μ)/P) δ: η* = 2 E[g_B] / E[g_B²], g = (h + μ)/P, batch law weight p
    samples = len(curvatures)
    batch = draw.draw(st.integers(1, samples))
    h = np.array(curvatures)
    problem = Quadratic.from_hessians(h[:, None, None])
    g = (h + decay) / scale
    mixing = (samples - batch) / (batch * (samples - 1))
    expected = 2 * g.mean() / (g.mean() ** 2 + mixing * g.var())
    method = SGD(batch, weight_decay=decay, preconditioner=[scale])
    assert stability.critical_learning_rate(problem, method) == pytest.approx(expected, rel=1e-12)


@given(st.floats(0.1, 10.0), st.floats(0.1, 10.0), st.floats(0.0, 0.99), st.floats(0.0, 1.0))
@settings(max_examples=40, deadline=None)
def test_one_dimensional_full_batch_adam(curvature, scale, beta, decay):
    problem = Quadratic(np.array([[curvature]]))
    method = Adam(beta, [scale], weight_decay=decay)
    expected = (2 + 2 * beta) / ((1 - beta) * (curvature + decay) / scale)
    assert stability.critical_learning_rate(problem, method) == pytest.approx(expected, rel=1e-12)


@given(st.integers(0, 2**32 - 1), st.floats(0.0, 0.99), st.booleans())
@settings(max_examples=40, deadline=None)
def test_adam_full_batch_threshold_is_cohen_et_al_edge(seed, beta, diagonal):
    rng = np.random.default_rng(seed)
    data = rng.standard_normal((6, 4))
    problem = Quadratic.from_data(data)
    preconditioner = _random_preconditioner(rng, 4, diagonal)
    top = float(np.max(np.linalg.eigvals(np.linalg.solve(_dense(preconditioner, 4),
                                                         problem.hessian)).real))
    exact = stability.critical_learning_rate(problem, Adam(beta, preconditioner))
    assert exact == pytest.approx((2 + 2 * beta) / ((1 - beta) * top), rel=1e-12)


# ------------------------------------------------------------------ factored problems
@pytest.mark.parametrize("diagonal", [True, False])
def test_factored_problems_stay_factored(diagonal):
    rng = np.random.default_rng(5)
    data = rng.standard_normal((120, 40))
    problem = Quadratic.from_data(data)
    preconditioner = _random_preconditioner(rng, 40, diagonal)
    method = SGD(4, preconditioner=preconditioner)
    # bind's congruence: G_i → G_i P^{−1/2}, never a d × d per-sample stack
    assert congruent(problem, method)[0].kind == "data"
    root = _inverse_root(_dense(preconditioner, 40))
    plain = Quadratic.from_data(data @ root)
    ours = stability.threshold_report(problem, method)
    theirs = stability.threshold_report(plain, SGD(4))
    assert ours.route == theirs.route
    assert ours.value == pytest.approx(theirs.value, rel=1e-12)
    jacobians = rng.standard_normal((30, 2, 12))
    factored = Quadratic.from_jacobians(jacobians)
    adam = Adam(0.9, preconditioner[:12] if diagonal else np.eye(12) + 0.1, batch_size=3)
    assert congruent(factored, adam)[0].kind == "jacobians"
    root = _inverse_root(_dense(adam.preconditioner, 12))
    assert stability.critical_learning_rate(factored, adam) == pytest.approx(
        stability.critical_learning_rate(Quadratic.from_jacobians(jacobians @ root),
                                         Adam(0.9, batch_size=3)),
        rel=1e-12,
    )


def test_scalar_preconditioner_keeps_coupled_decay_as_a_shift():
    rng = np.random.default_rng(6)
    data = rng.standard_normal((10, 4))
    problem = Quadratic.from_data(data)
    method = SGD(2, weight_decay=0.5, preconditioner=[2.0] * 4)
    transformed, plain = congruent(problem, method)
    assert transformed.kind == "data" and plain.identity_part.degree == 1  # F = 1 − η μ / c
    reference = Quadratic.from_hessians(
        (np.einsum("ni,nj->nij", data, data) + 0.5 * np.eye(4)) / 2.0
    )
    assert stability.critical_learning_rate(problem, method) == pytest.approx(
        stability.critical_learning_rate(reference, SGD(2)), rel=1e-12
    )


# ------------------------------------------------------------------ moment bounds, check
def test_higher_moment_threshold_equals_the_congruent_pair():
    problem = Quadratic.from_hessians([np.diag([1.0, 2.0]), np.diag([3.0, 0.5])])
    method = SGD(1, preconditioner=[2.0, 0.5])
    assert moment_threshold(problem, method, 4) == pytest.approx(
        moment_threshold(*congruent(problem, method), 4), rel=1e-12
    )


def test_check_takes_a_preconditioned_adam():
    # the exact radius against Monte Carlo growth (check's own 99.9%-level band)
    problem = Quadratic.from_data(np.random.default_rng(2).standard_normal((6, 3)))
    method = Adam(0.9, preconditioner=[2.0, 1.0, 0.5], batch_size=2)
    lr = stability.critical_learning_rate(problem, method)
    below = check(problem, method, 0.7 * lr, seed=1, runs=2000)
    above = check(problem, method, 1.3 * lr, seed=2, runs=2000)
    assert below.agrees and below.stable
    assert above.agrees and not above.stable


# ------------------------------------------------------------------ errors
def test_symbolic_coefficients_raise_the_package_error():
    beta = sympy.Symbol("beta")
    problem = Quadratic(np.eye(2))
    with pytest.raises(InvalidTypeError, match="symbolic"):
        stability.critical_learning_rate(problem, Adam(beta, [1.0, 2.0]))
    with pytest.raises(InvalidTypeError, match="weight_decay"):
        stability.critical_learning_rate(
            problem, RMSProp([1.0, 2.0], weight_decay=sympy.Symbol("mu"))
        )


def test_gram_problems_and_wrong_dimensions_are_refused_by_name():
    with pytest.raises(InvalidInputError, match="preconditioner"):
        stability.critical_learning_rate(Quadratic.from_gram(np.eye(2)), RMSProp([1.0, 2.0]))
    with pytest.raises(InvalidInputError, match="preconditioner"):
        stability.critical_learning_rate(Quadratic(np.eye(3)), RMSProp([1.0, 2.0]))


# ------------------------------------------------------------------ symbolic layer
SYMBOLIC_CASES = [
    ("sgd", [2.0, 3.0], 1, True, 0.0),
    ("sgd", [[2.0, 0.5], [0.5, 1.0]], 2, False, 0.5),
    ("rmsprop", [[2.0, 0.5], [0.5, 1.0]], 1, False, 0.25),
    ("adam", [2.0, 0.5], 1, True, 0.0),
    ("adam", [[1.5, -0.5], [-0.5, 2.0]], 2, True, 0.5),
    ("adamw", [[2.0, 0.5], [0.5, 1.0]], 2, False, 0.5),
    ("adamw", [4.0, 1.0], None, False, 0.25),
]


@pytest.mark.parametrize(("kind", "preconditioner", "batch", "replacement", "decay"),
                         SYMBOLIC_CASES)
def test_symbolic_threshold_equals_brute_force(kind, preconditioner, batch, replacement, decay):
    hessians = [sympy.Matrix([[2, 1], [1, 1]]), sympy.Matrix([[1, 0], [0, 3]])]
    stack = np.array([np.array(h, dtype=float) for h in hessians])
    method = _method(kind, preconditioner, 0.5, batch, replacement, decay)
    exact = stability.symbolic.critical_learning_rate(hessians, method)
    reference = _brute_threshold(method, stack, preconditioner, batch, replacement)
    assert float(exact) == pytest.approx(reference, rel=1e-9)
    numeric = stability.critical_learning_rate(Quadratic.from_hessians(stack), method)
    assert float(exact) == pytest.approx(numeric, rel=1e-12)


@pytest.mark.parametrize("kind", KINDS)
def test_symbolic_operator_is_the_original_coordinate_operator(kind):
    # the symbolic T at a rational η has the brute force's spectral radius (δ coordinates)
    hessians = [sympy.Matrix([[2, 1], [1, 1]]), sympy.Matrix([[1, 0], [0, 3]])]
    stack = np.array([np.array(h, dtype=float) for h in hessians])
    preconditioner = [[2.0, 0.5], [0.5, 1.0]]
    method = _method(kind, preconditioner, 0.5, 1, True, 0.25)
    lr = sympy.Rational(3, 4)
    operator = stability.symbolic.second_moment_operator(hessians, method, lr)
    radius = float(np.max(np.abs(np.linalg.eigvals(np.array(operator, dtype=float)))))
    assert radius == pytest.approx(
        _brute_radius(method, 0.75, stack, preconditioner, 1, True), rel=1e-12
    )


def test_symbolic_adam_closed_forms_with_symbols():
    beta = sympy.Symbol("beta")
    lam, p, mu = sympy.symbols("lambda p mu", positive=True)
    # 1-D full batch, symbolic β: Cohen et al.'s edge (2 + 2β)/((1 − β) λ/P) with P = 3
    edge = stability.symbolic.critical_learning_rate([lam], Adam(beta, [3.0]))
    assert sympy.simplify(edge - 3 * (2 + 2 * beta) / ((1 - beta) * lam)) == 0
    # a symbolic P through symbolic_congruent, with coupled weight decay μ
    from stability.preconditioning import symbolic_congruent

    hessians, plain = symbolic_congruent(
        [sympy.Matrix([[lam]])], Adam(beta, [1.0], weight_decay=mu), preconditioner=[p]
    )
    derived = stability.symbolic.critical_learning_rate(hessians, plain)
    assert sympy.simplify(derived - p * (2 + 2 * beta) / ((1 - beta) * (lam + mu))) == 0
    # diagonal Hessians with symbols and a diagonal P: the per-coordinate route
    a, b = sympy.symbols("a b", positive=True)
    problem = [sympy.diag(a, 1), sympy.diag(b, 3)]
    derived = stability.symbolic.critical_learning_rate(problem, SGD(1, preconditioner=[2.0, 4.0]))
    values = {a: sympy.Rational(3, 2), b: sympy.Rational(1, 2)}
    numeric = stability.critical_learning_rate(
        Quadratic.from_hessians([np.diag([1.5, 1.0]), np.diag([0.5, 3.0])]),
        SGD(1, preconditioner=[2.0, 4.0]),
    )
    assert float(derived.subs(values)) == pytest.approx(numeric, rel=1e-12)


def test_symbolic_dense_preconditioner_with_symbolic_momentum():
    beta = sympy.Symbol("beta")
    hessian = [sympy.Matrix([[2, 1], [1, 1]])]
    preconditioner = [[2.0, 0.5], [0.5, 1.0]]
    derived = stability.symbolic.critical_learning_rate(hessian, Adam(beta, preconditioner))
    numeric = stability.critical_learning_rate(
        Quadratic(np.array([[2.0, 1.0], [1.0, 1.0]])), Adam(0.7, preconditioner)
    )
    assert float(derived.subs(beta, sympy.Rational(7, 10))) == pytest.approx(numeric, rel=1e-12)


def test_symbolic_congruent_refusals_name_the_preconditioner():
    from stability.preconditioning import symbolic_congruent

    with pytest.raises(InvalidInputError, match="preconditioner"):
        symbolic_congruent([sympy.eye(2)], RMSProp([[2.0, 0.5], [0.5, 1.0]]))
    with pytest.raises(InvalidInputError, match="preconditioner"):
        symbolic_congruent([sympy.eye(1)], SGD(1), preconditioner=[sympy.Symbol("p")])
    with pytest.raises(InvalidInputError, match="preconditioner"):
        symbolic_congruent([sympy.eye(1)], RMSProp([1.0]), preconditioner=[-1])
    with pytest.raises(InvalidInputError, match="preconditioner"):
        stability.symbolic.critical_learning_rate([sympy.eye(3)], RMSProp([1.0, 2.0]))


def test_expected_loss_change_reads_the_start_in_delta():
    # full batch RMSProp: δ' = (I − η P⁻¹ H) δ, change ½ δ'ᵀHδ' − ½ δᵀHδ (no congruence)
    hessian = np.array([[3.0, 1.0], [1.0, 2.0]])
    preconditioner = np.array([[2.0, 0.5], [0.5, 1.0]])
    delta = np.array([0.7, -1.2])
    lr = 0.2
    after = delta - lr * np.linalg.solve(preconditioner, hessian @ delta)
    expected = 0.5 * after @ hessian @ after - 0.5 * delta @ hessian @ delta
    ours = stability.expected_loss_change(Quadratic(hessian), RMSProp(preconditioner), lr, delta)
    assert ours == pytest.approx(expected, rel=1e-12)
    with pytest.raises(InvalidInputError, match="weight_decay"):
        stability.expected_loss_change(
            Quadratic(hessian), RMSProp(preconditioner, weight_decay=0.1), lr, delta
        )
