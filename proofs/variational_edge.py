"""Variational GD: GD's threshold, and a flatter expected-descent edge ``(2/η) VF(z)``."""

from __future__ import annotations

import numpy as np
import sympy
from hypothesis import strategies as st

from stability import GD, SGD, Quadratic, VariationalGD, critical_learning_rate, symbolic
from stability.bounds import (
    ghosh_edge,
    stationary_edge_parameter,
    variational_descent_learning_rate,
    variational_gd_threshold,
)
from stability.testing.strategies import psd_matrices

from .registry import Proof, ProofResult

NAME = "variational_edge"
STATEMENT = (
    "Variational GD (posterior N(m, Σ_q), S samples) on a quadratic is GD/SGD plus additive "
    "noise: its second-moment operator, hence its threshold, is GD's/SGD's. Along an "
    "eigenvector the expected loss decreases iff λ³ + zλ − 2z/η < 0 (z = Sc/σ²), i.e. below "
    "λ_edge = (2/η) VF(z), VF = η√(z/3) sinh(⅓ arsinh((3/η)√(3/z))) < 1; VF solves "
    "v³ + uv − u = 0 with u = η²z/4; at the stationary moment z = ηλ³/(2 − ηλ) and λ = λ_edge."
)
CITATION = "Ghosh et al. (2025), Thm 3.1, re-derived; docs/theory/methods.md"


def prove() -> ProofResult:
    """The cubic's closed-form root via the triple-angle identity; the edge identity.

    Examples
    --------
    >>> from stability.proofs import variational_edge
    >>> variational_edge.prove().verdict
    'proved'
    """
    proof = Proof(NAME, STATEMENT, CITATION)
    eta, z, lam, sigma = sympy.symbols("eta z lambda sigma", positive=True)
    phi = sympy.Symbol("phi", real=True)
    proof.identity(
        "triple-angle identity sinh 3φ = 3 sinh φ + 4 sinh³ φ",
        sympy.expand_trig(sympy.sinh(3 * phi)) - (3 * sympy.sinh(phi) + 4 * sympy.sinh(phi) ** 3),
    )
    # λ = 2 √(z/3) sinh φ turns λ³ + zλ − 2z/η = 0 into sinh 3φ = (3/η) √(3/z)
    candidate = 2 * sympy.sqrt(z / 3) * sympy.sinh(phi)
    cubic = candidate**3 + z * candidate - 2 * z / eta
    reduced = sympy.expand(
        cubic.subs(sympy.sinh(phi) ** 3, (sympy.sinh(3 * phi) - 3 * sympy.sinh(phi)) / 4)
    )
    proof.identity(
        "λ = 2√(z/3) sinh φ: the cubic becomes (2/3)z√(z/3)·sinh 3φ − 2z/η",
        reduced
        - (sympy.Rational(2, 3) * z * sympy.sqrt(z / 3) * sympy.sinh(3 * phi) - 2 * z / eta),
    )
    proof.identity(
        "so sinh 3φ = (3/η)√(3/z), and λ_edge = (2/η)·η√(z/3) sinh(⅓ arsinh((3/η)√(3/z)))",
        (sympy.Rational(2, 3) * z * sympy.sqrt(z / 3) * 3 / eta * sympy.sqrt(3 / z) - 2 * z / eta),
    )
    v, u = sympy.symbols("v u", positive=True)
    proof.identity(
        "with λ = (2/η) v and u = η² z/4 the cubic is (8/η³)(v³ + u v − u)",
        ((2 / eta * v) ** 3 + z * (2 / eta * v) - 2 * z / eta).subs(z, 4 * u / eta**2)
        - 8 / eta**3 * (v**3 + u * v - u),
    )
    proof.identity(
        "v³ + uv − u at v = 1 is 1 > 0 and the cubic is increasing in v: VF < 1",
        (v**3 + u * v - u).subs(v, 1) - 1,
    )
    proof.identity(
        "VF = ½ exactly when η²z = 1 (u = ¼)",
        (v**3 + u * v - u).subs({v: sympy.Rational(1, 2), u: sympy.Rational(1, 4)}),
    )
    stationary = eta * lam**3 / (2 - eta * lam)
    proof.identity(
        "edge identity: z = ηλ³/(2 − ηλ) makes λ³ + zλ − 2z/η vanish",
        sympy.together(lam**3 + stationary * lam - 2 * stationary / eta),
    )
    proof.identity(
        "descent learning rate: λ³ + zλ − 2z/η < 0 ⇔ η < 2z/(λ(λ² + z))",
        (lam**3 + z * lam - 2 * z / eta).subs(eta, 2 * z / (lam * (lam**2 + z))),
    )
    operator_vgd = symbolic.second_moment_operator(
        symbolic.symbols_problem(2, 2), VariationalGD(sigma**2, samples=3, batch_size=1)
    )
    operator_sgd = symbolic.second_moment_operator(symbolic.symbols_problem(2, 2), SGD(1))
    proof.identity(
        "T of variational SGD = T of SGD (generic 2×2, symbolic σ²)", operator_vgd - operator_sgd
    )
    proof.hypothesis(
        "numeric: variational GD threshold = GD threshold for random H, Σ_q and S",
        st.tuples(psd_matrices(max_dimension=4), st.floats(0.01, 10.0), st.integers(1, 8)),
        lambda case: (
            np.isclose(
                variational_gd_threshold(
                    Quadratic(case[0]), VariationalGD(case[1], samples=case[2])
                ),
                critical_learning_rate(Quadratic(case[0]), GD()),
                rtol=1e-10,
            )
            and np.isclose(
                critical_learning_rate(Quadratic(case[0]), VariationalGD(case[1], samples=case[2])),
                critical_learning_rate(Quadratic(case[0]), GD()),
                rtol=1e-10,
            )
        ),
    )

    def edge_is_root(case) -> bool:
        lr, parameter = case
        edge = ghosh_edge(lr, parameter)
        roots = np.roots([1.0, 0.0, parameter, -2 * parameter / lr])
        real = roots[np.abs(roots.imag) < 1e-9 * np.abs(roots).max()].real
        inverse = variational_descent_learning_rate(edge, parameter)
        return bool(
            np.isclose(edge, real.max(), rtol=1e-9)
            and edge < 2 / lr
            and np.isclose(inverse, lr, rtol=1e-9)
        )

    proof.hypothesis(
        "ghosh_edge is the real root of the cubic, below 2/η, inverted by the descent rate",
        st.tuples(st.floats(1e-3, 10.0), st.floats(1e-3, 1e4)),
        edge_is_root,
    )
    proof.hypothesis(
        "at the stationary z the edge equals λ (numeric edge identity)",
        st.tuples(st.floats(0.01, 5.0), st.floats(0.01, 1.99)),
        lambda case: np.isclose(
            ghosh_edge(case[0], stationary_edge_parameter(case[0], case[1] / case[0])),
            case[1] / case[0],
            rtol=1e-9,
        ),
    )
    return proof.result()
