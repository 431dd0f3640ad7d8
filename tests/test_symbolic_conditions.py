"""Stability conditions, LaTeX output and the lambdify bridge of ``stability.symbolic``."""

from __future__ import annotations

from fractions import Fraction

import numpy as np
import pytest
import sympy
from hypothesis import given, settings
from hypothesis import strategies as st

import stability
from stability import GD, SGD, HeavyBall, Nesterov, Quadratic
from stability.errors import InvalidInputError, InvalidTypeError
from stability.symbolic import (
    LEARNING_RATE,
    critical_learning_rate,
    from_data,
    lambdify,
    second_moment_operator,
    stability_condition,
    stable_set,
    symbols_problem,
    to_latex,
)

ETA = LEARNING_RATE
BETA = sympy.Symbol("beta", positive=True)
LAM = sympy.Symbol("lambda", positive=True)


def test_one_dimensional_sgd_condition_is_the_quadratic_inequality() -> None:
    problem = symbols_problem(1, 2)
    h1, h2 = (h[0, 0] for h in problem.hessians)
    p = sympy.Symbol("p")
    condition = stability_condition(problem, SGD(1), mixing=p)
    threshold = critical_learning_rate(problem, SGD(1), mixing=p)
    assert condition == sympy.And(sympy.StrictGreaterThan(ETA, 0, evaluate=False), ETA < threshold)
    # the condition is exactly T(η) < 1 for η > 0: E(1 − η h_B)² − 1 = η (η (a² + p s²) − 2a)
    operator = second_moment_operator(problem, SGD(1), mixing=p)[0, 0]
    a = (h1 + h2) / 2
    s2 = (h1**2 + h2**2) / 2 - a**2
    assert sympy.expand(operator - 1 - ETA * (ETA * (a**2 + p * s2) - 2 * a)) == 0
    region = stability_condition(problem, SGD(1), mixing=p, form="set")
    assert region == sympy.Interval.open(0, threshold)


def test_condition_in_eta_and_the_momentum_symbol() -> None:
    condition = stability_condition([LAM], HeavyBall(BETA))
    values = {LAM: 2, BETA: sympy.Rational(1, 2)}
    assert condition.subs(values).subs(ETA, sympy.Rational(149, 100)) is sympy.true
    assert condition.subs(values).subs(ETA, sympy.Rational(151, 100)) is sympy.false
    assert BETA in condition.free_symbols and ETA in condition.free_symbols


def test_custom_learning_rate_symbol_and_bad_arguments() -> None:
    rho = sympy.Symbol("rho", positive=True)
    condition = stability_condition([[[2, 0], [0, 1]]], GD(), lr=rho)
    assert condition == sympy.And(sympy.StrictGreaterThan(rho, 0, evaluate=False), rho < 1)
    with pytest.raises(InvalidTypeError, match="lr must be a SymPy symbol"):
        stability_condition([1], GD(), lr=0.5)
    with pytest.raises(InvalidInputError, match="form must be"):
        stability_condition([1], GD(), form="interval")


def test_everything_stable_when_there_is_no_curvature() -> None:
    assert stable_set([[[0]]], GD()) == sympy.Interval.open(0, sympy.oo)
    assert stability_condition([[[0]]], GD()) == sympy.StrictGreaterThan(ETA, 0, evaluate=False)


@settings(max_examples=20, deadline=None)
@given(st.data())
def test_exact_stable_set_matches_numeric_stability(data) -> None:
    d = data.draw(st.integers(1, 2))
    n = data.draw(st.integers(1, 3))
    rows = [[sympy.Rational(data.draw(st.integers(-3, 3)), data.draw(st.integers(1, 2)))
             for _ in range(d)] for _ in range(n)]
    if all(x == 0 for row in rows for x in row):
        rows[0][0] = sympy.Integer(1)
    beta = Fraction(data.draw(st.integers(0, 19)), 20)
    batch = data.draw(st.sampled_from([None, *range(1, n + 1)]))
    kind = data.draw(st.sampled_from([HeavyBall, Nesterov]))
    method = kind(beta, batch_size=batch)
    region = stable_set(from_data(rows), method)
    problem = Quadratic.from_data(np.array(rows, dtype=float))
    threshold = stability.critical_learning_rate(problem, method)
    if not np.isfinite(threshold):
        assert region == sympy.Interval.open(0, sympy.oo)
        return
    # sample learning rates away from the boundary points of the set
    boundary = [float(x) for x in region.boundary]
    for factor in (0.25, 0.5, 0.9, 1.1, 1.5, 2.0, 4.0):
        lr = factor * threshold
        if min(abs(lr - b) for b in boundary) < 1e-6 * lr:
            continue
        inside = bool(region.contains(sympy.nsimplify(lr, rational=True)))
        assert inside == (stability.spectral_radius(problem, method, lr) < 1)


# ----------------------------------------------------------------------------- LaTeX


def test_latex_of_results() -> None:
    assert to_latex(stability_condition([LAM], GD())) == r"0 < \eta < \frac{2}{\lambda}"
    assert to_latex(critical_learning_rate([LAM], HeavyBall(BETA))) == (
        r"\frac{2 \left(\beta + 1\right)}{\lambda}"
    )
    operator = to_latex(second_moment_operator([LAM], GD()))
    assert operator.startswith(r"\left[\begin{matrix}") and r"\eta^{2} \lambda^{2}" in operator
    region = to_latex(stable_set([[[2, 0], [0, 1]]], GD()))
    assert region == r"\left(0, 1\right)"
    x = sympy.Symbol("x")
    union = to_latex(sympy.Or(sympy.And(x > 0, x < 1), sympy.And(x > 2, x < 3)))
    assert r" \lor " in union and "0 < x < 1" in union and "2 < x < 3" in union


# ----------------------------------------------------------------------------- bridge


@settings(max_examples=30, deadline=None)
@given(
    st.lists(st.floats(0.1, 10.0), min_size=3, max_size=3),
    st.sampled_from([(1, False), (2, False), (2, True), (3, True)]),
)
def test_lambdified_threshold_matches_numeric_threshold(curvatures, law) -> None:
    batch, replacement = law
    method = SGD(batch, replacement=replacement)
    function = lambdify(critical_learning_rate(symbols_problem(1, 3), method))
    numeric = stability.critical_learning_rate(
        Quadratic.from_hessians(np.array(curvatures).reshape(3, 1, 1)), method
    )
    assert function(*curvatures) == pytest.approx(numeric, rel=1e-12)


def test_lambdified_operator_matches_numeric_operator() -> None:
    problem = symbols_problem(2, 2, structure="data")
    operator = second_moment_operator(problem, HeavyBall(BETA, batch_size=1))
    function = lambdify(operator)
    names = [s.name for s in function.arguments]
    assert names == sorted(names)
    rng = np.random.default_rng(7)
    rows = rng.standard_normal((2, 2))
    values = {"beta": 0.6, "eta": 0.3, **{f"x_{{{i + 1},{j + 1}}}": rows[i, j]
                                           for i in range(2) for j in range(2)}}
    evaluated = function(**values)
    numeric = stability.second_moment_operator(Quadratic.from_data(rows), HeavyBall(0.6, 1), 0.3)
    assert np.allclose(evaluated, numeric, rtol=1e-13, atol=1e-13)


def test_lambdify_broadcasts_and_checks_arguments() -> None:
    function = lambdify(critical_learning_rate([LAM], HeavyBall(BETA)))
    assert [s.name for s in function.arguments] == ["beta", "lambda"]
    grid = function(np.array([0.0, 0.5, 0.9]), 2.0)
    assert np.allclose(grid, [1.0, 1.5, 1.9])
    with pytest.raises(InvalidInputError, match="expected values for 2 arguments"):
        function(0.5)
    with pytest.raises(InvalidInputError, match="unknown argument"):
        function(0.5, gamma=1.0)
    with pytest.raises(InvalidInputError, match="missing"):
        lambdify(2 / LAM, [BETA])
    exact = lambdify(critical_learning_rate(from_data([[1, 0], [0, 1], [1, 1]]), SGD(1)))
    assert exact() == pytest.approx(3 - np.sqrt(3), rel=1e-15)
