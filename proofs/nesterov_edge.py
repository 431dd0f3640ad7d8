"""Nesterov's edge of stability: ``η λ_max(H) < 2 (1 + β)/(1 + 2β)``."""

from __future__ import annotations

import itertools
from fractions import Fraction

import numpy as np
import sympy
from hypothesis import strategies as st

from stability import Nesterov, Quadratic, critical_learning_rate, symbolic
from stability.bounds import nesterov_edge
from stability.testing.strategies import psd_matrices

from ._cases import MOMENTA, random_problems
from .registry import Proof, ProofResult

NAME = "nesterov_edge"
STATEMENT = (
    "Full-batch Nesterov momentum δ_{t+1} = (I − ηH)((1 + β)δ_t − βδ_{t−1}), 0 ≤ β < 1, is "
    "mean-square stable iff η λ_max(H) < 2(1 + β)/(1 + 2β); with minibatches that edge is an "
    "upper bound."
)
CITATION = "Nesterov (1983); docs/theory/methods.md"


def prove() -> ProofResult:
    """Characteristic polynomial and Schur–Cohn conditions; the crossing is at ``z = −1``.

    Examples
    --------
    >>> from stability.proofs import nesterov_edge
    >>> nesterov_edge.prove().verdict
    'proved'
    """
    proof = Proof(NAME, STATEMENT, CITATION)
    beta, lam, eta, z = sympy.symbols("beta lambda eta z", positive=True)
    x = eta * lam
    state = symbolic.state_map(sympy.Matrix([[lam]]), Nesterov(beta), eta)
    polynomial = sympy.Lambda(z, z**2 - (1 + beta) * (1 - x) * z + beta * (1 - x))
    proof.identity(
        "characteristic polynomial z² − (1 + β)(1 − ηλ) z + β(1 − ηλ)",
        (z * sympy.eye(2) - state).det() - polynomial(z),
    )
    proof.identity("p(1) = ηλ", polynomial(1) - x)
    proof.identity("p(−1) = 1 + (1 + 2β)(1 − ηλ)", polynomial(-1) - (1 + (1 + 2 * beta) * (1 - x)))
    edge = 2 * (1 + beta) / ((1 + 2 * beta) * lam)
    proof.identity("p(−1) vanishes at η = 2(1 + β)/((1 + 2β)λ)", polynomial(-1).subs(eta, edge))
    proof.check(
        "p(−1) is decreasing in η (slope −(1 + 2β)λ)",
        sympy.simplify(sympy.diff(polynomial(-1), eta) + (1 + 2 * beta) * lam) == 0,
    )
    # the third Schur–Cohn condition |β(1 − ηλ)| < 1 holds below the edge:
    # 1 − ηλ ∈ (−1/(1 + 2β), 1) there, so |β(1 − ηλ)| < β < 1.
    proof.identity(
        "1 − ηλ at the edge is −1/(1 + 2β)", (1 - x).subs(eta, edge) + 1 / (1 + 2 * beta)
    )
    grid = [Fraction(k, 16) for k in range(1, 40)]
    proof.exhaustive(
        "Schur–Cohn criterion matches the roots on a grid of (β, ηλ)",
        [
            (b, value)
            for b, value in itertools.product(MOMENTA, grid)
            if value != Fraction(2) * (1 + b) / (1 + 2 * b)
        ],
        lambda case: (
            bool(
                np.max(
                    np.abs(
                        np.roots(
                            [1.0, -(1 + case[0]) * (1 - case[1]), case[0] * (1 - case[1])]
                        ).astype(complex)
                    )
                )
                < 1 - 1e-12
            )
            == (case[1] < Fraction(2) * (1 + case[0]) / (1 + 2 * case[0]))
        ),
    )
    proof.equal(
        "the symbolic layer derives η* = 2(1 + β)/((1 + 2β)λ)",
        symbolic.critical_learning_rate([lam], Nesterov(beta)),
        edge,
    )
    proof.hypothesis(
        "numeric η* equals the edge on random PSD matrices and momenta",
        st.tuples(psd_matrices(max_dimension=4), st.floats(0.0, 0.95)),
        lambda case: np.isclose(
            critical_learning_rate(Quadratic(case[0]), Nesterov(case[1])),
            nesterov_edge(Quadratic(case[0]), case[1]),
            rtol=1e-8,
        ),
    )
    proof.hypothesis(
        "minibatches never beat the full batch",
        st.tuples(random_problems(max_samples=4, max_dimension=2), st.floats(0.0, 0.9)),
        lambda case: (
            critical_learning_rate(case[0], Nesterov(case[1], batch_size=1))
            <= nesterov_edge(case[0], case[1]) * (1 + 1e-8)
        ),
        max_examples=25,
    )
    return proof.result()
