"""The crossing searches every threshold shares (stability.numeric._crossing).

Theory: docs/theory/operator.md (rule 2) and docs/theory/higher-moments.md. References: roots
written out by hand and numpy's polynomial roots.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from stability.numeric._crossing import first_crossing, pencil_threshold


def _cubic(lr: float) -> float:
    """Negative on (0, 1), positive on (1, 3), negative on (3, 5), positive beyond."""
    return (lr - 1.0) * (lr - 3.0) * (lr - 5.0)


def test_grid_search_finds_the_first_of_several_crossings():
    assert first_crossing(_cubic, 6.0, grid=32) == pytest.approx(1.0, rel=1e-12)
    assert first_crossing(_cubic, 6.0) == pytest.approx(1.0, rel=1e-12)


def test_grid_search_steps_below_a_first_grid_point_that_already_crosses():
    assert first_crossing(lambda lr: lr - 0.01, 1.0, grid=8) == pytest.approx(0.01, rel=1e-12)


def test_the_upper_end_is_returned_when_it_does_not_cross():
    assert first_crossing(lambda lr: lr - 2.0, 2.0) == 2.0
    assert first_crossing(lambda lr: lr - 3.0, 2.0, grid=4) == 2.0


ROOTS = st.lists(
    st.sampled_from([-2.0, -1.0, -0.5, 0.25, 0.5, 1.0, 1.5, 3.0]), max_size=3, unique=True
)


@settings(max_examples=40, deadline=None, derandomize=True)
@given(
    st.tuples(ROOTS, st.sampled_from([-2.0, -1.0, 0.5, 3.0]), st.booleans()),
    st.tuples(ROOTS, st.sampled_from([-2.0, -1.0, 0.5, 3.0]), st.booleans()),
    st.floats(0.1, 10.0),
)
def test_pencil_threshold_is_the_smallest_positive_root_of_the_determinant(first, second, scale):
    """Diagonal T(η) with t_i(η) − 1 = c_i η Π_j (η − r_ij) (times η² + 1 when asked), simple r_ij.

    det(T(η) − I) is the product of the t_i(η) − 1, so the answer is the smallest positive
    r_ij, written down before the polynomial is expanded (numpy's polyfromroots).
    """
    polynomials, positive = [], []
    for roots, leading, complex_pair in (first, second):
        factors = [0.0, *roots] + ([1j, -1j] if complex_pair else [])
        polynomial = leading * np.real(np.polynomial.polynomial.polyfromroots(factors))
        polynomial[0] += 1.0  # t_i(η) = 1 + c_i η Π (η − r_ij)
        polynomials.append(polynomial)
        positive.extend(root for root in roots if root > 0)
    degree = max(len(polynomial) for polynomial in polynomials)
    coefficients = np.zeros((degree, 2, 2))
    for index, polynomial in enumerate(polynomials):
        coefficients[: len(polynomial), index, index] = polynomial
    value = pencil_threshold(coefficients, scale)
    if positive:
        assert value == pytest.approx(min(positive), rel=1e-9)
    else:
        assert value == np.inf
