"""Exact and closed-form thresholds (``stability.symbolic._thresholds``).

Every closed form is *derived* by the code from the dynamics description and compared with
the formula written by hand (``docs/theory/threshold.md`` and ``docs/theory/methods.md``) by
``simplify(derived − expected) == 0``; exact thresholds of rational problems are compared with the
numeric layer.
"""

from __future__ import annotations

from fractions import Fraction

import numpy as np
import pytest
import sympy
from hypothesis import given, settings
from hypothesis import strategies as st

import stability
from stability import GD, SGD, HeavyBall, Nesterov, Quadratic
from stability.errors import InvalidInputError, SizeLimitError
from stability.methods import VariationalGD
from stability.symbolic import (
    LEARNING_RATE,
    NoClosedFormError,
    characteristic_polynomial,
    critical_learning_rate,
    from_data,
    second_moment_operator,
    symbols_problem,
    threshold_derivation,
)

ETA = LEARNING_RATE
BETA = sympy.Symbol("beta", positive=True)
LAM = sympy.Symbol("lambda", positive=True)
P = sympy.Symbol("p")


def moments(curvatures):
    """Mean ``a`` and variance ``s²`` of the per-sample curvatures (hand formulas)."""
    n = len(curvatures)
    a = sum(curvatures) / n
    return a, sum(h**2 for h in curvatures) / n - a**2


def assert_same(derived, expected) -> None:
    assert sympy.simplify(derived - expected) == 0, (derived, expected)


# ----------------------------------------------------------------------------- closed forms


@pytest.mark.parametrize("samples", [1, 2, 3, 5])
def test_one_dimensional_sgd_is_wu_ma_e(samples: int) -> None:
    problem = symbols_problem(1, samples)
    a, s2 = moments([h[0, 0] for h in problem.hessians])
    derived = critical_learning_rate(problem, SGD(1), mixing=P)
    assert_same(derived, 2 * a / (a**2 + P * s2))


@pytest.mark.parametrize(
    ("samples", "method"),
    [(4, SGD(2)), (4, SGD(3, replacement=True)), (3, SGD(1)), (3, SGD(3)), (2, GD())],
)
def test_one_dimensional_sgd_with_the_batch_laws_p(samples: int, method) -> None:
    problem = symbols_problem(1, samples)
    a, s2 = moments([h[0, 0] for h in problem.hessians])
    p = sympy.Rational(method.dynamics().batch.mixing(samples))
    assert_same(critical_learning_rate(problem, method), 2 * a / (a**2 + p * s2))


def test_gd_and_full_batch_momentum_closed_forms() -> None:
    assert_same(critical_learning_rate([LAM], GD()), 2 / LAM)
    assert_same(critical_learning_rate([LAM], HeavyBall(BETA)), 2 * (1 + BETA) / LAM)
    assert_same(
        critical_learning_rate([LAM], Nesterov(BETA)), 2 * (1 + BETA) / (LAM * (1 + 2 * BETA))
    )
    # numbers for β: the same forms evaluated
    assert critical_learning_rate([LAM], HeavyBall(Fraction(9, 10))) == sympy.Rational(19, 5) / LAM


def test_full_batch_momentum_on_a_numeric_hessian_is_per_eigenvalue() -> None:
    hessian = [[[2, 1], [1, 2]]]  # eigenvalues 3 and 1
    derivation = threshold_derivation(hessian, HeavyBall(BETA))
    assert derivation.route == "per-eigenvalue"
    assert_same(derivation.value, 2 * (1 + BETA) / 3)
    assert_same(
        critical_learning_rate(hessian, Nesterov(BETA)), 2 * (1 + BETA) / (3 * (1 + 2 * BETA))
    )


def test_stochastic_heavy_ball_one_dimensional_closed_form() -> None:
    # derived by hand from the fixed point of (u, v, w) = (E x_t², E x_t x_{t-1}, E x_{t-1}²):
    # (1 − β²) = (1 − β)(1 + β − η a)²/(1 + β) + η² p s²   ⇒
    # η* = 2 (1 − β²) a / ((1 − β) a² + (1 + β) p s²)
    problem = symbols_problem(1, 3)
    a, s2 = moments([h[0, 0] for h in problem.hessians])
    derived = critical_learning_rate(problem, HeavyBall(BETA, batch_size=1), mixing=P)
    expected = 2 * (1 - BETA**2) * a / ((1 - BETA) * a**2 + (1 + BETA) * P * s2)
    assert_same(derived, expected)
    # it reduces to SGD at β = 0 and to the full-batch edge at p = 0
    assert_same(expected.subs(BETA, 0), 2 * a / (a**2 + P * s2))
    assert_same(expected.subs(P, 0), 2 * (1 + BETA) / a)


def test_commuting_hessians_give_the_minimum_over_coordinates() -> None:
    problem = symbols_problem(2, 3, structure="diagonal")
    derived = critical_learning_rate(problem, SGD(1), mixing=P)
    assert isinstance(derived, sympy.Min)
    expected = []
    for k in range(2):
        a, s2 = moments([h[k, k] for h in problem.hessians])
        expected.append(2 * a / (a**2 + P * s2))
    assert len(derived.args) == 2
    for argument in derived.args:
        assert any(sympy.simplify(argument - e) == 0 for e in expected)
    gd = critical_learning_rate(symbols_problem(2, 1, structure="diagonal"), GD())
    lam1, lam2 = (symbols_problem(2, 1, structure="diagonal").hessians[0][k, k] for k in range(2))
    assert set(gd.args) == {2 / lam1, 2 / lam2}


def test_commuting_hessians_agree_with_numbers_substituted() -> None:
    problem = symbols_problem(2, 3, structure="diagonal")
    derived = critical_learning_rate(problem, SGD(2))
    values = dict(zip(sorted(problem.free_symbols, key=str), [1, 2, 5, 3, 1, 4], strict=True))
    numeric = stability.critical_learning_rate(
        Quadratic.from_hessians(
            np.array([np.array(h.subs(values), dtype=float) for h in problem.hessians])
        ),
        SGD(2),
    )
    assert float(derived.subs(values)) == pytest.approx(numeric, rel=1e-12)


def test_momentum_symbols_are_used_in_the_stated_domain() -> None:
    derivation = threshold_derivation([LAM], Nesterov(BETA))
    assert sympy.And(BETA > 0, BETA < 1) in derivation.assumptions or any(
        str(a) == "(beta > 0) & (beta < 1)" for a in derivation.assumptions
    )
    # another domain changes which root is the smallest positive one: for β > 1 the root of
    # β(1 − ηλ) = 1, η = (β − 1)/(βλ), is positive and comes first
    other = critical_learning_rate(
        [LAM], Nesterov(BETA), domain={BETA: sympy.Interval.open(1, sympy.oo)}
    )
    assert_same(other, (BETA - 1) / (BETA * LAM))


def test_undecidable_root_signs_raise() -> None:
    gamma = sympy.Symbol("gamma", real=True)
    with pytest.raises(NoClosedFormError, match="domain"):
        critical_learning_rate([LAM], Nesterov(gamma), domain={gamma: sympy.Interval(-2, 2)})


def test_parametric_non_commuting_stochastic_has_no_closed_form() -> None:
    with pytest.raises(NoClosedFormError, match=r"numeric stability\.critical_learning_rate"):
        critical_learning_rate(symbols_problem(2, 2), SGD(1))


def test_assumptions_are_reported() -> None:
    derivation = threshold_derivation(symbols_problem(1, 2), SGD(1), mixing=P)
    names = {str(a) for a in derivation.assumptions}
    assert {"h_1 > 0", "h_2 > 0", "(p >= 0) & (p <= 1)"} <= names
    data = threshold_derivation(symbols_problem(1, 2, structure="data"), SGD(1))
    # real data symbols are not assumed positive; the mean curvature's positivity is stated
    assert any("x_1**2" in str(a) for a in data.assumptions)


# ----------------------------------------------------------------------------- exact input


def test_the_three_point_example_is_three_minus_root_three() -> None:
    problem = from_data([[1, 0], [0, 1], [1, 1]])
    derived = critical_learning_rate(problem, SGD(1))
    assert derived == 3 - sympy.sqrt(3)
    polynomial = characteristic_polynomial(problem, SGD(1))
    assert sympy.simplify(polynomial.subs(ETA, derived)) == 0
    assert critical_learning_rate(problem, GD()) == 2


def test_same_mixing_weight_gives_the_same_exact_threshold() -> None:
    rows = [[1, 2], [0, 1], [3, 1], [1, -1], [2, 2], [1, 0]]
    problem = from_data(rows)  # n = 6: with replacement B = 5 ≡ without replacement B = 3
    assert critical_learning_rate(problem, SGD(5, replacement=True)) == critical_learning_rate(
        problem, SGD(3)
    )
    assert critical_learning_rate(problem, SGD(6)) == critical_learning_rate(problem, GD())


def test_neutral_directions_are_removed_exactly() -> None:
    # n = 1 < d = 3: rank one, two neutral directions; the threshold is GD's 2/‖x‖²
    problem = from_data([[1, 2, 2]])
    assert critical_learning_rate(problem, SGD(1)) == sympy.Rational(2, 9)
    assert critical_learning_rate(problem, HeavyBall(Fraction(1, 2))) == sympy.Rational(1, 3)
    assert critical_learning_rate([[[0, 0], [0, 0]]], GD()) is sympy.oo


def test_variational_gd_has_the_gd_threshold() -> None:
    problem = from_data([[1, 0], [0, 1], [1, 1]])
    assert critical_learning_rate(problem, VariationalGD(0.3, samples=2, batch_size=1)) == (
        critical_learning_rate(problem, SGD(1))
    )
    sigma2 = sympy.Symbol("sigma2", positive=True)
    assert_same(critical_learning_rate([LAM], VariationalGD(sigma2)), 2 / LAM)


@st.composite
def rational_problems(draw, max_dimension: int = 3, max_samples: int = 4):
    d = draw(st.integers(1, max_dimension))
    n = draw(st.integers(1, max_samples))
    rows = [
        [sympy.Rational(draw(st.integers(-4, 4)), draw(st.integers(1, 3))) for _ in range(d)]
        for _ in range(n)
    ]
    if all(x == 0 for row in rows for x in row):
        rows[0][0] = sympy.Integer(1)
    return rows


@st.composite
def exact_methods(draw, samples: int, momentum: bool):
    replacement = draw(st.booleans())
    batch = draw(st.integers(1, samples if not replacement else samples + 1))
    beta = Fraction(draw(st.integers(0, 19)), 20)
    choices = [GD(), SGD(batch, replacement=replacement)]
    if momentum:
        full = draw(st.booleans())
        choices += [
            HeavyBall(beta, batch_size=None if full else batch, replacement=replacement),
            Nesterov(beta, batch_size=None if full else batch, replacement=replacement),
        ]
    return draw(st.sampled_from(choices))


@settings(max_examples=40, deadline=None)
@given(st.data())
def test_exact_threshold_matches_numeric_layer(data) -> None:
    momentum = data.draw(st.booleans())
    rows = data.draw(rational_problems(max_dimension=2 if momentum else 3))
    method = data.draw(exact_methods(len(rows), momentum))
    exact = critical_learning_rate(from_data(rows), method)
    numeric = stability.critical_learning_rate(
        Quadratic.from_data(np.array(rows, dtype=float)), method
    )
    if exact is sympy.oo:
        assert numeric == np.inf
        return
    assert float(exact) == pytest.approx(numeric, rel=1e-12)


@settings(max_examples=25, deadline=None)
@given(st.data())
def test_exact_threshold_is_a_root_where_stability_is_lost(data) -> None:
    rows = data.draw(rational_problems(max_dimension=2, max_samples=3))
    method = data.draw(exact_methods(len(rows), momentum=True))
    problem = from_data(rows)
    derivation = threshold_derivation(problem, method)
    if derivation.value is sympy.oo:
        return
    # det(T(η*) − I) = 0 on symmetric moments of range(H) ...
    polynomial = derivation.polynomials[0]
    assert abs(sympy.N(polynomial.subs(ETA, derivation.value), 50)) < sympy.Float(10) ** -30
    # ... and just below it the operator is stable, just above it is not
    numeric_problem = Quadratic.from_data(np.array(rows, dtype=float))
    value = float(derivation.value)
    assert stability.spectral_radius(numeric_problem, method, value * (1 - 1e-6)) < 1
    assert stability.spectral_radius(numeric_problem, method, value * (1 + 1e-6)) > 1


def test_symbolic_and_numeric_operator_agree_at_the_threshold() -> None:
    problem = from_data([[1, 0], [0, 1], [1, 1]])
    value = critical_learning_rate(problem, SGD(1))
    operator = second_moment_operator(problem, SGD(1), lr=value, symmetric=True)
    # exactly: 1 is an eigenvalue of T(η*) (η* = 3 − √3), i.e. det(T(η*) − I) = 0
    assert sympy.simplify((operator - sympy.eye(operator.shape[0])).det()) == 0


def test_exact_route_size_guard() -> None:
    rows = [[1 if i == j else 0 for j in range(8)] for i in range(8)]  # rank 8: N = 36
    with pytest.raises(SizeLimitError, match="numeric layer"):
        critical_learning_rate(from_data(rows), SGD(2))


def test_learning_rate_symbol_is_reserved() -> None:
    with pytest.raises(InvalidInputError, match="eta is the learning rate"):
        critical_learning_rate([ETA], GD())


def test_derivation_latex() -> None:
    derivation = threshold_derivation([LAM], HeavyBall(BETA))
    text = derivation.latex()
    assert text.startswith(r"\eta^{*} = \frac{2 \left(\beta + 1\right)}{\lambda}")
    assert r"\text{assuming }" in text and r"\lambda > 0" in text


_CLOSED_FORMS: dict = {}


def _closed_form(kind: str, batch: int, replacement: bool):
    """The parametric threshold of a method on 2-D diagonal Hessians with 3 samples (cached)."""
    key = (kind, batch, replacement)
    if key not in _CLOSED_FORMS:
        method = {
            "sgd": SGD(batch, replacement=replacement),
            "heavy-ball": HeavyBall(BETA, batch_size=batch, replacement=replacement),
            "nesterov": Nesterov(BETA, batch_size=batch, replacement=replacement),
        }[kind]
        problem = symbols_problem(2, 3, structure="diagonal")
        _CLOSED_FORMS[key] = (problem, critical_learning_rate(problem, method))
    return _CLOSED_FORMS[key]


@settings(max_examples=20, deadline=None)
@given(
    st.sampled_from(["sgd", "heavy-ball", "nesterov"]),
    st.sampled_from([(1, False), (2, False), (2, True), (4, True)]),
    st.lists(st.integers(1, 40), min_size=6, max_size=6),
    st.integers(1, 19),
)
def test_parametric_closed_forms_match_numeric_thresholds(kind, law, curvatures, beta) -> None:
    problem, closed_form = _closed_form(kind, *law)
    values = dict(zip(sorted(problem.free_symbols, key=str),
                      [sympy.Rational(c, 10) for c in curvatures], strict=True))
    values[BETA] = sympy.Rational(beta, 20)
    derived = float(closed_form.subs(values))
    stack = np.array([np.array(h.subs(values), dtype=float) for h in problem.hessians])
    batch, replacement = law
    method = {
        "sgd": SGD(batch, replacement=replacement),
        "heavy-ball": HeavyBall(beta / 20, batch_size=batch, replacement=replacement),
        "nesterov": Nesterov(beta / 20, batch_size=batch, replacement=replacement),
    }[kind]
    numeric = stability.critical_learning_rate(Quadratic.from_hessians(stack), method)
    assert derived == pytest.approx(numeric, rel=1e-12)


def test_characteristic_polynomial_of_parametric_input() -> None:
    # 1-D SGD: det(T(η) − 1) / η = η (a² + p s²) − 2a
    problem = symbols_problem(1, 2)
    a, s2 = moments([h[0, 0] for h in problem.hessians])
    polynomial = characteristic_polynomial(problem, SGD(1), mixing=P)
    assert sympy.simplify(polynomial - (ETA * (a**2 + P * s2) - 2 * a)) == 0
    # a small general 2-D problem: the operator is 3 × 3 on symmetric moments
    general = characteristic_polynomial(symbols_problem(2, 1), GD())
    assert sympy.Poly(general, ETA).degree() == 3
    with pytest.raises(SizeLimitError, match="too large to expand"):
        characteristic_polynomial(symbols_problem(3, 1), HeavyBall(BETA))
