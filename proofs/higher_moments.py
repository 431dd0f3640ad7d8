"""Higher moments: ``η*_k`` is non-increasing in ``k`` and tends to ``2 / max_B λ_max(H_B)``."""

from __future__ import annotations

import itertools

import numpy as np
import sympy
from hypothesis import strategies as st

from stability import SGD, Quadratic, critical_learning_rate
from stability.bounds import infinite_moment_threshold, moment_threshold
from stability.numeric import moment_spectral_radius
from stability.testing.strategies import commuting_hessians, data_matrices

from ._cases import curvature_lists
from .registry import Proof, ProofResult

NAME = "higher_moments"
STATEMENT = (
    "k-th moment stability (sup_t E‖δ_t‖^k < ∞): in 1-D iff E|1 − ηh_B|^k ≤ 1; for even k the "
    "growth rate is ρ(E[A^⊗k]) on symmetric tensors. η*_k is non-increasing in k (Lyapunov's "
    "inequality), η*_2 is the mean-square threshold, and η*_k → 2/max_B λ_max(H_B) as k → ∞. "
    "For odd k the signed tensor E[A^⊗k] is the wrong object: with h_B ∈ {0, 2}, "
    "E(1 − ηh_B)³ ≥ −1 up to η = (1 + 3^{1/3})/2 > η*_2 = 1, whereas η*_3 = 1."
)
CITATION = "Ma & Ying (2021); docs/theory/higher-moments.md"


def prove() -> ProofResult:
    """Exact 1-D roots, Lyapunov's inequality, the tensor operator against brute force.

    Examples
    --------
    >>> from stability.proofs import higher_moments
    >>> higher_moments.prove().verdict
    'proved'
    """
    proof = Proof(NAME, STATEMENT, CITATION)
    eta = sympy.Symbol("eta", positive=True)
    # the counterexample for odd k with the signed tensor: h ∈ {0, 2}, p = 1
    signed = sympy.Rational(1, 2) * (1 + (1 - 2 * eta) ** 3)
    root = sympy.solve(sympy.Eq(signed, -1), eta)
    real_roots = [r for r in root if r.is_real]
    proof.check(
        "signed third moment E(1 − ηh)³ = −1 at η = (1 + 3^{1/3})/2 ≈ 1.221 (h ∈ {0, 2})",
        len(real_roots) == 1 and sympy.simplify(real_roots[0] - (1 + sympy.cbrt(3)) / 2) == 0,
        str(real_roots),
    )
    mean_square = sympy.solve(sympy.Eq(sympy.Rational(1, 2) * (1 + (1 - 2 * eta) ** 2), 1), eta)
    proof.check("while E(1 − ηh)² = 1 at η = 1 (mean square)", mean_square == [1])
    problem = Quadratic.from_hessians([[[0.0]], [[2.0]]])
    third = moment_threshold(problem, SGD(1), 3)
    proof.check(
        "the absolute third moment (1 + |1 − 2η|³)/2 ≤ 1 only up to η*_3 = 1 = η*_2",
        np.isclose(third, 1.0, rtol=1e-12)
        and np.isclose(moment_threshold(problem, SGD(1), 2), 1.0, rtol=1e-12),
        f"η*_3 = {third:.15g}",
    )

    def monotone_one_dimensional(curvatures) -> bool:
        problem = Quadratic.from_hessians([[[float(h)]] for h in curvatures])
        method = SGD(1, replacement=True)
        values = [moment_threshold(problem, method, k) for k in range(1, 9)]
        limit = infinite_moment_threshold(problem, method)
        samples = np.array(curvatures, dtype=float)
        exact = [
            np.isclose(np.mean(np.abs(1 - value * samples) ** k), 1.0, rtol=1e-9)
            for k, value in enumerate(values, start=1)
        ]
        return (
            all(exact)
            and all(a >= b * (1 - 1e-12) for a, b in itertools.pairwise(values))
            and all(value >= limit * (1 - 1e-12) for value in values)
            and np.isclose(values[1], critical_learning_rate(problem, method), rtol=1e-10)
        )

    proof.exhaustive(
        "1-D exact roots: η*_1 ≥ η*_2 ≥ … ≥ η*_8 ≥ 2/max h, η*_2 = mean-square threshold",
        list(curvature_lists(3))[::3],
        monotone_one_dimensional,
    )
    proof.check(
        "k → ∞: η*_k approaches 2/max h (h ∈ {1, 3}, k = 200)",
        np.isclose(
            moment_threshold(Quadratic.from_hessians([[[1.0]], [[3.0]]]), SGD(1), 200),
            2 / 3,
            rtol=1e-2,
        ),
    )

    def brute_force_radius(case) -> bool:
        data, lr_fraction = case
        problem = Quadratic.from_data(data)
        method = SGD(1)
        lr = lr_fraction * critical_learning_rate(problem, method)
        basis = problem.reduced().basis
        rows = data @ basis
        size = rows.shape[1]
        total = np.zeros((size**4, size**4))
        for row in rows:
            step = np.eye(size) - lr * np.outer(row, row)
            lifted = np.kron(np.kron(step, step), np.kron(step, step))
            total += lifted / len(rows)
        permutations = list(itertools.permutations(range(4)))
        projector = np.zeros_like(total)
        for permutation in permutations:
            index = np.arange(size**4).reshape((size,) * 4).transpose(permutation).ravel()
            projector[np.arange(size**4), index] += 1.0 / len(permutations)
        brute = np.max(np.abs(np.linalg.eigvals(projector @ total @ projector)))
        return bool(np.isclose(moment_spectral_radius(problem, method, lr, 4), brute, rtol=1e-9))

    proof.hypothesis(
        "matrix-free ρ(E[A^⊗4]) on symmetric tensors = brute-force Kronecker with a projector",
        st.tuples(
            data_matrices(min_samples=2, max_samples=4, max_dimension=2), st.floats(0.3, 1.2)
        ),
        brute_force_radius,
        max_examples=15,
    )

    def commuting_split(case) -> bool:
        stack, replacement = case
        problem = Quadratic.from_hessians(stack)
        method = SGD(1, replacement=replacement)
        exact = moment_threshold(problem, method, 4)
        # per common eigen-direction: the 1-D fourth-moment thresholds
        combination = np.tensordot(np.linspace(1.0, 2.0, len(stack)), stack, axes=1)
        _, vectors = np.linalg.eigh(combination)
        values = []
        for vector in vectors.T:
            curvatures = np.einsum("i,nij,j->n", vector, stack, vector)
            if curvatures.max() > 1e-9 * np.abs(stack).max():
                one = Quadratic.from_hessians(curvatures[:, None, None])
                values.append(moment_threshold(one, method, 4))
        return bool(np.isclose(exact, min(values), rtol=1e-8))

    proof.hypothesis(
        "commuting H_i: η*_4 is the smallest 1-D fourth-moment threshold (Hölder on mixed terms)",
        st.tuples(commuting_hessians(min_samples=2, max_dimension=3, max_samples=3), st.booleans()),
        commuting_split,
        max_examples=15,
    )
    return proof.result()
