"""Small exact cases and random strategies shared by the proofs (not a proof itself)."""

from __future__ import annotations

import itertools
from fractions import Fraction

import numpy as np
import sympy
from hypothesis import strategies as st

from stability import symbolic
from stability.problems import Quadratic
from stability.testing.strategies import data_matrices, per_sample_hessians

__all__ = [
    "CURVATURES",
    "MOMENTA",
    "curvature_lists",
    "exact_threshold",
    "random_problems",
    "small_data_matrices",
]

#: Small positive rationals used as curvatures in exhaustive checks.
CURVATURES = (Fraction(1, 2), Fraction(1), Fraction(2), Fraction(3))
#: Momentum coefficients used in exhaustive checks.
MOMENTA = (Fraction(0), Fraction(1, 4), Fraction(1, 2), Fraction(3, 4), Fraction(9, 10))


def curvature_lists(max_samples: int = 3):
    """Every list of 1 to ``max_samples`` curvatures from ``{0} ∪ CURVATURES`` (not all 0)."""
    values = (Fraction(0), *CURVATURES)
    for samples in range(1, max_samples + 1):
        for combo in itertools.product(values, repeat=samples):
            if any(combo):
                yield combo


def small_data_matrices(samples: int = 3, dimension: int = 2, entries=(-1, 0, 1)):
    """Every ``samples × dimension`` matrix with non-zero rows from ``entries``, up to order.

    Rows are taken up to sign (``x`` and ``−x`` give the same ``x xᵀ``) and as a multiset
    (the order of the samples does not matter).
    """
    rows = [
        row
        for row in itertools.product(entries, repeat=dimension)
        if any(row) and next(value for value in row if value != 0) > 0
    ]
    for combo in itertools.combinations_with_replacement(rows, samples):
        yield np.array(combo, dtype=float)


def random_problems(max_samples: int = 4, max_dimension: int = 3):
    """Random problems from data or from per-sample Hessians, with at least 2 samples."""
    return st.one_of(
        data_matrices(min_samples=2, max_samples=max_samples, max_dimension=max_dimension).map(
            Quadratic.from_data
        ),
        per_sample_hessians(
            min_samples=2, max_samples=max_samples, max_dimension=max_dimension
        ).map(Quadratic.from_hessians),
    )


def exact_threshold(hessians, method) -> sympy.Expr:
    """The smallest positive real root of ``det(T(η) − I)`` for rational per-sample Hessians.

    ``T`` is the symbolic layer's operator restricted to symmetric matrices; the roots are
    isolated exactly by SymPy (``real_roots``). Meant for nonsingular mean Hessians (a
    singular one makes the determinant vanish identically: neutral directions).
    """
    eta = sympy.Symbol("eta", positive=True)
    operator = symbolic.second_moment_operator(hessians, method, eta, symmetric=True)
    polynomial = sympy.Poly(sympy.expand((operator - sympy.eye(operator.shape[0])).det()), eta)
    roots = [root for root in sympy.real_roots(polynomial) if root > 0]
    return min(roots) if roots else sympy.oo
