"""The Hessian of a deep linear network at a minimiser is ``2 Jᵀ Σ_x J``."""

from __future__ import annotations

import numpy as np
import sympy

from stability.bounds import deep_linear_hessian, deep_linear_loss
from stability.testing.strategies import deep_linear_minimisers

from .registry import Proof, ProofResult

NAME = "deep_linear_hessian"
STATEMENT = (
    "For f(x) = W_L⋯W_1 x and R = (1/n) Σ (f(x_i) − y_i)², at every minimiser (Xᵀ r = 0) the "
    "Hessian is 2 Jᵀ Σ_x J with J[V] = (Σ_k W_L⋯W_{k+1} V_k W_{k−1}⋯W_1)ᵀ, whatever the "
    "widths, and J Jᵀ = Σ_k ‖W_L⋯W_{k+1}‖² (W_{k−1}⋯W_1)ᵀ(W_{k−1}⋯W_1)."
)
CITATION = "Marion & Chizat (2024); docs/theory/deep-linear.md"


def _finite_difference_hessian(X, y, layers, step=1e-4) -> np.ndarray:
    shapes = [layer.shape for layer in layers]
    sizes = [layer.size for layer in layers]
    theta = np.concatenate([layer.ravel() for layer in layers])

    def loss(vector):
        parts, start = [], 0
        for shape, size in zip(shapes, sizes, strict=True):
            parts.append(vector[start : start + size].reshape(shape))
            start += size
        return deep_linear_loss(X, y, parts)

    count = theta.size
    result = np.zeros((count, count))
    unit = np.eye(count) * step
    for i in range(count):
        for j in range(i, count):
            value = (
                loss(theta + unit[i] + unit[j])
                - loss(theta + unit[i] - unit[j])
                - loss(theta - unit[i] + unit[j])
                + loss(theta - unit[i] - unit[j])
            ) / (4 * step * step)
            result[i, j] = result[j, i] = value
    return result


def prove() -> ProofResult:
    """Exact SymPy Hessian at a one-parameter family of minimisers; finite differences.

    Examples
    --------
    >>> from stability.proofs import deep_linear_hessian
    >>> deep_linear_hessian.prove().verdict
    'proved'
    """
    proof = Proof(NAME, STATEMENT, CITATION)
    # L = 2, d = 2, width 1, n = 3 rational data that cannot be interpolated (r ≠ 0):
    X = sympy.Matrix([[1, 0], [0, 1], [1, 1]])
    y = sympy.Matrix([1, 2, 0])
    w_star = (X.T * X).inv() * X.T * y
    c = sympy.Symbol("c", nonzero=True, real=True)
    a1, a2, b = sympy.symbols("a_1 a_2 b", real=True)
    params = [a1, a2, b]
    # network: W_1 = (a1 a2), W_2 = (b); f(x) = b (a1 x1 + a2 x2)
    residual = X * sympy.Matrix([b * a1, b * a2]) - y
    loss = (residual.T * residual)[0] / 3
    hessian = sympy.hessian(loss, params)
    minimiser = {a1: w_star[0] / c, a2: w_star[1] / c, b: c}
    at_minimum = hessian.subs(minimiser)
    jacobian = sympy.Matrix([[b, 0, a1], [0, b, a2]]).subs(minimiser)
    covariance = X.T * X / 3
    proof.check(
        "the data do not interpolate (the residual term Σ r_i ∇²f_i is not trivially zero)",
        (X * w_star - y) != sympy.zeros(3, 1),
    )
    proof.identity(
        "exact Hessian of R = 2 Jᵀ Σ_x J on the whole family W_1 = w*ᵀ/c, W_2 = c",
        at_minimum - 2 * jacobian.T * covariance * jacobian,
    )
    proof.identity(
        "the gradient vanishes on that family (it is a family of minimisers)",
        sympy.Matrix([sympy.diff(loss, p) for p in params]).subs(minimiser),
    )
    proof.identity(
        "J Jᵀ = ‖W_2‖² I + W_1ᵀ W_1 (the sum over layers)",
        jacobian * jacobian.T
        - (
            c**2 * sympy.eye(2)
            + sympy.Matrix([[a1, a2]]).subs(minimiser).T * sympy.Matrix([[a1, a2]]).subs(minimiser)
        ),
    )

    def matches(case) -> bool:
        X_value, y_value, layers = case
        exact = deep_linear_hessian(X_value, y_value, layers)
        approximate = _finite_difference_hessian(X_value, y_value, layers)
        scale = max(1.0, float(np.abs(exact).max()))
        return bool(np.abs(exact - approximate).max() <= 1e-5 * scale)

    proof.hypothesis(
        "2 Jᵀ Σ_x J equals the finite-difference Hessian of R at random minimisers (any widths)",
        deep_linear_minimisers(max_samples=4, max_dimension=3, max_depth=3, max_width=2),
        matches,
        max_examples=15,
    )
    return proof.result()
