"""The balanced minimiser's sharpness, ``2‖w*‖^{2−2/L} λ_max(Σ_x^½ (I + (L−1)ŵŵᵀ) Σ_x^½)``."""

from __future__ import annotations

import numpy as np
import sympy
from hypothesis import strategies as st

from stability.bounds import (
    balanced_minimiser,
    balanced_minimiser_sharpness,
    deep_linear_hessian,
)
from stability.testing.strategies import data_matrices

from .registry import Proof, ProofResult

NAME = "balanced_minimiser"
STATEMENT = (
    "At the balanced rank-one minimiser W_1 = s u ŵᵀ, W_k = s u uᵀ, W_L = s uᵀ (s = ‖w*‖^{1/L}), "
    "J Jᵀ = s^{2L−2} (I + (L − 1) ŵŵᵀ), so its sharpness is "
    "2‖w*‖^{2−2/L} λ_max(Σ_x^{1/2}(I + (L − 1)ŵŵᵀ)Σ_x^{1/2})."
)
CITATION = "Marion & Chizat (2024); docs/theory/deep-linear.md"


def _jacobian_gram(layers: list[sympy.Matrix], dimension: int) -> sympy.Matrix:
    """``Σ_k ‖a_k‖² b_kᵀ b_k`` with ``a_k = W_L⋯W_{k+1}``, ``b_k = W_{k−1}⋯W_1``."""
    total = sympy.zeros(dimension, dimension)
    for k in range(len(layers)):
        after = sympy.eye(1)
        for layer in reversed(layers[k + 1 :]):
            after = after * layer
        before = sympy.eye(dimension)
        for layer in layers[:k]:
            before = layer * before
        total += (after * after.T)[0] * before.T * before
    return total


def prove() -> ProofResult:
    """``J Jᵀ`` in SymPy for ``L ≤ 4``; the closed form against the Hessian.

    Examples
    --------
    >>> from stability.proofs import balanced_minimiser
    >>> balanced_minimiser.prove().verdict
    'proved'
    """
    proof = Proof(NAME, STATEMENT, CITATION)
    s = sympy.Symbol("s", positive=True)
    theta = sympy.Symbol("theta", real=True)
    w_hat = sympy.Matrix([sympy.cos(theta), sympy.sin(theta)])
    for depth in (2, 3, 4):
        unit = sympy.Matrix([1, 0])
        layers = [s * unit * w_hat.T]
        layers += [s * unit * unit.T for _ in range(depth - 2)]
        layers.append(s * unit.T)
        product = sympy.eye(2)
        for layer in layers:
            product = layer * product
        proof.identity(f"L = {depth}: the product W_L⋯W_1 is s^L ŵᵀ", product - s**depth * w_hat.T)
        proof.identity(
            f"L = {depth}: J Jᵀ = s^(2L−2) (I + (L − 1) ŵŵᵀ) (width 2, generic unit ŵ)",
            _jacobian_gram(layers, 2)
            - s ** (2 * depth - 2) * (sympy.eye(2) + (depth - 1) * w_hat * w_hat.T),
        )

    @st.composite
    def cases(draw):
        data = draw(data_matrices(min_samples=1, max_samples=5, max_dimension=3))
        rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
        targets = rng.standard_normal(data.shape[0])
        return data, targets, draw(st.integers(1, 4)), draw(st.integers(1, 3))

    proof.hypothesis(
        "closed form = λ_max of the Hessian 2 Jᵀ Σ_x J at the balanced minimiser (any width)",
        cases(),
        lambda case: np.isclose(
            balanced_minimiser_sharpness(case[0], case[1], case[2]),
            float(
                np.linalg.eigvalsh(
                    deep_linear_hessian(
                        case[0],
                        case[1],
                        balanced_minimiser(case[0], case[1], case[2], width=case[3]),
                    )
                )[-1]
            ),
            rtol=1e-9,
            atol=1e-12,
        ),
    )
    return proof.result()
