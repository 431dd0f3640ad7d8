"""Smallest positive real root of ``det P(ν) = 0`` for a matrix polynomial ``P``.

Theory: ``docs/theory/threshold.md``. The threshold of a method whose operator is
polynomial in the learning rate is the smallest positive real root of
``det(T(η) − I)``. That determinant always vanishes at ``η = 0`` (at ``η = 0`` the state
map is deterministic and keeps, e.g., the momentum mode ``δ_t = δ_{t−1}``), often with
a Jordan structure, and the roots that split off ``0`` in floating point are of size
``eps^{1/k}`` — large enough to be mistaken for a threshold. So the trivial roots are
removed exactly before the eigenvalue problem is solved:

if ``L`` spans the left null space of ``P_0`` then, for ``ν ≠ 0``, ``Lᵀ P(ν) v = 0`` iff
``Lᵀ (P(ν)/ν) v = 0``; replacing those rows by ``Lᵀ P(ν)/ν`` gives a matrix polynomial
with the same non-zero roots and ``dim L`` fewer zero roots. Repeating until the
constant term is invertible removes them all; the companion pencil of what is left has
no zero eigenvalues.
"""

from __future__ import annotations

import math

import numpy as np
import scipy.linalg

from stability.errors import InvalidInputError

__all__ = ["deflate_zero_roots", "smallest_positive_real_root"]

#: After the rows are equilibrated (each row's largest coefficient norm is one), singular
#: values of the constant term below ``RANK_ULPS · size · eps`` count as zero. Relative and
#: close to roundoff: a fixed ``1e-12`` took the genuine ``O(λ_min/λ_max)`` singular values
#: of momentum at ``cond(H) ≳ 1e10`` for zeros and refused the problem.
RANK_ULPS = 8.0
#: Roots whose imaginary part is below this (relative to their size) are real.
REAL_TOLERANCE = 1e-6


def deflate_zero_roots(coefficients: np.ndarray) -> np.ndarray:
    """Remove the roots at zero of ``det Σ_q ν^q P_q`` (``coefficients[q] = P_q``).

    Returns coefficients of a matrix polynomial of the same size with the same non-zero
    roots (with multiplicity) and an invertible constant term.

    Parameters
    ----------
    coefficients : np.ndarray
        Polynomial coefficients, lowest degree first.

    Examples
    --------
    >>> import numpy as np
    >>> from stability.numeric._polynomial import deflate_zero_roots
    >>> P = np.array([[[0.0, 0.0], [0.0, -1.0]], [[1.0, 0.0], [0.0, 0.0]],
    ...               [[-1.0, 0.0], [0.0, 1.0]]])
    >>> deflated = deflate_zero_roots(P)  # det P(ν) = ν (1 − ν)(ν² − 1)
    >>> bool(abs(np.linalg.det(deflated[0])) > 0.5)
    True
    """
    polynomial = np.array(coefficients, dtype=float)
    size = polynomial.shape[1]
    scale = max(np.linalg.norm(p, 2) for p in polynomial)
    tolerance = RANK_ULPS * size * np.finfo(float).eps * scale
    for _ in range(size * polynomial.shape[0] + 1):
        left, singular, _ = np.linalg.svd(polynomial[0])
        rank = int(np.sum(singular > tolerance))
        if rank == size:
            return polynomial
        null = left[:, rank:]
        kept = left[:, :rank]
        shifted = np.zeros_like(polynomial)
        shifted[:, :rank] = np.einsum("ia,qib->qab", kept, polynomial)
        shifted[:-1, rank:] = np.einsum("ia,qib->qab", null, polynomial[1:])
        polynomial = shifted
        while polynomial.shape[0] > 1 and np.linalg.norm(polynomial[-1], 2) <= tolerance:
            polynomial = polynomial[:-1]
    raise InvalidInputError(
        "det(T(η) − I) vanishes for every η: the operator has a neutral direction on the "
        "reduced subspace"
    )


def smallest_positive_real_root(coefficients: np.ndarray) -> float:
    """The smallest positive real ``ν`` with ``det Σ_q ν^q P_q = 0`` (``math.inf`` if none).

    The zero roots are deflated first (:func:`deflate_zero_roots`); the rest are the
    finite eigenvalues of the companion pencil ``A v = ν B v``, computed by the QZ
    algorithm.

    Parameters
    ----------
    coefficients : np.ndarray
        Polynomial coefficients, lowest degree first.

    Examples
    --------
    >>> import numpy as np
    >>> from stability.numeric import smallest_positive_real_root
    >>> P = np.array([[[0.0]], [[-3.0]], [[1.0]]])  # ν² − 3ν = ν (ν − 3)
    >>> smallest_positive_real_root(P)
    3.0
    """
    polynomial = deflate_zero_roots(coefficients)
    degree = polynomial.shape[0] - 1
    if degree == 0:
        return math.inf
    size = polynomial.shape[1]
    dimension = degree * size
    left = np.zeros((dimension, dimension))
    right = np.eye(dimension)
    for block in range(degree - 1):
        rows = slice(block * size, (block + 1) * size)
        left[rows, (block + 1) * size : (block + 2) * size] = np.eye(size)
    last = slice((degree - 1) * size, dimension)
    for power in range(degree):
        left[last, power * size : (power + 1) * size] = -polynomial[power]
    right[last, last] = polynomial[degree]
    alpha, beta = scipy.linalg.eigvals(left, right, homogeneous_eigvals=True)
    finite = np.abs(beta) > 1e-13 * np.abs(alpha)
    roots = alpha[finite] / beta[finite]
    real = np.abs(roots.imag) <= REAL_TOLERANCE * np.abs(roots)
    positive = roots.real[real & (roots.real > 0)]
    return float(positive.min()) if positive.size else math.inf
