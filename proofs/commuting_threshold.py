"""Commuting per-sample Hessians: ``η* = min_k 2 h̄_k / (h̄_k² + p Var_i h_ik)``."""

from __future__ import annotations

import itertools

import numpy as np
import sympy
from hypothesis import strategies as st

from stability import SGD, Quadratic, critical_learning_rate, symbolic
from stability.bounds import commuting_threshold
from stability.testing.strategies import commuting_hessians

from .registry import Proof, ProofResult

NAME = "commuting_threshold"
STATEMENT = (
    "If the H_i share an eigenbasis with eigenvalues h_ik, the second-moment operator is "
    "diagonal on e_k e_lᵀ with entries E[(1 − η h_Bk)(1 − η h_Bl)] ≤ max of the two diagonal "
    "ones, so η* = min_k 2 h̄_k/(h̄_k² + p Var_i h_ik): the problem splits into 1-D problems."
)
CITATION = "Wu, Ma & E (2018); Mulayoff & Michaeli (2023); docs/theory/threshold.md"


def prove() -> ProofResult:
    """Symbolic operator for diagonal ``H_i``; Cauchy–Schwarz on the mixed entries.

    Examples
    --------
    >>> from stability.proofs import commuting_threshold
    >>> commuting_threshold.prove().verdict
    'proved'
    """
    proof = Proof(NAME, STATEMENT, CITATION)
    eta, p = sympy.symbols("eta p", positive=True)
    problem = symbolic.symbols_problem(2, 2, structure="diagonal")
    operator = symbolic.second_moment_operator(problem, SGD(1), eta, mixing=p)
    proof.check(
        "T(η) is diagonal in the basis e_k e_lᵀ",
        all(operator[i, j] == 0 for i in range(4) for j in range(4) if i != j),
    )
    x, y = sympy.symbols("x y", real=True)
    proof.identity(
        "x y = (x² + y²)/2 − (x − y)²/2, so E[xy] ≤ (E x² + E y²)/2 ≤ max(E x², E y²)",
        x * y - ((x**2 + y**2) / 2 - (x - y) ** 2 / 2),
    )
    h = [[matrix[k, k] for matrix in problem.hessians] for k in range(2)]
    per_direction = []
    for values in h:
        mean = sum(values) / 2
        spread = sum(v**2 for v in values) / 2 - mean**2
        per_direction.append(2 * mean / (mean**2 + spread))  # SGD(1) on n = 2: p = 1
    derived = symbolic.critical_learning_rate(problem, SGD(1))
    proof.check(
        "the symbolic layer derives the min over directions of the 1-D thresholds (p = 1)",
        isinstance(derived, sympy.Min)
        and all(
            any(sympy.simplify(arg - expected) == 0 for arg in derived.args)
            for expected in per_direction
        ),
        str(derived),
    )
    rationals = (0.5, 1.0, 2.0, 3.0)
    diagonal_cases = [
        np.array([np.diag(pair[:2]), np.diag(pair[2:])])
        for pair in itertools.product(rationals, repeat=4)
    ][::7]
    proof.exhaustive(
        "diagonal rational cases: commuting_threshold = η* for B = 1 (both samplings)",
        diagonal_cases,
        lambda stack: all(
            np.isclose(
                commuting_threshold(Quadratic.from_hessians(stack), method),
                critical_learning_rate(Quadratic.from_hessians(stack), method),
                rtol=1e-10,
            )
            for method in (SGD(1), SGD(1, replacement=True))
        ),
    )

    @st.composite
    def cases(draw):
        stack = draw(commuting_hessians(min_samples=2))
        replacement = draw(st.booleans())
        batch = draw(st.integers(1, len(stack) * (2 if replacement else 1)))
        return Quadratic.from_hessians(stack), SGD(batch, replacement=replacement)

    proof.hypothesis(
        "random commuting H_i in a random basis: closed form = η*",
        cases(),
        lambda case: np.isclose(
            commuting_threshold(*case), critical_learning_rate(*case), rtol=1e-9
        ),
    )
    return proof.result()
