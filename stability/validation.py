"""Input checks shared by the whole package.

Each helper names the argument it checks, so that the error a user sees says
which argument is wrong and how, e.g. ``hessian must be square; got shape (2, 3)``.
"""

from __future__ import annotations

import numbers
from fractions import Fraction
from typing import Any

import numpy as np

from stability.errors import (
    DimensionError,
    InvalidInputError,
    InvalidTypeError,
    NotPositiveSemidefiniteError,
    NotSymmetricError,
)

__all__ = [
    "DEFAULT_TOLERANCE",
    "as_finite_array",
    "check_batch_size",
    "check_learning_rate",
    "check_momentum",
    "check_positive_integer",
    "check_psd",
    "check_symmetric",
    "exact_number",
    "is_symbolic",
]

#: Relative tolerance for symmetry and positive semi-definiteness checks.
DEFAULT_TOLERANCE = 1e-10


def is_symbolic(value: Any) -> bool:
    """Whether ``value`` is a SymPy object (a symbol or an expression with free symbols)."""
    return hasattr(value, "free_symbols") and bool(getattr(value, "free_symbols", ()))


def exact_number(value: Any) -> Any:
    """A method parameter as an exact number, so that identities such as ``(1 + β) − β = 1``
    hold exactly in the dynamics description.

    Floats become the :class:`~fractions.Fraction` of their shortest decimal representation
    (``0.6 → 3/5``); integers, fractions and SymPy expressions are returned unchanged.

    Examples
    --------
    >>> from stability.validation import exact_number
    >>> exact_number(0.6), exact_number(2)
    (Fraction(3, 5), 2)
    """
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, numbers.Integral):
        return int(value)
    if isinstance(value, float | np.floating):
        return Fraction(repr(float(value)))
    return value


def as_finite_array(value: Any, name: str, ndim: int | tuple[int, ...]) -> np.ndarray:
    """Convert ``value`` to a float array with the given number of dimensions, all finite."""
    try:
        array = np.array(value, dtype=float)
    except (TypeError, ValueError) as error:
        raise InvalidTypeError(
            f"{name} must be an array of real numbers; got {type(value).__name__} ({error})"
        ) from None
    allowed = (ndim,) if isinstance(ndim, int) else ndim
    if array.ndim not in allowed:
        wanted = " or ".join(str(k) for k in allowed)
        raise DimensionError(
            f"{name} must have {wanted} dimensions; got {array.ndim} (shape {array.shape})"
        )
    if array.size == 0:
        raise DimensionError(f"{name} must not be empty; got shape {array.shape}")
    if not np.all(np.isfinite(array)):
        bad = int(np.size(array) - np.count_nonzero(np.isfinite(array)))
        raise InvalidInputError(f"{name} must be finite; it has {bad} NaN or infinite entries")
    return array


def check_symmetric(
    matrix: np.ndarray, name: str, tolerance: float = DEFAULT_TOLERANCE
) -> np.ndarray:
    """Return the symmetric part of square ``matrix`` (last two axes) after checking symmetry."""
    if matrix.shape[-1] != matrix.shape[-2]:
        raise DimensionError(f"{name} must be square; got shape {matrix.shape}")
    asymmetry = float(np.max(np.abs(matrix - np.swapaxes(matrix, -1, -2))))
    scale = float(np.max(np.abs(matrix)))
    if asymmetry > tolerance * max(scale, np.finfo(float).tiny):
        relative = asymmetry / scale if scale > 0 else np.inf
        raise NotSymmetricError(
            f"{name} must be symmetric; largest asymmetry |A - A^T| is {asymmetry:.3g} "
            f"(relative {relative:.3g})"
        )
    return 0.5 * (matrix + np.swapaxes(matrix, -1, -2))


def check_psd(matrix: np.ndarray, name: str, tolerance: float = DEFAULT_TOLERANCE) -> np.ndarray:
    """Check that symmetric ``matrix`` (or a stack of them) is positive semi-definite.

    Returns the eigenvalues (ascending, last axis). An eigenvalue below
    ``-tolerance * max|eigenvalue|`` is an error: the point is not a minimum.
    """
    eigenvalues = np.linalg.eigvalsh(matrix)
    scale = float(np.max(np.abs(eigenvalues)))
    lowest = float(np.min(eigenvalues))
    if lowest < -tolerance * scale:
        where = ""
        if eigenvalues.ndim > 1:
            flat = np.argmin(eigenvalues.min(axis=-1))
            where = f" (sample {int(flat)})"
        raise NotPositiveSemidefiniteError(
            f"{name} must be positive semi-definite (a minimum); smallest eigenvalue is "
            f"{lowest:.6g}{where}"
        )
    return eigenvalues


def check_positive_integer(value: Any, name: str) -> int:
    """Check that ``value`` is an integer ≥ 1 (booleans are refused)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise InvalidTypeError(f"{name} must be an integer; got {value!r}")
    if value < 1:
        raise InvalidInputError(f"{name} must be at least 1; got {value}")
    return int(value)


def check_batch_size(value: Any, name: str = "batch_size") -> int | None:
    """Check a batch size: ``None`` (full batch) or an integer ≥ 1."""
    if value is None:
        return None
    return check_positive_integer(value, name)


def check_momentum(value: Any, name: str = "momentum") -> Any:
    """Check a momentum coefficient: a real number in [0, 1), or a SymPy expression."""
    if is_symbolic(value):
        return value
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        try:
            value = float(value)
        except (TypeError, ValueError):
            raise InvalidTypeError(f"{name} must be a real number; got {value!r}") from None
    if not np.isfinite(float(value)) or not 0 <= value < 1:
        raise InvalidInputError(f"{name} must lie in [0, 1); got {value}")
    return value


def check_learning_rate(value: Any, name: str = "lr") -> float:
    """Check a learning rate: a finite real number > 0."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        try:
            value = float(value)
        except (TypeError, ValueError):
            raise InvalidTypeError(f"{name} must be a real number; got {value!r}") from None
    value = float(value)
    if not np.isfinite(value) or value <= 0:
        raise InvalidInputError(f"{name} must be a finite positive number; got {value}")
    return value
