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
    "MAXIMUM_TOLERANCE",
    "as_finite_array",
    "as_seed_sequence",
    "check_batch_size",
    "check_false_alarm",
    "check_learning_rate",
    "check_learning_rates",
    "check_momentum",
    "check_positive_integer",
    "check_psd",
    "check_symmetric",
    "check_tolerance",
    "check_weight_decay",
    "exact_number",
    "is_symbolic",
    "power_of_two_exponent",
    "safe_exponent",
]

#: Relative tolerance for symmetry and positive semi-definiteness checks.
DEFAULT_TOLERANCE = 1e-10


def is_symbolic(value: Any) -> bool:
    """Whether ``value`` is a SymPy object (a symbol or an expression with free symbols).

    Parameters
    ----------
    value : Any
        Any object.
    """
    return hasattr(value, "free_symbols") and bool(getattr(value, "free_symbols", ()))


def exact_number(value: Any) -> Any:
    """A method parameter as an exact number, so that identities such as ``(1 + β) − β = 1``
    hold exactly in the dynamics description.

    Floats become the :class:`~fractions.Fraction` of their shortest decimal representation
    (``0.6 → 3/5``); integers, fractions and SymPy expressions are returned unchanged.

    Parameters
    ----------
    value : Any
        A number (int, float, Fraction) or a SymPy expression.

    Examples
    --------
    >>> from stability._validation import exact_number
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


#: The largest relative tolerance the symmetry and definiteness checks accept.
MAXIMUM_TOLERANCE = 1e-2

# Arrays whose largest entry lies outside [2^-_SAFE_EXPONENT, 2^_SAFE_EXPONENT] are scaled
# by a power of two (exact) before products or eigenvalues are taken, so that nothing
# overflows or underflows on the way.
_SAFE_EXPONENT = 200


def power_of_two_exponent(array: np.ndarray, *, even: bool = False) -> int:
    """The exponent ``e`` with ``max|array| · 2^-e`` in ``[0.5, 1)`` (``0`` for a zero array).

    Dividing by ``2^e`` is exact in floating point (barring underflow), so a scaled copy
    has the same digits as the original. With ``even=True`` the exponent is rounded up to
    an even number, so that square roots of the scale are exact powers of two as well.

    Parameters
    ----------
    array : np.ndarray
        The array whose magnitude is measured.
    even : bool, default False
        Whether the exponent must be even (so a square root scales exactly).

    Examples
    --------
    >>> import numpy as np
    >>> from stability._validation import power_of_two_exponent
    >>> power_of_two_exponent(np.array([3.0, -5.0])), power_of_two_exponent(np.zeros(2))
    (3, 0)
    """
    largest = float(np.max(np.abs(array))) if array.size else 0.0
    if largest == 0.0 or not np.isfinite(largest):
        return 0
    exponent = int(np.frexp(largest)[1])
    if even and exponent % 2:
        exponent += 1
    return exponent


def safe_exponent(array: np.ndarray, *, even: bool = False) -> int:
    """``0`` when ``array``'s magnitude is ordinary, else :func:`power_of_two_exponent`.

    Ordinary means a largest entry within ``2^±200``: products of a few such numbers
    stay far inside the floating-point range and the array is used as it is (results
    are then bit-identical to an unscaled computation).

    Parameters
    ----------
    array : np.ndarray
        The array whose magnitude is measured.
    even : bool, default False
        Whether the exponent must be even (so a square root scales exactly).
    """
    exponent = power_of_two_exponent(array, even=even)
    return 0 if abs(exponent) <= _SAFE_EXPONENT else exponent


_REFUSED_KINDS = {
    "b": "booleans",
    "c": "complex numbers (take the real part, or the modulus, explicitly)",
    "M": "dates (datetime64)",
    "m": "time differences (timedelta64)",
    "U": "strings",
    "S": "bytes",
    "V": "structured records",
}


def _is_real_number(value: Any) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool | np.bool_)


def as_finite_array(value: Any, name: str, ndim: int | tuple[int, ...]) -> np.ndarray:
    """Convert ``value`` to a float array with the given number of dimensions, all finite.

    Only real numbers are accepted: arrays of integers or floats (any width), or
    sequences and object arrays whose every element is a real number. Complex numbers,
    booleans, dates, strings and other objects are refused with
    :class:`~stability.errors.InvalidTypeError` rather than converted (a complex array
    would silently lose its imaginary part, a date would become a day count).

    Parameters
    ----------
    value : array_like
        The argument.
    name : str
        Its name, for the error messages.
    ndim : int or tuple of int
        The allowed numbers of dimensions.

    Returns
    -------
    ndarray of float64
        A new array (never a view of ``value``).

    Raises
    ------
    InvalidTypeError
        If ``value`` is not an array of real numbers.
    DimensionError
        If it has a number of dimensions not in ``ndim``, or no entries.
    InvalidInputError
        If an entry is NaN or infinite (or outside the double-precision range).

    Examples
    --------
    >>> from stability._validation import as_finite_array
    >>> as_finite_array([[1, 2]], "data", 2)
    array([[1., 2.]])
    >>> as_finite_array([[1j]], "data", 2)
    Traceback (most recent call last):
    ...
    stability.errors.InvalidTypeError: data must be an array of real numbers; got complex ...
    """
    if isinstance(value, str | bytes):
        raise InvalidTypeError(
            f"{name} must be an array of real numbers; got a string {value!r:.40}"
        )
    if isinstance(value, dict):
        raise InvalidTypeError(f"{name} must be an array of real numbers; got dict")
    try:
        raw = np.asarray(value)
    except Exception as error:  # ragged lists, tensors that refuse conversion, ...
        raise InvalidTypeError(
            f"{name} must be an array of real numbers; got {type(value).__name__} ({error})"
        ) from None
    kind = raw.dtype.kind
    if kind in _REFUSED_KINDS:
        raise InvalidTypeError(
            f"{name} must be an array of real numbers; got {_REFUSED_KINDS[kind]}"
        )
    if kind == "O":
        for element in raw.flat:
            if not _is_real_number(element):
                raise InvalidTypeError(
                    f"{name} must be an array of real numbers; got an element of type "
                    f"{type(element).__name__} ({element!r:.40})"
                )
    try:
        with np.errstate(over="ignore", invalid="ignore"):
            array = np.array(raw, dtype=float)
    except (TypeError, ValueError, OverflowError) as error:
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
        raise InvalidInputError(
            f"{name} must be finite; it has {bad} NaN or infinite entries (or entries "
            "beyond the double-precision range)"
        )
    return array


def check_tolerance(value: Any, name: str = "tolerance") -> float:
    """Check a relative tolerance: a real number in ``[0, MAXIMUM_TOLERANCE]`` (``[0, 0.01]``).

    A larger tolerance would let clearly indefinite or non-symmetric matrices through
    (a Hessian with eigenvalues 1 and −0.5 is not a minimum at any tolerance below 0.5).

    Parameters
    ----------
    value : Any
        The value to check.
    name : str, default 'tolerance'
        Name of the argument, used in error messages.

    Examples
    --------
    >>> from stability._validation import check_tolerance
    >>> check_tolerance(1e-8)
    1e-08
    """
    if not _is_real_number(value):
        raise InvalidTypeError(f"{name} must be a real number; got {value!r:.40}")
    number = float(value)
    if not (np.isfinite(number) and 0.0 <= number <= MAXIMUM_TOLERANCE):
        raise InvalidInputError(
            f"{name} must be a finite number in [0, {MAXIMUM_TOLERANCE:g}]; got {value!r}"
        )
    return number


def check_symmetric(
    matrix: np.ndarray, name: str, tolerance: float = DEFAULT_TOLERANCE
) -> np.ndarray:
    """Return the symmetric part of square ``matrix`` (last two axes) after checking symmetry.

    The check is relative: ``max|A − Aᵀ| ≤ tolerance · max|A|``. Matrices of extreme
    magnitude are compared in a copy scaled by a power of two, so that nothing overflows.

    Parameters
    ----------
    matrix : np.ndarray
        The matrix, or a stack of matrices on the last two axes.
    name : str
        Name of the argument, used in error messages.
    tolerance : float, default 1e-10
        Relative tolerance.
    """
    if matrix.ndim < 2 or matrix.shape[-1] != matrix.shape[-2]:
        raise DimensionError(f"{name} must be square; got shape {matrix.shape}")
    exponent = safe_exponent(matrix)
    scaled = np.ldexp(matrix, -exponent) if exponent else matrix
    asymmetry = float(np.max(np.abs(scaled - np.swapaxes(scaled, -1, -2))))
    scale = float(np.max(np.abs(scaled)))
    if asymmetry > tolerance * max(scale, np.finfo(float).tiny):
        relative = asymmetry / scale if scale > 0 else np.inf
        raise NotSymmetricError(
            f"{name} must be symmetric; largest asymmetry |A - A^T| is "
            f"{float(np.ldexp(asymmetry, exponent)):.3g} (relative {relative:.3g})"
        )
    symmetric = 0.5 * (scaled + np.swapaxes(scaled, -1, -2))
    return np.ldexp(symmetric, exponent) if exponent else symmetric


def check_psd(matrix: np.ndarray, name: str, tolerance: float = DEFAULT_TOLERANCE) -> np.ndarray:
    """Check that symmetric ``matrix`` (or a stack of them) is positive semi-definite.

    Returns the eigenvalues (ascending, last axis). An eigenvalue below
    ``-tolerance * max|eigenvalue|`` is an error: the point is not a minimum. Matrices of
    extreme magnitude are decomposed in a copy scaled by a power of two.

    Parameters
    ----------
    matrix : np.ndarray
        The symmetric matrix, or a stack of them on the last two axes.
    name : str
        Name of the argument, used in error messages.
    tolerance : float, default 1e-10
        Relative tolerance.
    """
    exponent = safe_exponent(matrix)
    scaled = np.ldexp(matrix, -exponent) if exponent else matrix
    eigenvalues = np.linalg.eigvalsh(scaled)
    scale = float(np.max(np.abs(eigenvalues)))
    lowest = float(np.min(eigenvalues))
    if lowest < -tolerance * scale:
        where = ""
        if eigenvalues.ndim > 1:
            flat = np.argmin(eigenvalues.min(axis=-1))
            where = f" (sample {int(flat)})"
        raise NotPositiveSemidefiniteError(
            f"{name} must be positive semi-definite (a minimum); smallest eigenvalue is "
            f"{float(np.ldexp(lowest, exponent)):.6g}{where}"
        )
    if exponent:
        with np.errstate(over="ignore"):
            eigenvalues = np.ldexp(eigenvalues, exponent)
    return eigenvalues


def check_positive_integer(value: Any, name: str, *, maximum: int | None = None) -> int:
    """Check that ``value`` is an integer ≥ 1 (booleans are refused), at most ``maximum``.

    Parameters
    ----------
    value : Any
        The value to check.
    name : str
        Name of the argument, used in error messages.
    maximum : int | None, default None
        Largest value allowed; None for no upper limit.
    """
    if isinstance(value, bool | np.bool_) or not isinstance(value, numbers.Integral):
        raise InvalidTypeError(f"{name} must be an integer; got {value!r}")
    if value < 1:
        raise InvalidInputError(f"{name} must be at least 1; got {value}")
    if maximum is not None and value > maximum:
        raise InvalidInputError(f"{name} must be at most {maximum}; got {value}")
    return int(value)


def check_batch_size(value: Any, name: str = "batch_size") -> int | None:
    """Check a batch size: ``None`` (full batch) or an integer ≥ 1.

    Parameters
    ----------
    value : Any
        The value to check.
    name : str, default 'batch_size'
        Name of the argument, used in error messages.
    """
    if value is None:
        return None
    return check_positive_integer(value, name)


def _real_number(value: Any, name: str) -> Any:
    """``value`` if it is a real number (not a bool, string or complex), else an error."""
    if _is_real_number(value):
        return value
    if isinstance(value, np.ndarray) and value.ndim == 0 and value.dtype.kind in "iuf":
        return value.item()
    if isinstance(value, bool | np.bool_ | str | bytes | complex | np.complexfloating):
        raise InvalidTypeError(f"{name} must be a real number; got {value!r}")
    try:  # other numeric types (mpmath, SymPy numbers, ...) that convert to float
        return float(value)
    except (TypeError, ValueError, OverflowError, AttributeError):
        raise InvalidTypeError(f"{name} must be a real number; got {value!r}") from None


def check_momentum(value: Any, name: str = "momentum") -> Any:
    """Check a momentum coefficient: a real number in [0, 1), or a SymPy expression.

    Booleans and strings are refused (``True`` is not a momentum, ``"0.5"`` is text).

    Parameters
    ----------
    value : Any
        The value to check.
    name : str, default 'momentum'
        Name of the argument, used in error messages.
    """
    if is_symbolic(value):
        return value
    value = _real_number(value, name)
    if not np.isfinite(float(value)) or not 0 <= value < 1:
        raise InvalidInputError(f"{name} must lie in [0, 1); got {value}")
    return value


def check_learning_rate(value: Any, name: str = "lr") -> float:
    """Check a learning rate: a finite real number > 0 (booleans and strings refused).

    Parameters
    ----------
    value : Any
        The value to check.
    name : str, default 'lr'
        Name of the argument, used in error messages.

    Examples
    --------
    >>> from stability._validation import check_learning_rate
    >>> check_learning_rate(0.5)
    0.5
    >>> check_learning_rate(True)
    Traceback (most recent call last):
    ...
    stability.errors.InvalidTypeError: lr must be a real number; got True
    """
    value = float(_real_number(value, name))
    if not np.isfinite(value) or value <= 0:
        raise InvalidInputError(f"{name} must be a finite positive number; got {value}")
    return value


def check_weight_decay(value: Any, name: str = "weight_decay") -> float:
    """Check a weight-decay coefficient: a finite real number ≥ 0.

    Parameters
    ----------
    value : Any
        The coefficient ``λ`` (the penalty ``λ/2 ‖θ‖²``).
    name : str
        The argument's name, for the error message.

    Examples
    --------
    >>> from stability._validation import check_weight_decay
    >>> check_weight_decay(0.25)
    0.25
    >>> check_weight_decay(-1)
    Traceback (most recent call last):
    ...
    stability.errors.InvalidInputError: weight_decay must be finite and non-negative; got -1
    """
    try:
        decay = float(value)
    except (TypeError, ValueError):
        raise InvalidInputError(f"{name} must be a real number; got {value!r}") from None
    if not np.isfinite(decay) or decay < 0:
        raise InvalidInputError(f"{name} must be finite and non-negative; got {value!r}")
    return decay


def check_learning_rates(values: Any, name: str = "lrs") -> np.ndarray:
    """Check a one-dimensional array of learning rates: finite and positive.

    Parameters
    ----------
    values : array_like
        The learning rates.
    name : str
        The argument's name, for the error message.

    Examples
    --------
    >>> from stability._validation import check_learning_rates
    >>> check_learning_rates([0.5, 1.0])
    array([0.5, 1. ])
    >>> check_learning_rates([0.5, 0.0])
    Traceback (most recent call last):
    ...
    stability.errors.InvalidInputError: lrs must be positive learning rates; the smallest is 0
    """
    array = as_finite_array(values, name, 1)
    if np.any(array <= 0):
        raise InvalidInputError(
            f"{name} must be positive learning rates; the smallest is {array.min():.6g}"
        )
    return array


def check_false_alarm(value: Any, name: str = "false_alarm") -> float:
    """Check a false-alarm probability: a real number in the open interval (0, 1).

    Parameters
    ----------
    value : Any
        The probability that a confidence band misses the truth.
    name : str
        The argument's name, for the error message.

    Examples
    --------
    >>> from stability._validation import check_false_alarm
    >>> check_false_alarm(0.01)
    0.01
    >>> check_false_alarm(1)
    Traceback (most recent call last):
    ...
    stability.errors.InvalidInputError: false_alarm must lie in (0, 1); got 1.0
    """
    try:
        value = float(value)
    except (TypeError, ValueError):
        raise InvalidTypeError(f"{name} must be a probability; got {value!r}") from None
    if not 0.0 < value < 1.0:
        raise InvalidInputError(f"{name} must lie in (0, 1); got {value}")
    return value


def as_seed_sequence(seed: Any, name: str = "seed") -> np.random.SeedSequence:
    """A fresh :class:`numpy.random.SeedSequence` from ``None``, an integer ≥ 0 or a sequence.

    A given sequence is copied, so that spawning from the result does not depend on what was
    spawned from the original before.

    Parameters
    ----------
    seed : None, int or numpy.random.SeedSequence
        The seed; ``None`` draws fresh entropy.
    name : str
        The argument's name, for the error message.

    Examples
    --------
    >>> from stability._validation import as_seed_sequence
    >>> as_seed_sequence(7).entropy
    7
    >>> as_seed_sequence(-1)
    Traceback (most recent call last):
    ...
    stability.errors.InvalidInputError: seed must be non-negative; got -1
    """
    if seed is None:
        return np.random.SeedSequence()
    if isinstance(seed, np.random.SeedSequence):
        return np.random.SeedSequence(
            seed.entropy, spawn_key=seed.spawn_key, pool_size=seed.pool_size
        )
    if isinstance(seed, bool) or not isinstance(seed, int | np.integer):
        raise InvalidTypeError(
            f"{name} must be None, a non-negative integer or a numpy SeedSequence; got {seed!r}"
        )
    if seed < 0:
        raise InvalidInputError(f"{name} must be non-negative; got {seed}")
    return np.random.SeedSequence(int(seed))
