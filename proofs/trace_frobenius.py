"""Trace and Frobenius bounds: a stable minimum has ``‖H‖_F ≤ tr H ≤ 2r/(pη)``."""

from __future__ import annotations

import numpy as np
import sympy
from hypothesis import strategies as st

from stability import SGD, Quadratic, critical_learning_rate
from stability.bounds import frobenius_bound, identity_test_bound, trace_bound

from ._cases import random_problems, small_data_matrices
from .registry import Proof, ProofResult

NAME = "trace_frobenius"
STATEMENT = (
    "With r = max_i rank H_i: ‖H_i‖_F² ≥ (tr H_i)²/r and mean (tr H_i)² ≥ (tr H)², so the "
    "identity test gives η p (tr H)²/r ≤ 2 tr H: η* ≤ 2r/(p tr H) ≤ 2r/(p ‖H‖_F). Equivalently "
    "SGD at η is stable only at minima with ‖H‖_F ≤ tr H ≤ 2r/(pη) (r = 1 for square loss)."
)
CITATION = (
    "Wu, Wang & Su (2022); Ma & Ying (2021); from the identity test, docs/theory/threshold.md"
)


def prove() -> ProofResult:
    """Cauchy–Schwarz and Jensen as SymPy identities, then the chain on numbers.

    Examples
    --------
    >>> from stability.proofs import trace_frobenius
    >>> trace_frobenius.prove().verdict
    'proved'
    """
    proof = Proof(NAME, STATEMENT, CITATION)
    lam = sympy.symbols("lambda_1:4", real=True)
    proof.identity(
        "Cauchy–Schwarz: r Σλ_i² − (Σλ_i)² = ½ Σ_ij (λ_i − λ_j)² ≥ 0 (r = 3)",
        3 * sum(x**2 for x in lam)
        - sum(lam) ** 2
        - sum((a - b) ** 2 for a in lam for b in lam) / 2,
    )
    t = sympy.symbols("t_1:4", real=True)
    mean = sum(t) / 3
    proof.identity(
        "Jensen: mean t_i² − (mean t_i)² = mean (t_i − t̄)² ≥ 0 (t_i = tr H_i, n = 3)",
        sum(x**2 for x in t) / 3 - mean**2 - sum((x - mean) ** 2 for x in t) / 3,
    )
    trace, eta, p, r = sympy.symbols("T eta p r", positive=True)
    proof.identity(
        "η p T²/r ≤ 2T ⇔ T ≤ 2r/(pη) (divide by the positive T·ηp/r)",
        (eta * p * trace**2 / r - 2 * trace) / (trace * eta * p / r) - (trace - 2 * r / (p * eta)),
    )
    lam_pos = sympy.symbols("mu_1:4", nonnegative=True)
    proof.check(
        "‖H‖_F ≤ tr H for H ⪰ 0: (Σμ)² − Σμ² = 2 Σ_{i<j} μ_i μ_j ≥ 0",
        sympy.expand(sum(lam_pos) ** 2 - sum(x**2 for x in lam_pos))
        == 2 * sum(lam_pos[i] * lam_pos[j] for i in range(3) for j in range(i + 1, 3)),
    )

    def chain(problem: Quadratic) -> bool:
        for method in (SGD(1), SGD(1, replacement=True), SGD(max(1, problem.samples - 1))):
            exact = critical_learning_rate(problem, method)
            identity = identity_test_bound(problem, method)
            trace_value = trace_bound(problem, method)
            frobenius = frobenius_bound(problem, method)
            slack = 1 + 1e-10
            if not (exact <= identity * slack <= trace_value * slack**2 <= frobenius * slack**3):
                return False
        return True

    proof.exhaustive(
        "η* ≤ identity test ≤ trace bound ≤ Frobenius bound (small integer data)",
        [Quadratic.from_data(data) for data in small_data_matrices(samples=3, dimension=2)],
        chain,
    )
    proof.hypothesis(
        "the same chain on random problems (any sample ranks)", random_problems(), chain
    )
    proof.exhaustive(
        "trace bound tight: orthonormal samples, B = 1 with replacement (η* = 2, tr H = 1)",
        range(1, 6),
        lambda d: np.isclose(
            trace_bound(Quadratic.from_data(np.eye(d)), SGD(1, replacement=True)),
            critical_learning_rate(Quadratic.from_data(np.eye(d)), SGD(1, replacement=True)),
        ),
    )
    proof.hypothesis(
        "Frobenius bound tight: one dimension, equal samples ±x, B = 1 with replacement",
        st.tuples(st.floats(0.1, 10.0), st.integers(1, 5)),
        lambda case: np.isclose(
            frobenius_bound(
                Quadratic.from_data(case[0] * np.ones((case[1], 1))), SGD(1, replacement=True)
            ),
            critical_learning_rate(
                Quadratic.from_data(case[0] * np.ones((case[1], 1))), SGD(1, replacement=True)
            ),
            rtol=1e-10,
        ),
        max_examples=15,
    )
    return proof.result()
