"""The base class every optimiser derives from.

A method is a small frozen object holding its hyper-parameters (validated on
construction) and one job: :meth:`Method.dynamics` compiles it to the shared
:class:`~stability.dynamics.LinearDynamics`. Adding an optimiser means writing one
such class in one small file; the numeric, symbolic and Monte Carlo evaluators need
no change.
"""

from __future__ import annotations

import math
import numbers
from abc import ABC, abstractmethod
from dataclasses import dataclass, fields
from typing import Any

from stability._validation import exact_number, is_symbolic
from stability.dynamics import BatchLaw, LinearDynamics, ReshuffledBatchLaw
from stability.errors import InvalidInputError, InvalidTypeError

__all__ = ["Method", "as_dynamics", "batch_law", "check_weight_decay"]

#: Fields that :meth:`Method.__repr__` shows only when they differ from their default.
_QUIET_WHEN_DEFAULT = frozenset({"weight_decay", "shuffle", "drop_last", "preconditioner"})


def batch_law(
    batch_size: int | None,
    replacement: bool = False,
    shuffle: bool = False,
    drop_last: bool = False,
) -> BatchLaw:
    """The batch law of a method's options: i.i.d. draws, or reshuffled epochs when ``shuffle``.

    Parameters
    ----------
    batch_size : int | None
        Batch size B; None is the full batch.
    replacement : bool, default False
        Whether batches are drawn with replacement.
    shuffle : bool, default False
        Whether batches are drawn by random reshuffling (without replacement, epoch by epoch).
    drop_last : bool, default False
        With reshuffling, whether the incomplete last batch of an epoch is dropped.

    Examples
    --------
    >>> from stability.methods import batch_law
    >>> batch_law(4).describe(), batch_law(4, shuffle=True).describe()
    ('B=4 without replacement', 'B=4 reshuffled every epoch (short last batch)')
    """
    for name, value in (("shuffle", shuffle), ("drop_last", drop_last)):
        if not isinstance(value, bool):
            raise InvalidTypeError(f"{name} must be True or False; got {value!r}")
    if not shuffle:
        if drop_last:
            raise InvalidInputError(
                "drop_last=True applies only to reshuffled epochs (shuffle=True); i.i.d. "
                "batches have no epochs"
            )
        return BatchLaw(batch_size, replacement)
    if batch_size is None:
        raise InvalidInputError("shuffle=True needs a batch_size (the full batch has no order)")
    return ReshuffledBatchLaw(batch_size, replacement, drop_last)


def check_weight_decay(value: Any, name: str = "weight_decay") -> Any:
    """Check a weight-decay coefficient ``μ``: a finite real ``μ ≥ 0`` or a SymPy expression.

    Returns it as an exact number (:func:`stability._validation.exact_number`), so that the
    compiled dynamics ``F + μ G`` keep exact coefficients.

    Parameters
    ----------
    value : Any
        The value to check.
    name : str, default 'weight_decay'
        Name of the argument, used in error messages.

    Examples
    --------
    >>> from stability.methods import check_weight_decay
    >>> check_weight_decay(0.01)
    Fraction(1, 100)
    >>> check_weight_decay(-1.0)
    Traceback (most recent call last):
    ...
    stability.errors.InvalidInputError: weight_decay must be finite and non-negative; got -1.0
    """
    if is_symbolic(value):
        if value.is_negative:
            raise InvalidInputError(f"{name} must be non-negative; got {value}")
        return value
    if hasattr(value, "free_symbols"):  # a SymPy number without symbols
        try:
            value = float(value)
        except TypeError:
            raise InvalidTypeError(f"{name} must be a real number; got {value!r}") from None
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise InvalidTypeError(f"{name} must be a real number; got {value!r}")
    if not math.isfinite(float(value)) or value < 0:
        raise InvalidInputError(f"{name} must be finite and non-negative; got {value!r}")
    return exact_number(value)


@dataclass(frozen=True, repr=False)
class Method(ABC):
    """An optimiser that compiles to a :class:`~stability.dynamics.LinearDynamics`."""

    @abstractmethod
    def dynamics(self) -> LinearDynamics:
        """The method's random linear recursion near a quadratic minimum."""

    def __repr__(self) -> str:
        """``Name(field=value, ...)``; the training options are shown only when set.

        ``weight_decay``, ``shuffle`` and ``drop_last`` are left out at their defaults, so
        ``GD()`` reads ``GD()``.
        """
        parts = []
        for item in fields(self):
            value = getattr(self, item.name)
            if item.name in _QUIET_WHEN_DEFAULT and value == item.default:
                continue
            parts.append(f"{item.name}={value!r}")
        return f"{type(self).__name__}({', '.join(parts)})"

    @property
    def batch(self) -> BatchLaw:
        """The law of the batch draw (full batch unless the method samples)."""
        return self.dynamics().batch


def as_dynamics(method: Any) -> LinearDynamics:
    """Accept a :class:`Method` or a ready :class:`~stability.dynamics.LinearDynamics`.

    Parameters
    ----------
    method : Method or LinearDynamics
        The optimiser: a method object (e.g. ``SGD``) or its ``LinearDynamics``.

    Raises
    ------
    InvalidTypeError
        If ``method`` is neither.
    InvalidInputError
        If the method has a frozen preconditioner: evaluators read the congruent pair of
        :func:`stability.preconditioning.congruent` instead.
    """
    if isinstance(method, LinearDynamics):
        dynamics = method
    elif isinstance(method, Method):
        dynamics = method.dynamics()
    else:
        dynamics = None
    if dynamics is not None:
        if dynamics.preconditioning is not None:
            raise InvalidInputError(
                f"{dynamics.name} has a frozen preconditioner; analyse it on the congruent "
                "problem: problem, method = stability.preconditioning.congruent(problem, method)"
            )
        return dynamics
    raise InvalidTypeError(
        "method must be a stability method (GD(), SGD(...), HeavyBall(...), ...) or a "
        f"LinearDynamics; got {type(method).__name__}"
    )
