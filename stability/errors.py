"""Exceptions raised by :mod:`stability`.

Every error the package raises on bad input is one of these. They subclass the
built-in :class:`ValueError` or :class:`TypeError`, so callers that already catch
those keep working, and callers that want to tell the package's complaints apart
can catch :class:`StabilityError`.

Examples
--------
>>> import numpy as np
>>> import stability
>>> try:
...     stability.Quadratic(np.array([[1.0, 2.0], [0.0, 1.0]]))
... except stability.NotSymmetricError as error:
...     print(type(error).__mro__[1].__name__, "|", error)
InvalidInputError | hessian must be symmetric; largest asymmetry |A - A^T| is 2 (relative 1)
"""

from __future__ import annotations

__all__ = [
    "CertificationError",
    "ConvergenceError",
    "DimensionError",
    "InvalidInputError",
    "InvalidTypeError",
    "NotPositiveSemidefiniteError",
    "NotSymmetricError",
    "OutOfRangeError",
    "SizeLimitError",
    "StabilityError",
    "StabilityWarning",
    "TransposedDataWarning",
    "UnstableError",
]


class StabilityError(Exception):
    """Base class of every exception raised by :mod:`stability`."""


class InvalidInputError(StabilityError, ValueError):
    """An argument has the right type but a value the package cannot accept."""


class InvalidTypeError(StabilityError, TypeError):
    """An argument has a type the package cannot accept."""


class DimensionError(InvalidInputError):
    """An array has the wrong number of dimensions or the wrong shape."""


class NotSymmetricError(InvalidInputError):
    """A matrix that must be symmetric is not (within a tolerance)."""


class NotPositiveSemidefiniteError(InvalidInputError):
    """A Hessian or covariance has a negative eigenvalue: the point is not a minimum."""


class UnstableError(InvalidInputError):
    """A quantity that exists only in the mean-square stable regime was asked for outside it.

    Raised, for instance, when a stationary second moment is requested at a learning
    rate where the second-moment operator has spectral radius at least one.
    """


class SizeLimitError(InvalidInputError):
    """A computation was refused up front because it would not finish in reasonable time."""


class OutOfRangeError(InvalidInputError):
    """A result cannot be represented in double precision.

    Thresholds scale exactly with the problem (``η* ∝ 1/s`` when every Hessian is
    multiplied by ``s``), and problems are normalised internally, so this is raised only
    when the answer itself (for instance the sharpness, or a threshold ``~ 2/λ_max``)
    lies outside the floating-point range: the Hessian's largest eigenvalue must lie in
    ``[2^-1020, 2^1020]`` (about ``1e-307`` to ``1e307``).
    """


class ConvergenceError(StabilityError, RuntimeError):
    """An iterative solver did not reach the accuracy its result promises."""


class CertificationError(StabilityError, RuntimeError):
    """A float threshold and its high-precision (mpmath) recomputation disagree."""


class StabilityWarning(UserWarning):
    """Base class of every warning issued by :mod:`stability`."""


class TransposedDataWarning(StabilityWarning):
    """An array's shape suggests its axes were swapped (a transposed Jacobian, say).

    Issued, for instance, by :meth:`stability.Quadratic.from_data` when the data matrix
    has many more rows (read as samples) than columns (read as parameters), which is the
    shape of a transposed Jacobian of an over-parameterised model. When the shape is
    intended (a linear regression with many more samples than features, say), silence it
    with ``warnings.filterwarnings("ignore", category=stability.TransposedDataWarning)``.
    """
