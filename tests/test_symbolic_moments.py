"""Stationary second moments ``S_∞ = (I − T)^{-1} N`` (``stability.symbolic._moments``)."""

from __future__ import annotations

from fractions import Fraction

import numpy as np
import pytest
import sympy
from hypothesis import given, settings
from hypothesis import strategies as st

from stability import (
    GD,
    AdditiveNoise,
    HeavyBall,
    LinearDynamics,
    Quadratic,
    critical_learning_rate,
)
from stability.errors import SizeLimitError, UnstableError
from stability.methods import VariationalGD
from stability.numeric import stationary_second_moment
from stability.symbolic import (
    LEARNING_RATE,
    from_data,
    noise_matrix,
    second_moment_operator,
    stationary_moment,
    symbols_problem,
)

ETA = LEARNING_RATE


def test_variational_gd_closed_form_along_an_eigenvector() -> None:
    # docs/theory/methods.md: E (v_kᵀ δ)² = η λ σ² / (S (2 − η λ))
    lam, sigma2 = sympy.symbols("lambda sigma2", positive=True)
    for samples in (1, 3):
        moment = stationary_moment([lam], VariationalGD(sigma2, samples=samples))
        expected = ETA * lam * sigma2 / (samples * (2 - ETA * lam))
        assert sympy.simplify(moment[0, 0] - expected) == 0


def test_variational_sgd_one_dimensional_closed_form() -> None:
    # 1-D, batch weight p: s = E(1 − η h_B)² s + η² σ² E[h_B²] / S
    problem = symbols_problem(1, 2)
    sigma2 = sympy.Symbol("sigma2", positive=True)
    moment = stationary_moment(problem, VariationalGD(sigma2, samples=2, batch_size=1))[0, 0]
    h1, h2 = (h[0, 0] for h in problem.hessians)
    second = (h1**2 + h2**2) / 2
    mean = (h1 + h2) / 2
    expected = ETA**2 * sigma2 * second / 2 / (1 - (1 - 2 * ETA * mean + ETA**2 * second))
    assert sympy.simplify(moment - expected) == 0


@settings(max_examples=20, deadline=None)
@given(st.data())
def test_exact_moment_is_the_fixed_point_and_matches_numeric(data) -> None:
    d = data.draw(st.integers(1, 3))
    n = data.draw(st.integers(1, 3))
    rows = [[sympy.Rational(data.draw(st.integers(-3, 3)), 2) for _ in range(d)]
            for _ in range(n)]
    if all(x == 0 for row in rows for x in row):
        rows[0][0] = sympy.Integer(1)
    problem = from_data(rows)
    batch = data.draw(st.sampled_from([None, *range(1, n + 1)]))
    variance = Fraction(data.draw(st.integers(1, 5)), 4)
    method = VariationalGD(float(variance), samples=data.draw(st.integers(1, 3)), batch_size=batch)
    numeric_problem = Quadratic.from_data(np.array(rows, dtype=float))
    threshold = critical_learning_rate(numeric_problem, method)
    fraction = data.draw(st.sampled_from([0.2, 0.5, 0.8]))
    lr = max(sympy.Rational(round(fraction * threshold * 64), 64), sympy.Rational(1, 64))
    moment = stationary_moment(problem, method, lr=lr)
    # fixed point of S = T(S) + N with the full vec operator (not the solver's restriction)
    operator = second_moment_operator(problem, method, lr=lr)
    noise = noise_matrix(problem, method, lr=lr)
    size = moment.shape[0]
    image = (operator * moment.reshape(size * size, 1)).reshape(size, size) + noise
    assert (image - moment).applyfunc(sympy.simplify).is_zero_matrix
    numeric = stationary_second_moment(numeric_problem, method, float(lr))
    assert np.allclose(np.array(moment, dtype=float), numeric, rtol=1e-9, atol=1e-12)


def test_neutral_directions_are_zero_and_unstable_rates_are_refused() -> None:
    moment = stationary_moment([[[2, 0], [0, 0]]], VariationalGD(0.3, samples=2), lr=0.5)
    assert moment == sympy.Matrix([[sympy.Rational(3, 20), 0], [0, 0]])
    with pytest.raises(UnstableError, match="not mean-square stable"):
        stationary_moment([[[2, 0], [0, 0]]], VariationalGD(0.3), lr=1)


def test_noise_reaching_the_null_space_has_no_stationary_moment() -> None:
    base = GD().dynamics()
    noise = AdditiveNoise(identity_coefficients=((1,),), hessian_coefficients=((0,),),
                          covariance=1.0)
    dynamics = LinearDynamics("Noisy", base.identity_part, base.hessian_part, base.batch, noise)
    with pytest.raises(UnstableError, match="null"):
        stationary_moment([[[1, 0], [0, 0]]], dynamics, lr=sympy.Rational(1, 2))
    # full rank: the same noise settles, S = 1 / (1 − (1 − η)²) = 4/3 at η = 1/2
    assert stationary_moment([[[1]]], dynamics, lr=sympy.Rational(1, 2)) == sympy.Matrix(
        [[sympy.Rational(4, 3)]]
    )


def test_momentum_with_posterior_noise_reads_the_noise_generically() -> None:
    base = HeavyBall(Fraction(1, 2)).dynamics()
    noise = AdditiveNoise(identity_coefficients=((0,), (0,)),
                          hessian_coefficients=((0, -1), (0,)), covariance=0.5)
    dynamics = LinearDynamics("NoisyHeavyBall", base.identity_part, base.hessian_part,
                              base.batch, noise, base.state)
    lr = sympy.Rational(1, 4)
    moment = stationary_moment([[[2, 0], [0, 1]]], dynamics, lr=lr)
    numeric = stationary_second_moment(Quadratic(np.diag([2.0, 1.0])), dynamics, 0.25)
    assert np.allclose(np.array(moment, dtype=float), numeric, rtol=1e-10, atol=1e-14)


def test_no_noise_gives_zero_and_size_guard() -> None:
    assert stationary_moment([[[1]]], GD(), lr=sympy.Rational(1, 2)) == sympy.zeros(1, 1)
    sigma2 = sympy.Symbol("sigma2", positive=True)
    with pytest.raises(SizeLimitError, match="stationary_second_moment"):
        stationary_moment(symbols_problem(5, 1), VariationalGD(sigma2))
