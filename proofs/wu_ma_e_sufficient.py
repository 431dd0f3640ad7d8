"""Wu, Ma & E's sufficient condition ``λ_max(E(I − ηH_B)²) ≤ 1`` and its closed form."""

from __future__ import annotations

import itertools

import numpy as np
import sympy
from hypothesis import strategies as st

from stability import SGD, Quadratic, critical_learning_rate, symbolic
from stability.bounds import (
    commuting_threshold,
    wu_ma_e_sufficient_condition,
    wu_ma_e_sufficient_threshold,
)
from stability.testing.strategies import commuting_hessians, one_dimensional_hessians

from ._cases import random_problems, small_data_matrices
from .registry import Proof, ProofResult

NAME = "wu_ma_e_sufficient"
STATEMENT = (
    "E(I − ηH_B)² = (I − ηH)² + η² p (mean H_i² − H²); if its largest eigenvalue on range(H) "
    "is ≤ 1 then E‖δ_t‖² never increases (sufficient for stability). The largest such η is "
    "2/λ_max(H^{-1/2} E[H_B²] H^{-1/2}) ≤ η*, with equality in 1-D and for commuting H_i."
)
CITATION = "Wu, Ma & E (2018), How SGD selects the global minima; docs/theory/threshold.md"


def _batches(samples: int, batch: int, replacement: bool):
    if replacement:
        draws = list(itertools.product(range(samples), repeat=batch))
    else:
        draws = list(itertools.combinations(range(samples), batch))
    return draws, sympy.Rational(1, len(draws))


def prove() -> ProofResult:
    """Enumerate the batches of generic symbolic Hessians, then the Rayleigh argument.

    Examples
    --------
    >>> from stability.proofs import wu_ma_e_sufficient
    >>> wu_ma_e_sufficient.prove().verdict
    'proved'
    """
    proof = Proof(NAME, STATEMENT, CITATION)
    eta = sympy.Symbol("eta", positive=True)
    hessians = symbolic.symbols_problem(2, 3).hessians
    mean = sum(hessians, sympy.zeros(2, 2)) / 3
    squares = sum((h * h for h in hessians), sympy.zeros(2, 2)) / 3
    for batch, replacement in ((2, False), (2, True), (1, True)):
        draws, weight = _batches(3, batch, replacement)
        expected_square = sympy.zeros(2, 2)
        for draw in draws:
            step = sympy.eye(2) - eta * sum((hessians[i] for i in draw), sympy.zeros(2, 2)) / batch
            expected_square += weight * step * step
        p = sympy.Rational(1, batch) if replacement else sympy.Rational(3 - batch, batch * 2)
        closed = (sympy.eye(2) - eta * mean) ** 2 + eta**2 * p * (squares - mean * mean)
        proof.identity(
            f"E(I − ηH_B)² = (I − ηH)² + η²p(mean H_i² − H²) by enumeration "
            f"(n = 3, B = {batch}, {'with' if replacement else 'without'} replacement)",
            expected_square - closed,
        )
    v = sympy.Matrix(sympy.symbols("v_1:3", real=True))
    p = sympy.Symbol("p", positive=True)
    batch_square = (1 - p) * mean * mean + p * squares
    q = (sympy.eye(2) - eta * mean) ** 2 + eta**2 * p * (squares - mean * mean)
    proof.identity(
        "vᵀ(Q(η) − I)v = η(η vᵀE[H_B²]v − 2 vᵀHv): λ_max(Q) ≤ 1 ⇔ η ≤ 2 vᵀHv / vᵀE[H_B²]v ∀v",
        (v.T * (q - sympy.eye(2)) * v)[0]
        - eta * (eta * (v.T * batch_square * v)[0] - 2 * (v.T * mean * v)[0]),
    )

    def sufficient(problem: Quadratic) -> bool:
        for method in (SGD(1), SGD(1, replacement=True), SGD(problem.samples)):
            value = wu_ma_e_sufficient_threshold(problem, method)
            exact = critical_learning_rate(problem, method)
            if value > exact * (1 + 1e-10):
                return False
            if not wu_ma_e_sufficient_condition(problem, method, value * (1 - 1e-9)):
                return False
            if wu_ma_e_sufficient_condition(problem, method, value * (1 + 1e-6)):
                return False
        return True

    proof.exhaustive(
        "closed form ≤ η*, and it is where λ_max(Q(η)) crosses 1 (small integer data)",
        [Quadratic.from_data(data) for data in small_data_matrices(samples=3, dimension=2)],
        sufficient,
    )
    proof.hypothesis("the same on random problems", random_problems(), sufficient)
    proof.hypothesis(
        "tight in one dimension",
        one_dimensional_hessians(min_samples=2),
        lambda stack: np.isclose(
            wu_ma_e_sufficient_threshold(Quadratic.from_hessians(stack), SGD(1)),
            critical_learning_rate(Quadratic.from_hessians(stack), SGD(1)),
            rtol=1e-10,
        ),
    )
    proof.hypothesis(
        "tight for commuting H_i",
        st.tuples(commuting_hessians(min_samples=2), st.booleans()),
        lambda case: np.isclose(
            wu_ma_e_sufficient_threshold(
                Quadratic.from_hessians(case[0]), SGD(1, replacement=case[1])
            ),
            commuting_threshold(Quadratic.from_hessians(case[0]), SGD(1, replacement=case[1])),
            rtol=1e-9,
        ),
    )
    return proof.result()
