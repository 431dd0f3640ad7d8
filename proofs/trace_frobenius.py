"""Trace and Frobenius bounds: a stable minimum has ``tr H ≤ 2r/(pη)`` and ``‖H‖_F ≤ K(r, p)/η``."""

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
    "identity test gives η p (tr H)²/r ≤ 2 tr H: η* ≤ 2r/(p tr H) ≤ 2r/(p ‖H‖_F). Keeping the "
    "(1 − p)‖H‖_F² term: η(1 − p)f² ≤ 2t − ηp t²/r with t = tr H ≥ f = ‖H‖_F, whose right side "
    "is at most r/(ηp) (at t = r/(ηp)), so η* ≤ K(r, p)/‖H‖_F with K = √(r/(p(1 − p))) for "
    "p ≤ r/(1 + r) and K = 2r/(p + r(1 − p)) above; K ≤ 2r/p."
)
CITATION = (
    "Wu, Wang & Su (2022) for the √B/η scaling of ‖H‖_F; Ma & Ying (2021); the constants are "
    "derived here from the identity test of docs/theory/threshold.md"
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

    x, f = sympy.symbols("x f", positive=True)
    proof.identity(
        "max_t (2t − x p t²/r) = r/(x p): 2t − x p t²/r = r/(xp) − (xp/r)(t − r/(xp))²",
        2 * trace - x * p * trace**2 / r - (r / (x * p) - (x * p / r) * (trace - r / (x * p)) ** 2),
    )
    proof.identity(
        "the branches meet at p = r/(1 + r): √(r/(p(1 − p))) = 2r/(p + r(1 − p)) = 1 + r",
        sympy.sqrt(r / (p * (1 - p))).subs(p, r / (1 + r)) - (1 + r),
    )
    proof.identity(
        "second branch: x f = 2r/(p + r(1 − p)) solves x(1 − p)f² = 2f − x p f²/r",
        (x * (1 - p) * f**2 - 2 * f + x * p * f**2 / r).subs(f, 2 * r / ((p + r * (1 - p)) * x)),
    )

    def chain(problem: Quadratic) -> bool:
        for method in (SGD(1), SGD(1, replacement=True), SGD(max(1, problem.samples - 1))):
            exact = critical_learning_rate(problem, method)
            identity = identity_test_bound(problem, method)
            trace_value = trace_bound(problem, method)
            frobenius = frobenius_bound(problem, method)
            mixing = float(method.dynamics().batch.mixing(problem.samples))
            norm = float(np.linalg.norm(problem.reduced().eigenvalues))
            rank = 1
            if not problem.rank_one:
                values = np.linalg.eigvalsh(np.asarray(problem.per_sample_hessians()))
                rank = max(1, int(np.max(np.sum(values > 1e-9 * problem.sharpness, axis=1))))
            former = np.inf if mixing == 0 else 2 * rank / (mixing * norm)
            slack = 1 + 1e-10
            if not (exact <= identity * slack <= trace_value * slack**2 <= former * slack**3):
                return False
            if not (identity <= frobenius * slack <= former * slack**2):
                return False
        return True

    proof.exhaustive(
        "η* ≤ identity test ≤ trace bound, Frobenius bound ≤ 2r/(p‖H‖_F) (small integer data)",
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
