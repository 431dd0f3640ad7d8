"""Flatness in the first layer bounds input gradients: ``‖∇_x f‖ ≤ ‖W‖₂ ‖∇_W f‖_F / ‖x‖``."""

from __future__ import annotations

import numpy as np
import sympy
from hypothesis import strategies as st

from .registry import Proof, ProofResult

NAME = "first_layer"
STATEMENT = (
    "For f(x) = g(Wx): ∇_W f = (∇_z g) xᵀ and ∇_x f = Wᵀ ∇_z g, hence "
    "‖∇_W f‖_F = ‖∇_z g‖ ‖x‖ and ‖∇_x f(x)‖ ≤ ‖W‖₂ ‖∇_W f(x)‖_F / ‖x‖."
)
CITATION = (
    "Ma & Ying (2021), On linear stability of SGD and input-smoothness; "
    "docs/theory/higher-moments.md"
)


def _network(weights: np.ndarray, head: np.ndarray, x: np.ndarray) -> float:
    return float(head @ np.tanh(weights @ x))


def prove() -> ProofResult:
    """Chain rule in SymPy, then the inequality on random two-layer networks.

    Examples
    --------
    >>> from stability.proofs import first_layer
    >>> first_layer.prove().verdict
    'proved'
    """
    proof = Proof(NAME, STATEMENT, CITATION)
    w = sympy.Matrix(2, 2, sympy.symbols("w_11 w_12 w_21 w_22", real=True))
    x = sympy.Matrix(sympy.symbols("x_1 x_2", real=True))
    v = sympy.Matrix(sympy.symbols("v_1 v_2", real=True))
    z = w * x
    f = (v.T * z.applyfunc(sympy.tanh))[0]
    gradient_z = sympy.Matrix([v[i] * (1 - sympy.tanh(z[i]) ** 2) for i in range(2)])
    gradient_w = sympy.Matrix(2, 2, lambda i, j: sympy.diff(f, w[i, j]))
    gradient_x = sympy.Matrix([sympy.diff(f, x[i]) for i in range(2)])
    proof.identity("∇_W f = (∇_z g) xᵀ (two-layer tanh network)", gradient_w - gradient_z * x.T)
    proof.identity("∇_x f = Wᵀ ∇_z g", gradient_x - w.T * gradient_z)
    g = sympy.Matrix(sympy.symbols("g_1 g_2", real=True))
    outer = g * x.T
    proof.identity(
        "‖g xᵀ‖_F² = ‖g‖² ‖x‖²",
        sum(entry**2 for entry in outer) - (g.T * g)[0] * (x.T * x)[0],
    )

    @st.composite
    def cases(draw):
        rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
        width, dimension = draw(st.integers(1, 5)), draw(st.integers(1, 5))
        return (
            rng.standard_normal((width, dimension)),
            rng.standard_normal(width),
            rng.standard_normal(dimension),
        )

    def bound_holds(case) -> bool:
        weights, head, x_value = case
        step = 1e-6
        grad_x = np.array(
            [
                (
                    _network(weights, head, x_value + step * e)
                    - _network(weights, head, x_value - step * e)
                )
                / (2 * step)
                for e in np.eye(len(x_value))
            ]
        )
        grad_w = np.zeros_like(weights)
        for index in np.ndindex(weights.shape):
            bump = np.zeros_like(weights)
            bump[index] = step
            grad_w[index] = (
                _network(weights + bump, head, x_value) - _network(weights - bump, head, x_value)
            ) / (2 * step)
        left = np.linalg.norm(grad_x)
        right = np.linalg.norm(weights, 2) * np.linalg.norm(grad_w) / np.linalg.norm(x_value)
        return bool(left <= right * (1 + 1e-6) + 1e-9)

    proof.hypothesis(
        "‖∇_x f‖ ≤ ‖W‖₂ ‖∇_W f‖_F / ‖x‖ on random tanh networks (finite differences)",
        cases(),
        bound_holds,
    )
    return proof.result()
