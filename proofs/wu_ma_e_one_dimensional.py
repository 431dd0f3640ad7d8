"""Wu, Ma & E's one-dimensional threshold ``η* = 2a / (a² + p s²)``."""

from __future__ import annotations

import numpy as np
import sympy

from stability import SGD, Quadratic, critical_learning_rate, symbolic
from stability.bounds import wu_ma_e_threshold
from stability.testing.strategies import one_dimensional_hessians

from ._cases import curvature_lists
from .registry import Proof, ProofResult

NAME = "wu_ma_e_one_dimensional"
STATEMENT = (
    "In one dimension with curvatures h_i ≥ 0, a = mean h_i, s² = mean h_i² − a²: "
    "E(1 − η h_B)² = 1 − 2ηa + η²(a² + p s²), so SGD is mean-square stable iff "
    "η < 2a/(a² + p s²)."
)
CITATION = "Wu, Ma & E (2018); docs/theory/threshold.md"


def prove() -> ProofResult:
    """Derive the scalar operator symbolically and solve the quadratic inequality.

    Examples
    --------
    >>> from stability.proofs import wu_ma_e_one_dimensional
    >>> wu_ma_e_one_dimensional.prove().verdict
    'proved'
    """
    proof = Proof(NAME, STATEMENT, CITATION)
    eta, p = sympy.symbols("eta p", positive=True)
    problem = symbolic.symbols_problem(1, 3)
    h = [matrix[0, 0] for matrix in problem.hessians]
    a = sum(h) / 3
    s2 = sum(value**2 for value in h) / 3 - a**2
    operator = symbolic.second_moment_operator(problem, SGD(1), eta, mixing=p)
    proof.identity(
        "T(η) = E(1 − η h_B)² = 1 − 2ηa + η²(a² + p s²) (n = 3, symbolic h_i and p)",
        operator[0, 0] - (1 - 2 * eta * a + eta**2 * (a**2 + p * s2)),
    )
    aa, ss, pp = sympy.symbols("a s p", positive=True)
    excess = 1 - 2 * eta * aa + eta**2 * (aa**2 + pp * ss**2) - 1
    slope = aa**2 + pp * ss**2
    proof.identity(
        "E(1 − η h_B)² − 1 = η (η (a² + p s²) − 2a)",
        excess - eta * (eta * slope - 2 * aa),
    )
    proof.check(
        "for η > 0 the sign is that of the increasing linear factor, zero at 2a/(a² + ps²)",
        sympy.solve(eta * slope - 2 * aa, eta) == [2 * aa / slope] and slope.is_positive,
    )
    proof.equal(
        "the symbolic layer's threshold for n = 3, B = 1 with symbolic p is 2a/(a² + ps²)",
        symbolic.critical_learning_rate(problem, SGD(1), mixing=p),
        2 * a / (a**2 + p * s2),
    )

    def matches(curvatures) -> bool:
        problem = Quadratic.from_hessians([[[float(h)]] for h in curvatures])
        method = SGD(1, replacement=True)
        mean = sum(curvatures) / len(curvatures)
        spread = sum(h * h for h in curvatures) / len(curvatures) - mean**2
        exact = 2 * mean / (mean**2 + spread)  # p = 1, exact rational arithmetic
        return np.isclose(critical_learning_rate(problem, method), float(exact), rtol=1e-12) and (
            np.isclose(wu_ma_e_threshold(problem, method), float(exact), rtol=1e-12)
        )

    proof.exhaustive(
        "rational curvature lists (n ≤ 3, values in {0, ½, 1, 2, 3}): numeric = exact formula",
        list(curvature_lists(3)),
        matches,
    )
    proof.hypothesis(
        "random curvatures, B = 1 without replacement: bounds.wu_ma_e_threshold = η*",
        one_dimensional_hessians(min_samples=2),
        lambda stack: np.isclose(
            wu_ma_e_threshold(Quadratic.from_hessians(stack), SGD(1)),
            critical_learning_rate(Quadratic.from_hessians(stack), SGD(1)),
            rtol=1e-10,
        ),
    )
    return proof.result()
