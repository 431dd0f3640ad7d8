"""Zero-root deflation and the smallest positive root of a matrix polynomial."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from stability.numeric._polynomial import deflate_zero_roots, smallest_positive_real_root


def _diagonal_polynomial(root_lists, seed):
    """U diag(Π (ν − r)) V with random orthogonal U, V: det has exactly those roots."""
    size = len(root_lists)
    degree = max(len(roots) for roots in root_lists)
    coefficients = np.zeros((degree + 1, size, size))
    for index, roots in enumerate(root_lists):
        poly = np.polynomial.polynomial.polyfromroots(roots) if roots else np.array([1.0])
        coefficients[: len(poly), index, index] = poly
    rng = np.random.default_rng(seed)
    left = np.linalg.qr(rng.standard_normal((size, size)))[0]
    right = np.linalg.qr(rng.standard_normal((size, size)))[0]
    return np.einsum("ij,qjk,kl->qil", left, coefficients, right)


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.lists(st.sampled_from([0.0, 0.0, -1.0, 0.5, 1.5, 2.0, 3.0]), max_size=3),
        min_size=1,
        max_size=4,
    ),
    st.integers(0, 2**32 - 1),
)
def test_smallest_positive_root_ignores_zero_roots(root_lists, seed):
    # zero roots may repeat (Jordan chains at ν = 0 are what deflation is for); a repeated
    # non-zero root inside one entry is defective and only accurate to √eps, so keep those
    # distinct (the same root in different entries is semisimple and stays).
    root_lists = [[r for r in roots if r == 0] + sorted({r for r in roots if r}) for roots in
                  root_lists]
    positive = [r for roots in root_lists for r in roots if r > 0]
    expected = min(positive) if positive else math.inf
    coefficients = _diagonal_polynomial(root_lists, seed)
    assert smallest_positive_real_root(coefficients) == pytest.approx(expected, rel=1e-9)


def test_deflation_removes_every_zero_root():
    coefficients = _diagonal_polynomial([[0.0, 0.0, 2.0], [0.0, 3.0], [1.0]], seed=1)
    deflated = deflate_zero_roots(coefficients)
    assert abs(np.linalg.det(deflated[0])) > 1e-6
    # the non-zero roots of det survive: det P(ν)/ν³ at ν = 2, 3, 1 vanishes
    for root in (1.0, 2.0, 3.0):
        value = sum(root**q * p for q, p in enumerate(deflated))
        assert abs(np.linalg.det(value)) < 1e-9


def test_identically_singular_polynomial_is_refused():
    from stability.errors import InvalidInputError

    coefficients = np.zeros((2, 2, 2))
    coefficients[1, 0, 0] = 1.0  # second row and column vanish for every ν
    with pytest.raises(InvalidInputError, match="every η"):
        smallest_positive_real_root(coefficients)
