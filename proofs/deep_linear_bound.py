"""Every deep linear minimiser has sharpness ``≥ 2L ‖Σ_x w*‖^{2/L} (w*ᵀΣ_x w*)^{1−2/L}``."""

from __future__ import annotations

import itertools

import numpy as np
import sympy

from stability.bounds import (
    balanced_minimiser_sharpness,
    deep_linear_hessian,
    deep_linear_sharpness_lower_bound,
)
from stability.testing.strategies import deep_linear_minimisers

from .registry import Proof, ProofResult

NAME = "deep_linear_bound"
STATEMENT = (
    "Every minimiser of R = (1/n) Σ (W_L⋯W_1 x_i − y_i)² has λ_max(∇²R) ≥ "
    "2L ‖Σ_x w*‖^{2/L} (w*ᵀ Σ_x w*)^{1−2/L} ≥ 2L ‖w*‖^{2−2/L} ŵᵀΣ_xŵ; GD with η above 2 over "
    "that bound converges to no minimiser. Equality at the balanced minimiser when Σ_x = I."
)
CITATION = "Marion & Chizat (2024); docs/theory/deep-linear.md"


def prove() -> ProofResult:
    """AM–GM and Cauchy–Schwarz steps in SymPy; the bound against exact sharpness.

    Examples
    --------
    >>> from stability.proofs import deep_linear_bound
    >>> deep_linear_bound.prove().verdict
    'proved'
    """
    proof = Proof(NAME, STATEMENT, CITATION)
    t1, t2 = sympy.symbols("t_1:3", positive=True)
    proof.identity(
        "AM–GM for L = 2: t₁² + t₂² − 2 t₁t₂ = (t₁ − t₂)²",
        t1**2 + t2**2 - 2 * t1 * t2 - (t1 - t2) ** 2,
    )
    u, v, w = sympy.symbols("u v w", positive=True)
    proof.identity(
        "AM–GM for L = 3 (u = t₁^{2/3}, …): u³ + v³ + w³ − 3uvw = ½(u + v + w)Σ(u − v)²",
        u**3
        + v**3
        + w**3
        - 3 * u * v * w
        - (u + v + w) * ((u - v) ** 2 + (v - w) ** 2 + (w - u) ** 2) / 2,
    )
    a = sympy.Matrix(sympy.symbols("a_1:3", real=True))
    c = sympy.Matrix(sympy.symbols("c_1:3", real=True))
    proof.identity(
        "Cauchy–Schwarz (Lagrange): ‖a‖²‖c‖² − (aᵀc)² = (a₁c₂ − a₂c₁)² ≥ 0",
        (a.T * a)[0] * (c.T * c)[0] - (a.T * c)[0] ** 2 - (a[0] * c[1] - a[1] * c[0]) ** 2,
    )
    norm, energy, depth = sympy.symbols("N E L", positive=True)
    # with ‖Σ_x w‖ ≥ ‖w‖ a (a = ŵᵀΣ_xŵ) and wᵀΣ_x w = ‖w‖² a: the weaker form
    proof.identity(
        "2L (‖w‖a)^{2/L} (‖w‖²a)^{1 − 2/L} = 2L ‖w‖^{2 − 2/L} a",
        sympy.powsimp(
            2 * depth * (norm * energy) ** (2 / depth) * (norm**2 * energy) ** (1 - 2 / depth),
            force=True,
        )
        - 2 * depth * norm ** (2 - 2 / depth) * energy,
    )

    def below_sharpness(case) -> bool:
        X, y, layers = case
        sharpness = float(np.linalg.eigvalsh(deep_linear_hessian(X, y, layers))[-1])
        depth_value = len(layers)
        bound = deep_linear_sharpness_lower_bound(X, y, depth_value)
        weaker = deep_linear_sharpness_lower_bound(X, y, depth_value, simplified=True)
        return bool(weaker <= bound * (1 + 1e-10) and bound <= sharpness * (1 + 1e-9) + 1e-12)

    proof.hypothesis(
        "weaker bound ≤ bound ≤ λ_max(2 Jᵀ Σ_x J) at random minimisers (any widths, n < d too)",
        deep_linear_minimisers(max_samples=5, max_dimension=3, max_depth=4, max_width=3),
        below_sharpness,
        max_examples=40,
    )
    integer_cases = [
        (np.array(rows, dtype=float), np.array(targets, dtype=float), depth_value)
        for rows in ([[1, 0], [0, 1], [1, 1]], [[1, 2], [0, 1]], [[2, 0], [0, 1], [1, -1]])
        for targets in itertools.product((-1, 1, 2), repeat=len(rows))
        for depth_value in (1, 2, 3)
    ][::3]
    proof.exhaustive(
        "bound ≤ balanced minimiser's sharpness on small integer data, L ≤ 3",
        integer_cases,
        lambda case: (
            deep_linear_sharpness_lower_bound(*case)
            <= balanced_minimiser_sharpness(*case) * (1 + 1e-10)
        ),
    )
    proof.exhaustive(
        "tight when Σ_x = I: bound = balanced sharpness = 2L‖w*‖^{2−2/L}",
        [
            (np.eye(d) * np.sqrt(d), target, depth_value)
            for d in (1, 2, 3)
            for target in (np.arange(1.0, d + 1), -np.ones(d))
            for depth_value in (1, 2, 3, 4)
        ],
        lambda case: np.isclose(
            deep_linear_sharpness_lower_bound(*case),
            balanced_minimiser_sharpness(*case),
            rtol=1e-12,
        ),
    )
    return proof.result()
