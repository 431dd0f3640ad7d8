"""``η*`` is non-decreasing in the batch size and depends on the batch law only through ``p``."""

from __future__ import annotations

import itertools

import numpy as np
import sympy
from hypothesis import strategies as st

from stability import GD, SGD, Quadratic, critical_learning_rate, symbolic
from stability.bounds import equivalent_batch_size, mixing_weight

from ._cases import random_problems, small_data_matrices
from .registry import Proof, ProofResult

NAME = "batch_monotonicity"
STATEMENT = (
    "The mixing weight p is non-increasing in B and D(p) = H ⊗ H + p (M − H ⊗ H) with "
    "M − H ⊗ H = (1/n) Σ (H_i − H) ⊗ (H_i − H) ⪰ 0, so η* = 2/λ_max(C†D(p)) is non-increasing "
    "in p: non-decreasing in B; equal p gives equal η* (n = 6: B = 5 with replacement ≡ B = 3 "
    "without); B = n without replacement is GD."
)
CITATION = "Mulayoff & Michaeli (2023); docs/theory/threshold.md"


def prove() -> ProofResult:
    """Closed forms of ``p(B)``, the covariance identity, then exhaustive and random checks.

    Examples
    --------
    >>> from stability.proofs import batch_monotonicity
    >>> batch_monotonicity.prove().verdict
    'proved'
    """
    proof = Proof(NAME, STATEMENT, CITATION)
    n, b = sympy.symbols("n B", positive=True)
    without = sympy.Lambda(b, (n - b) / (b * (n - 1)))
    proof.identity(
        "without replacement: p(B) − p(B + 1) = n/(B(B + 1)(n − 1)) ≥ 0",
        without(b) - without(b + 1) - n / (b * (b + 1) * (n - 1)),
    )
    proof.identity(
        "with replacement: 1/B − 1/(B + 1) = 1/(B(B + 1)) ≥ 0",
        1 / b - 1 / (b + 1) - 1 / (b * (b + 1)),
    )
    proof.identity(
        "equal p: without-replacement B ≡ with-replacement B(n − 1)/(n − B)",
        without(b) - 1 / (b * (n - 1) / (n - b)),
    )
    proof.check("n = 6: B = 3 without ≡ B = 5 with replacement", equivalent_batch_size(6, 3) == 5)
    problem = symbolic.symbols_problem(2, 3)
    hessians = problem.hessians
    kron = sympy.kronecker_product
    mean = sum(hessians, sympy.zeros(2, 2)) / 3
    per_sample = sum((kron(h, h) for h in hessians), sympy.zeros(4, 4)) / 3
    covariance = sum((kron(h - mean, h - mean) for h in hessians), sympy.zeros(4, 4)) / 3
    proof.identity(
        "M − H ⊗ H = (1/n) Σ (H_i − H) ⊗ (H_i − H) (generic 2×2, n = 3): a PSD map",
        per_sample - kron(mean, mean) - covariance,
    )
    p = sympy.Symbol("p", positive=True)
    proof.identity(
        "∂T/∂p = η² (M − H ⊗ H): raising p adds a PSD term to T, so ρ(T) cannot decrease",
        sympy.diff(symbolic.second_moment_operator(problem, SGD(1), mixing=p), p)
        - symbolic.LEARNING_RATE**2 * (per_sample - kron(mean, mean)),
    )

    def monotone(data: np.ndarray) -> bool:
        problem = Quadratic.from_data(data)
        samples = problem.samples
        values = [critical_learning_rate(problem, SGD(k)) for k in range(1, samples + 1)]
        with_values = [critical_learning_rate(problem, SGD(k, True)) for k in range(1, 7)]
        gd = critical_learning_rate(problem, GD())
        return (
            all(a <= c * (1 + 1e-10) for a, c in itertools.pairwise(values))
            and all(a <= c * (1 + 1e-10) for a, c in itertools.pairwise(with_values))
            and np.isclose(values[-1], gd, rtol=1e-10)
            and all(v <= gd * (1 + 1e-10) for v in values + with_values)
        )

    proof.exhaustive(
        "η* non-decreasing in B (both samplings), SGD(B = n) = GD, on small integer data",
        list(small_data_matrices(samples=3, dimension=2)),
        monotone,
    )

    @st.composite
    def six_samples(draw):
        from stability.testing.strategies import data_matrices

        return Quadratic.from_data(
            draw(data_matrices(min_samples=6, max_samples=6, max_dimension=3))
        )

    proof.hypothesis(
        "n = 6: η*(B = 3 without) = η*(B = 5 with replacement) on random data",
        six_samples(),
        lambda problem: np.isclose(
            critical_learning_rate(problem, SGD(3)),
            critical_learning_rate(problem, SGD(5, replacement=True)),
            rtol=1e-10,
        ),
        max_examples=25,
    )

    @st.composite
    def problem_and_batches(draw):
        problem = draw(random_problems(max_samples=5, max_dimension=3))
        first, second = sorted(
            draw(st.lists(st.integers(1, problem.samples), min_size=2, max_size=2))
        )
        return problem, first, second

    proof.hypothesis(
        "η*(B) ≤ η*(B') for B ≤ B' on random problems, and p(B) ≥ p(B')",
        problem_and_batches(),
        lambda case: (
            critical_learning_rate(case[0], SGD(case[1]))
            <= critical_learning_rate(case[0], SGD(case[2])) * (1 + 1e-10)
            and mixing_weight(case[0].samples, case[1]) >= mixing_weight(case[0].samples, case[2])
        ),
    )
    return proof.result()
