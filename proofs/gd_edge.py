"""GD's edge of stability: full-batch GD is stable iff ``η < 2 / λ_max(H)``."""

from __future__ import annotations

import itertools

import numpy as np
import sympy

from stability import GD, SGD, Quadratic, critical_learning_rate, symbolic
from stability.bounds import gradient_descent_edge
from stability.testing.strategies import psd_matrices

from ._cases import exact_threshold
from .registry import Proof, ProofResult

NAME = "gd_edge"
STATEMENT = (
    "Full-batch GD δ ← (I − ηH) δ on a quadratic with H ⪰ 0 is mean-square stable iff "
    "η < 2/λ_max(H) (weight decay μ: η < 2/(λ_max(H) + μ)); SGD is never stable where GD is not."
)
CITATION = "docs/theory/threshold.md (GD is p = 0); Cohen et al. (2021)"


def prove() -> ProofResult:
    """Derive the edge from the second-moment operator in the eigenbasis of ``H``.

    Examples
    --------
    >>> from stability.proofs import gd_edge
    >>> gd_edge.prove().verdict
    'proved'
    """
    proof = Proof(NAME, STATEMENT, CITATION)
    eta, lam1, lam2, mu = sympy.symbols("eta lambda_1 lambda_2 mu", positive=True)
    # T(η) on diag(λ1, λ2): entries (1 − ηλ_i)(1 − ηλ_j) on E_ij
    operator = symbolic.second_moment_operator([sympy.diag(lam1, lam2)], GD(), eta)
    expected = sympy.diag(
        *[(1 - eta * a) * (1 - eta * b) for a, b in itertools.product((lam1, lam2), repeat=2)]
    )
    proof.identity("T(η) is diagonal with entries (1 − ηλ_i)(1 − ηλ_j)", operator - expected)
    proof.check(
        "(1 − ηλ)² < 1 with η > 0 exactly when η < 2/λ",
        sympy.solve_univariate_inequality((1 - eta * lam1) ** 2 < 1, eta, relational=False)
        == sympy.Interval.open(0, 2 / lam1),
    )
    proof.check(
        "the mixed entries are dominated: |(1 − ηa)(1 − ηb)| ≤ max((1 − ηa)², (1 − ηb)²)",
        sympy.expand(
            ((1 - eta * lam1) ** 2 + (1 - eta * lam2) ** 2) / 2
            - (1 - eta * lam1) * (1 - eta * lam2)
            - ((eta * lam1 - eta * lam2) ** 2) / 2
        )
        == 0,
        "AM–GM: the mean of the squares minus the product is (ηλ_1 − ηλ_2)²/2 ≥ 0",
    )
    proof.equal(
        "the symbolic layer derives 2/λ for a 1-D problem",
        symbolic.critical_learning_rate([lam1], GD()),
        2 / lam1,
    )
    proof.equal(
        "weight decay: GD on H + μI has edge 2/(λ + μ)",
        symbolic.critical_learning_rate([lam1 + mu], GD()),
        2 / (lam1 + mu),
    )
    rationals = [sympy.Rational(1, 2), sympy.Integer(1), sympy.Integer(3)]
    exact_cases = [
        sympy.Matrix([[a, c], [c, b]])
        for a, b in itertools.product(rationals, repeat=2)
        for c in (0, sympy.Rational(1, 2))
        if a * b - c**2 > 0
    ]
    proof.exhaustive(
        "exact: the first root of det(T(η) − I) is 2/λ_max for 2×2 rational Hessians",
        exact_cases,
        lambda hessian: (
            sympy.simplify(exact_threshold([hessian], GD()) - 2 / max(hessian.eigenvals())) == 0
        ),
    )
    proof.hypothesis(
        "numeric η* = 2/λ_max(H) on random PSD matrices",
        psd_matrices(max_dimension=5),
        lambda hessian: np.isclose(
            critical_learning_rate(Quadratic(hessian), GD()),
            2 / np.linalg.eigvalsh(hessian)[-1],
            rtol=1e-10,
        ),
    )
    proof.hypothesis(
        "SGD never beats GD: η*_SGD ≤ 2/λ_max(H) on random data",
        _data_and_batch(),
        lambda case: (
            critical_learning_rate(case[0], SGD(case[1]))
            <= gradient_descent_edge(case[0]) * (1 + 1e-10)
        ),
    )
    return proof.result()


def _data_and_batch():
    from hypothesis import strategies as st

    from stability.testing.strategies import data_matrices

    @st.composite
    def draw_case(draw):
        data = draw(data_matrices(min_samples=2, max_samples=5, max_dimension=3))
        return Quadratic.from_data(data), draw(st.integers(1, data.shape[0]))

    return draw_case()
