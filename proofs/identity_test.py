"""The identity-test necessary condition: ``η* ≤ 2 tr H / E‖H_B‖_F²``."""

from __future__ import annotations

import numpy as np
import sympy

from stability import SGD, Quadratic, critical_learning_rate, symbolic
from stability.bounds import identity_test_bound
from stability.testing.strategies import one_dimensional_hessians

from ._cases import random_problems, small_data_matrices
from .registry import Proof, ProofResult

NAME = "identity_test"
STATEMENT = (
    "⟨I, T(η) I⟩ = r − 2η tr H + η² E‖H_B‖_F² with E‖H_B‖_F² = (1 − p)‖H‖_F² + (p/n) Σ ‖H_i‖_F², "
    "so η* ≤ 2 tr H / ((1 − p)‖H‖_F² + (p/n) Σ ‖H_i‖_F²); tight in one dimension and for "
    "orthonormal samples with B = 1 drawn with replacement."
)
CITATION = "Mulayoff & Michaeli (2023) (test matrix Σ = I); docs/theory/threshold.md"


def prove() -> ProofResult:
    """The Rayleigh quotient of ``T`` at the identity; checks on the right side and tightness.

    Examples
    --------
    >>> from stability.proofs import identity_test
    >>> identity_test.prove().verdict
    'proved'
    """
    proof = Proof(NAME, STATEMENT, CITATION)
    eta, p = sympy.symbols("eta p", positive=True)
    problem = symbolic.symbols_problem(2, 2)
    operator = symbolic.second_moment_operator(problem, SGD(1), eta, mixing=p)
    identity = sympy.eye(2).reshape(4, 1)
    h1, h2 = problem.hessians
    mean = (h1 + h2) / 2

    def frobenius(matrix: sympy.Matrix) -> sympy.Expr:
        return sum(entry**2 for entry in matrix)

    expected = (
        2
        - 2 * eta * mean.trace()
        + eta**2 * ((1 - p) * frobenius(mean) + p * (frobenius(h1) + frobenius(h2)) / 2)
    )
    proof.identity(
        "⟨I, T(η) I⟩ = d − 2η tr H + η² ((1 − p)‖H‖_F² + (p/n) Σ‖H_i‖_F²) (generic 2×2)",
        (identity.T * operator * identity)[0] - expected,
    )

    def holds(problem: Quadratic) -> bool:
        return all(
            identity_test_bound(problem, method)
            >= critical_learning_rate(problem, method) * (1 - 1e-10)
            for method in (SGD(1), SGD(1, replacement=True), SGD(problem.samples))
        )

    proof.exhaustive(
        "η* ≤ bound on small integer data (B = 1 both samplings, B = n)",
        [Quadratic.from_data(data) for data in small_data_matrices(samples=3, dimension=2)],
        holds,
    )
    proof.hypothesis("η* ≤ bound on random problems", random_problems(), holds)
    proof.hypothesis(
        "tight in one dimension",
        one_dimensional_hessians(min_samples=2),
        lambda stack: np.isclose(
            identity_test_bound(Quadratic.from_hessians(stack), SGD(1)),
            critical_learning_rate(Quadratic.from_hessians(stack), SGD(1)),
            rtol=1e-10,
        ),
    )
    proof.exhaustive(
        "tight for n = d orthonormal samples, B = 1 with replacement: η* = bound = 2",
        range(1, 6),
        lambda d: (
            np.isclose(
                critical_learning_rate(Quadratic.from_data(np.eye(d)), SGD(1, replacement=True)),
                2.0,
            )
            and np.isclose(identity_test_bound(Quadratic.from_data(np.eye(d)), SGD(1, True)), 2.0)
        ),
    )
    return proof.result()
