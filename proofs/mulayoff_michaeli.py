"""The exact SGD threshold ``η* = 2 / λ_max(C† D)`` (Mulayoff & Michaeli 2023, Thm 3)."""

from __future__ import annotations

import numpy as np
import sympy
from hypothesis import strategies as st

from stability import SGD, Quadratic, critical_learning_rate, spectral_radius, symbolic
from stability.bounds import mulayoff_michaeli_threshold

from ._cases import exact_threshold, random_problems, small_data_matrices
from .registry import Proof, ProofResult

NAME = "mulayoff_michaeli"
STATEMENT = (
    "SGD's second-moment operator is T(η) = I − 2ηC + η²D with C = ½ H ⊕ H and "
    "D = (1 − p) H ⊗ H + p M, self-adjoint; hence SGD is mean-square stable iff "
    "η < 2/λ_max(C† D) on range(H) ⊗ range(H)."
)
CITATION = "Mulayoff & Michaeli (2023), Exact mean square linear stability analysis for SGD, Thm 3"


def prove() -> ProofResult:
    """Derive ``T(η)`` symbolically, then the Rayleigh-quotient argument.

    Examples
    --------
    >>> from stability.proofs import mulayoff_michaeli
    >>> mulayoff_michaeli.prove().verdict
    'proved'
    """
    proof = Proof(NAME, STATEMENT, CITATION)
    eta, p = sympy.symbols("eta p", positive=True)
    problem = symbolic.symbols_problem(2, 2)
    operator = symbolic.second_moment_operator(problem, SGD(1), eta, mixing=p)
    hessians = problem.hessians
    mean = (hessians[0] + hessians[1]) / 2
    eye = sympy.eye(2)
    kron = sympy.kronecker_product
    curvature = (kron(mean, eye) + kron(eye, mean)) / 2
    per_sample = (kron(hessians[0], hessians[0]) + kron(hessians[1], hessians[1])) / 2
    noise = (1 - p) * kron(mean, mean) + p * per_sample
    proof.identity(
        "T(η) = I − 2ηC + η²D for generic symmetric 2×2 H_1, H_2 and symbolic p",
        operator - (sympy.eye(4) - 2 * eta * curvature + eta**2 * noise),
    )
    proof.identity("T(η) is symmetric (self-adjoint for ⟨A, B⟩ = tr AᵀB)", operator - operator.T)
    sigma = sympy.Matrix(4, 1, sympy.symbols("s_1:5"))
    proof.identity(
        "⟨Σ, (T − I)Σ⟩ = η (η ⟨Σ, DΣ⟩ − 2 ⟨Σ, CΣ⟩): stable at η ⇔ η D ⪯ 2C ⇔ η ≤ 2/λ_max(C†D)",
        (sigma.T * (operator - sympy.eye(4)) * sigma)[0]
        - eta * (eta * (sigma.T * noise * sigma)[0] - 2 * (sigma.T * curvature * sigma)[0]),
    )
    exact_cases = [
        data
        for data in small_data_matrices(samples=3, dimension=2)
        if np.linalg.matrix_rank(data) == 2
    ][:6]
    proof.exhaustive(
        "exact root of det(T(η) − I) equals the dense Kronecker route (rational data, B = 1)",
        exact_cases,
        lambda data: np.isclose(
            float(exact_threshold(symbolic.from_data(data.astype(int).tolist()).hessians, SGD(1))),
            mulayoff_michaeli_threshold(Quadratic.from_data(data), SGD(1)),
            rtol=1e-11,
        ),
    )

    @st.composite
    def cases(draw):
        problem = draw(random_problems(max_samples=5, max_dimension=3))
        replacement = draw(st.booleans())
        batch = draw(st.integers(1, problem.samples * (2 if replacement else 1)))
        return problem, SGD(batch, replacement=replacement)

    proof.hypothesis(
        "the Kronecker route equals the package's svec route (two implementations)",
        cases(),
        lambda case: np.isclose(
            mulayoff_michaeli_threshold(*case), critical_learning_rate(*case), rtol=1e-9
        ),
    )
    proof.hypothesis(
        "ρ(T) crosses 1 at η*: ρ < 1 at 0.999 η*, ρ > 1 at 1.001 η*",
        cases(),
        lambda case: (
            spectral_radius(*case, 0.999 * mulayoff_michaeli_threshold(*case))
            < 1
            < spectral_radius(*case, 1.001 * mulayoff_michaeli_threshold(*case))
        ),
        max_examples=25,
    )
    return proof.result()
