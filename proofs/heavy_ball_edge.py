"""Heavy ball's edge of stability: ``η λ_max(H) < 2 (1 + β)``."""

from __future__ import annotations

import itertools
from fractions import Fraction

import numpy as np
import sympy
from hypothesis import strategies as st

from stability import HeavyBall, Quadratic, critical_learning_rate, symbolic
from stability.bounds import heavy_ball_edge
from stability.testing.strategies import psd_matrices

from ._cases import MOMENTA, random_problems
from .registry import Proof, ProofResult

NAME = "heavy_ball_edge"
STATEMENT = (
    "Full-batch heavy ball δ_{t+1} = δ_t − ηHδ_t + β(δ_t − δ_{t−1}), 0 ≤ β < 1, is mean-square "
    "stable iff η λ_max(H) < 2(1 + β); with minibatches the full-batch edge is an upper bound."
)
CITATION = "Polyak (1964); docs/theory/methods.md"


def _schur_stable(a1: float, a0: float) -> bool:
    """Both roots of z² + a1 z + a0 strictly inside the unit disc (numerically)."""
    return bool(np.max(np.abs(np.roots([1.0, a1, a0]))) < 1 - 1e-12)


def prove() -> ProofResult:
    """Characteristic polynomial, Schur–Cohn conditions, and the crossing at ``z = −1``.

    Examples
    --------
    >>> from stability.proofs import heavy_ball_edge
    >>> heavy_ball_edge.prove().verdict
    'proved'
    """
    proof = Proof(NAME, STATEMENT, CITATION)
    beta, lam, eta, z = sympy.symbols("beta lambda eta z", positive=True)
    x = eta * lam
    state = symbolic.state_map(sympy.Matrix([[lam]]), HeavyBall(beta), eta)
    characteristic = (z * sympy.eye(2) - state).det()
    proof.identity(
        "on an eigenvector the state map has characteristic polynomial z² − (1 + β − ηλ) z + β",
        characteristic - (z**2 - (1 + beta - x) * z + beta),
    )
    # Schur–Cohn for z² + a1 z + a0: roots in the open unit disc iff |a0| < 1, |a1| < 1 + a0,
    # i.e. p(1) > 0, p(−1) > 0 and |a0| < 1.
    polynomial = sympy.Lambda(z, z**2 - (1 + beta - x) * z + beta)
    proof.identity("p(1) = ηλ > 0 for η > 0", polynomial(1) - x)
    proof.identity("p(−1) = 2(1 + β) − ηλ", polynomial(-1) - (2 * (1 + beta) - x))
    roots = sympy.solve(sympy.Eq(polynomial(-1), 0), eta)
    proof.check(
        "p(−1) is decreasing in η and vanishes only at η = 2(1 + β)/λ",
        len(roots) == 1
        and sympy.simplify(roots[0] - 2 * (1 + beta) / lam) == 0
        and sympy.diff(polynomial(-1), eta) == -lam,
    )
    proof.check("|a0| = β < 1 by assumption", True, "the constant term is β ∈ [0, 1)")
    grid = [Fraction(k, 8) for k in range(1, 40)]
    proof.exhaustive(
        "Schur–Cohn criterion matches the roots: stable ⇔ ηλ < 2(1 + β) (β, ηλ on a grid)",
        [(b, value) for b, value in itertools.product(MOMENTA, grid) if value != 2 * (1 + b)],
        lambda case: (
            _schur_stable(-(1 + case[0] - case[1]), case[0]) == (case[1] < 2 * (1 + case[0]))
        ),
    )
    proof.check(
        "full batch, T = A ⊗ A has eigenvalues z_i z_j, so ρ(T) = ρ(A)²: mean-square = Schur",
        _products_match(state, beta, eta, lam),
    )
    proof.equal(
        "the symbolic layer derives η* = 2(1 + β)/λ",
        symbolic.critical_learning_rate([lam], HeavyBall(beta)),
        2 * (1 + beta) / lam,
    )
    proof.hypothesis(
        "numeric η* = 2(1 + β)/λ_max on random PSD matrices and momenta",
        st.tuples(psd_matrices(max_dimension=4), st.floats(0.0, 0.95)),
        lambda case: np.isclose(
            critical_learning_rate(Quadratic(case[0]), HeavyBall(case[1])),
            heavy_ball_edge(Quadratic(case[0]), case[1]),
            rtol=1e-8,
        ),
    )
    proof.hypothesis(
        "minibatches never beat the full batch: η*(HeavyBall, B) ≤ 2(1 + β)/λ_max",
        st.tuples(random_problems(max_samples=4, max_dimension=2), st.floats(0.0, 0.9)),
        lambda case: (
            critical_learning_rate(case[0], HeavyBall(case[1], batch_size=1))
            <= heavy_ball_edge(case[0], case[1]) * (1 + 1e-8)
        ),
        max_examples=25,
    )
    return proof.result()


def _products_match(state: sympy.Matrix, beta: sympy.Symbol, eta: sympy.Symbol, lam) -> bool:
    values = {beta: sympy.Rational(1, 2), eta: sympy.Rational(3, 2), lam: 1}
    matrix = np.array(state.subs(values), dtype=float)
    roots = np.linalg.eigvals(matrix)
    products = np.sort_complex(np.outer(roots, roots).ravel())
    lifted = np.sort_complex(np.linalg.eigvals(np.kron(matrix, matrix)))
    return bool(np.allclose(products, lifted))
