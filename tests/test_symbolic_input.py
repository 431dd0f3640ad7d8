"""Input handling of the symbolic layer: it accepts what the numeric layer accepts."""

from __future__ import annotations

import numpy as np
import pytest
import sympy

import stability
from stability.errors import NotPositiveSemidefiniteError
from stability.symbolic import as_symbolic_problem


def _float_hessians(seed: int) -> np.ndarray:
    rows = np.random.default_rng(seed).standard_normal((4, 3))
    return np.einsum("ni,nj->nij", rows, rows)


@pytest.mark.parametrize("seed", range(2))
@pytest.mark.parametrize("method", [stability.GD(), stability.SGD(2), stability.HeavyBall(0.5)],
                         ids=["gd", "sgd", "heavy-ball"])  # fmt: skip
def test_symbolic_layer_accepts_float_computed_hessians(seed, method) -> None:
    """Float ``x xᵀ`` (slightly indefinite once exact) is accepted by both layers, and agrees."""
    hessians = _float_hessians(seed)
    exact = stability.symbolic.critical_learning_rate(hessians, method)
    numeric = stability.critical_learning_rate(stability.Quadratic.from_hessians(hessians), method)
    assert float(exact) == pytest.approx(numeric, rel=1e-12)



def test_a_truly_indefinite_hessian_is_still_refused_with_its_eigenvalue() -> None:
    with pytest.raises(NotPositiveSemidefiniteError, match=r"hessians\[0\].*-1e-06"):
        as_symbolic_problem([np.diag([1.0, -1e-6])])


def test_exact_psd_matrices_pass_without_floating_point() -> None:
    rows = [sympy.Rational(1, 3), sympy.Rational(2, 7)]
    matrix = sympy.Matrix(2, 1, rows) * sympy.Matrix(1, 2, rows)
    assert as_symbolic_problem([matrix]).hessians[0] == matrix
