"""The rank-one necessary condition: ``(1 − η a_v)² + η² p s_v² ≤ 1`` for every unit ``v``."""

from __future__ import annotations

import numpy as np
import sympy
from hypothesis import strategies as st

from stability import SGD, Quadratic, critical_learning_rate, symbolic
from stability.bounds import commuting_threshold, rank_one_test_bound, wu_ma_e_threshold
from stability.testing.strategies import commuting_hessians, one_dimensional_hessians

from ._cases import random_problems, small_data_matrices
from .registry import Proof, ProofResult

NAME = "rank_one_test"
STATEMENT = (
    "For every unit v, with a_v = vᵀHv and s_v² = mean_i (vᵀH_i v)² − a_v², mean-square "
    "stability at η requires (1 − ηa_v)² + η² p s_v² ≤ 1, i.e. η* ≤ 2a_v/(a_v² + p s_v²); "
    "equality in one dimension and, minimised over eigenvectors, for commuting H_i."
)
CITATION = (
    "Mulayoff & Michaeli (2023) (test matrix Σ = vvᵀ); Wu, Ma & E (2018); docs/theory/threshold.md"
)


def prove() -> ProofResult:
    """The Rayleigh quotient of ``T(η)`` at ``vec(v vᵀ)``, then checks on the right side.

    Examples
    --------
    >>> from stability.proofs import rank_one_test
    >>> rank_one_test.prove().verdict
    'proved'
    """
    proof = Proof(NAME, STATEMENT, CITATION)
    eta, p = sympy.symbols("eta p", positive=True)
    v1, v2 = sympy.symbols("v_1 v_2", real=True)
    problem = symbolic.symbols_problem(2, 2)
    operator = symbolic.second_moment_operator(problem, SGD(1), eta, mixing=p)
    v = sympy.Matrix([v1, v2])
    outer = (v * v.T).reshape(4, 1)
    quadratic = [(v.T * h * v)[0] for h in problem.hessians]
    a = sum(quadratic) / 2
    second = sum(q**2 for q in quadratic) / 2
    norm = (v.T * v)[0]
    # homogeneous form (v not normalised):
    # ⟨vvᵀ, T vvᵀ⟩ = |v|⁴ − 2η|v|² a_v + η²((1 − p)a_v² + p mean q²)
    proof.identity(
        "⟨vvᵀ, T(η) vvᵀ⟩ = (1 − η a_v)² + η² p s_v² for |v| = 1 (homogeneous form, generic 2×2)",
        (outer.T * operator * outer)[0]
        - (norm**2 - 2 * eta * norm * a + eta**2 * ((1 - p) * a**2 + p * second)),
    )
    proof.identity("T(η) is symmetric, so ⟨Σ, TΣ⟩ ≤ λ_max(T)|Σ|² ≤ ρ(T)|Σ|²", operator - operator.T)
    av, sv = sympy.symbols("a_v s_v", positive=True)
    proof.identity(
        "(1 − ηa)² + η² p s² ≤ 1 ⇔ η ≤ 2a/(a² + ps²): the excess is η(η(a² + ps²) − 2a)",
        (1 - eta * av) ** 2 + eta**2 * p * sv**2 - 1 - eta * (eta * (av**2 + p * sv**2) - 2 * av),
    )

    def holds(problem: Quadratic) -> bool:
        for method in (SGD(1), SGD(1, replacement=True), SGD(problem.samples)):
            exact = critical_learning_rate(problem, method)
            rng = np.random.default_rng(problem.dimension)
            directions = [None, *rng.standard_normal((3, problem.dimension))]
            for direction in directions:
                if rank_one_test_bound(problem, method, direction) < exact * (1 - 1e-10):
                    return False
        return True

    proof.exhaustive(
        "η* ≤ bound for the eigenvectors of H and 3 random directions (small integer data)",
        [Quadratic.from_data(data) for data in small_data_matrices(samples=3, dimension=2)],
        holds,
    )
    proof.hypothesis("η* ≤ bound on random problems", random_problems(), holds)
    proof.hypothesis(
        "tight in one dimension: bound = η* = wu_ma_e_threshold",
        one_dimensional_hessians(min_samples=2),
        lambda stack: np.isclose(
            rank_one_test_bound(Quadratic.from_hessians(stack), SGD(1)),
            wu_ma_e_threshold(Quadratic.from_hessians(stack), SGD(1)),
            rtol=1e-10,
        ),
    )
    proof.hypothesis(
        "tight for commuting H_i (minimum over the eigenvectors of H)",
        st.tuples(commuting_hessians(min_samples=2), st.booleans()),
        lambda case: _tight_commuting(case[0], SGD(1, replacement=case[1])),
    )
    return proof.result()


def _tight_commuting(stack: np.ndarray, method: SGD) -> bool:
    problem = Quadratic.from_hessians(stack)
    exact = critical_learning_rate(problem, method)
    # with repeated eigenvalues of H the eigenvectors of H need not diagonalise every H_i;
    # use the common eigenbasis instead (the closed form of commuting_threshold)
    return bool(
        np.isclose(commuting_threshold(problem, method), exact, rtol=1e-9)
        and rank_one_test_bound(problem, method) >= exact * (1 - 1e-10)
        and _min_over_common_basis(stack, method) <= exact * (1 + 1e-9)
    )


def _min_over_common_basis(stack: np.ndarray, method: SGD) -> float:
    problem = Quadratic.from_hessians(stack)
    combination = np.tensordot(np.linspace(1.0, 2.0, len(stack)), stack, axes=1)
    _, vectors = np.linalg.eigh(combination)
    values = [
        rank_one_test_bound(problem, method, vector)
        for vector in vectors.T
        if vector @ problem.hessian @ vector > 1e-12 * problem.sharpness
    ]
    return min(values)
