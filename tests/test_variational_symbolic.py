"""SymPy derivations behind variational GD's edge (docs/theory/methods.md; Ghosh et al. 2025).

Each test derives one statement of docs/theory/methods.md from the definitions, with exact symbolic
algebra: the cubic of Thm 3.1, its sinh closed form and the ``u = η² z / 4`` reduction, the
stationary variance and the edge identity. The numeric layer is then checked against
the symbolic expressions at a few points.
"""

from __future__ import annotations

import numpy as np
import pytest
import sympy as sp

from stability.numeric import variational_edge, variational_factor

eta, lam, sigma2, S, z, u, c = sp.symbols("eta lambda sigma2 S z u c", positive=True)
delta, epsilon = sp.symbols("delta epsilon", real=True)


def _expect_noise(expression: sp.Expr, noise: sp.Symbol, variance: sp.Expr) -> sp.Expr:
    """E over a zero-mean ``noise`` with the given variance of a quadratic polynomial in it."""
    polynomial = sp.Poly(sp.expand(expression), noise)
    assert polynomial.degree() <= 2
    # the linear term has expectation zero
    return polynomial.coeff_monomial(1) + polynomial.coeff_monomial(noise**2) * variance


def _edge_closed_form() -> sp.Expr:
    """λ_edge = (2/η) VF with VF = η √(z/3) sinh((1/3) arsinh((3/η) √(3/z))).

    Theory: docs/theory/methods.md.
    """
    factor = eta * sp.sqrt(z / 3) * sp.sinh(sp.asinh(3 / eta * sp.sqrt(3 / z)) / 3)
    return 2 / eta * factor


def test_thm_3_1_cubic_from_the_one_step_expectation():
    # 1-D: δ' = (1 − ηλ) δ − ηλ ε̄, E ε̄ = 0, E ε̄² = σ²/S; L = ½ λ δ²; c = (λ δ)².
    after = (1 - eta * lam) * delta - eta * lam * epsilon
    change = _expect_noise(lam * after**2 / 2, epsilon, sigma2 / S) - lam * delta**2 / 2
    change = change.subs(delta**2, c / lam**2)
    cubic = lam**3 + z * lam - 2 * z / eta
    scaled = sp.simplify(change * 2 * S / (eta**2 * sigma2) - cubic.subs(z, S * c / sigma2))
    assert scaled == 0


def test_per_direction_decomposition_with_a_correlated_posterior():
    # 2-D, H = diag(λ1, λ2), Σ_q with a correlation: the change is the sum of the two
    # per-direction cubics with σ_k² = v_kᵀ Σ_q v_k = Σ_kk (the correlation drops out).
    l1, l2, s11, s22 = sp.symbols("lambda1 lambda2 s11 s22", positive=True)
    s12, d1, d2, e1, e2 = sp.symbols("s12 d1 d2 e1 e2", real=True)
    hessian = sp.diag(l1, l2)
    mean = sp.Matrix([d1, d2])
    noise = sp.Matrix([e1, e2])
    after = mean - eta * hessian * mean - eta * hessian * noise
    loss_after = sp.expand((after.T * hessian * after)[0] / 2)
    # E over ε̄ with covariance Σ_q / S: replace monomials by their moments
    moments = {e1**2: s11 / S, e2**2: s22 / S, e1 * e2: s12 / S}
    expected = 0
    for monomial, coefficient in sp.Poly(loss_after, e1, e2).terms():
        power = e1 ** monomial[0] * e2 ** monomial[1]
        if power == 1:
            expected += coefficient
        elif sum(monomial) == 2:
            expected += coefficient * moments[power]
    change = expected - (mean.T * hessian * mean)[0] / 2
    total = 0
    for lam_k, d_k, s_kk in ((l1, d1, s11), (l2, d2, s22)):
        z_k = S * (lam_k * d_k) ** 2 / s_kk
        total += eta**2 * s_kk / (2 * S) * (lam_k**3 + z_k * lam_k - 2 * z_k / eta)
    assert sp.simplify(change - total) == 0


def test_sinh_form_is_the_real_root_and_depends_on_u_only():
    # Write the closed form in u = η² z / 4 and check it is VF(u) = 2 √(u/3) sinh(⅓ arsinh(…))
    factor_z = eta * sp.sqrt(z / 3) * sp.sinh(sp.asinh(3 / eta * sp.sqrt(3 / z)) / 3)
    argument = sp.Rational(3, 2) * sp.sqrt(3 / u)
    factor_u = 2 * sp.sqrt(u / 3) * sp.sinh(sp.asinh(argument) / 3)
    assert sp.simplify(factor_z.subs(z, 4 * u / eta**2) - factor_u) == 0
    # λ = (2/η) v, z = 4u/η² turn the cubic into (8/η³)(v³ + u v − u)
    v = sp.Symbol("v", positive=True)
    cubic = (lam**3 + z * lam - 2 * z / eta).subs({lam: 2 * v / eta, z: 4 * u / eta**2})
    assert sp.simplify(cubic - 8 / eta**3 * (v**3 + u * v - u)) == 0
    # the sinh form solves v³ + u v − u = 0: with s = sinh t, sinh 3t = 4 s³ + 3 s = X
    t, X = sp.symbols("t X", positive=True)
    assert sp.simplify(sp.expand_trig(sp.sinh(3 * t)) - (4 * sp.sinh(t) ** 3 + 3 * sp.sinh(t))) == 0
    s = sp.Symbol("s", positive=True)
    a = 2 * sp.sqrt(u / 3)
    residual = sp.expand((a * s) ** 3 + u * a * s - u)
    residual = sp.rem(residual, 4 * s**3 + 3 * s - X, s)  # reduce with 4 s³ + 3 s = X
    assert sp.simplify(residual.subs(X, argument)) == 0
    # one real root only: the discriminant of v³ + u v − u is −4u³ − 27u² < 0
    discriminant = sp.discriminant(v**3 + u * v - u, v)
    assert sp.expand(discriminant + 4 * u**3 + 27 * u**2) == 0


def test_half_edge_and_limits():
    v = sp.Symbol("v", positive=True)
    assert sp.solve(sp.Eq((v**3 + u * v - u).subs(v, sp.Rational(1, 2)), 0), u) == [
        sp.Rational(1, 4)
    ]  # VF = ½ ⇔ η² z = 1
    assert sp.limit(_edge_closed_form() * eta / 2, z, sp.oo) == 1  # VF → 1
    ratio = _edge_closed_form() / (2 * z / eta) ** sp.Rational(1, 3)
    assert sp.limit(ratio, z, 0, "+") == 1  # λ_edge ~ (2z/η)^{1/3}


def test_stationary_variance_and_the_edge_identity():
    X = sp.Symbol("X", positive=True)
    # full batch along v_k: x' = (1 − ηλ) x − ηλ ε, Var ε = σ²/S
    stationary = sp.solve(sp.Eq(X, (1 - eta * lam) ** 2 * X + eta**2 * lam**2 * sigma2 / S), X)
    assert len(stationary) == 1
    assert sp.simplify(stationary[0] - eta * lam * sigma2 / (S * (2 - eta * lam))) == 0
    # E c_k = λ² X gives z = η λ³ / (2 − η λ), and the cubic vanishes there
    z_stationary = sp.simplify(S * lam**2 * stationary[0] / sigma2)
    assert sp.simplify(z_stationary - eta * lam**3 / (2 - eta * lam)) == 0
    cubic = lam**3 + z * lam - 2 * z / eta
    assert sp.simplify(cubic.subs(z, z_stationary)) == 0


@pytest.mark.parametrize(("lr_value", "z_value"), [(0.1, 1e-3), (0.5, 4.0), (2.0, 1e5)])
def test_numeric_layer_matches_the_symbolic_closed_form(lr_value, z_value):
    exact = _edge_closed_form().subs({eta: sp.Float(lr_value, 40), z: sp.Float(z_value, 40)})
    reference = float(sp.N(exact, 30))
    assert variational_edge(lr_value, z_value) == pytest.approx(reference, rel=1e-14)
    assert variational_factor(lr_value, z_value) == pytest.approx(
        reference * lr_value / 2, rel=1e-14
    )


def test_stationary_edge_is_the_eigenvalue_numerically():
    # the identity, through the numeric layer: VF at z = η λ³/(2 − η λ) returns λ
    lr_value = 0.3
    eigenvalues = np.array([0.01, 0.5, 3.0, 6.6])
    stationary = lr_value * eigenvalues**3 / (2 - lr_value * eigenvalues)
    np.testing.assert_allclose(variational_edge(lr_value, stationary), eigenvalues, rtol=1e-14)
