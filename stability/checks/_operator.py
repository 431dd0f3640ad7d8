"""The operator under test: the prediction's own ``T`` or one the user supplies.

Whatever its form (the matrix-free recursion of :mod:`stability.numeric`, a
function ``S ↦ T(S)`` or a matrix in the row-major ``vec`` basis), it becomes one function
applying ``T`` to a stack ``(k, md, md)`` of moments in the problem's own coordinates.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from stability.errors import DimensionError, InvalidTypeError

__all__ = ["OperatorLike", "StackOperator", "operator_apply"]

#: What ``check(operator=...)`` accepts: a function ``S ↦ T(S)`` or a ``((md)², (md)²)`` array.
OperatorLike = Callable[[np.ndarray], np.ndarray] | np.ndarray
#: A function applying ``T`` to a stack ``(k, md, md)``.
StackOperator = Callable[[np.ndarray], np.ndarray]


def _function_apply(operator: Callable[[np.ndarray], Any], size: int) -> StackOperator:
    """Apply a user's ``S ↦ T(S)`` matrix by matrix, checking the shape of every image."""

    def apply(stack: np.ndarray) -> np.ndarray:
        images = [np.asarray(operator(matrix), dtype=float) for matrix in stack]
        for image in images:
            if image.shape != (size, size):
                raise DimensionError(
                    f"operator must map md × md matrices to md × md matrices ({size} × "
                    f"{size}); it returned shape {image.shape}"
                )
        return np.array(images).reshape(stack.shape)

    return apply


def _matrix_apply(operator: Any, size: int) -> StackOperator:
    """Apply a ``((md)², (md)²)`` matrix in the row-major ``vec`` basis."""
    try:
        matrix = np.asarray(operator, dtype=float)
    except (TypeError, ValueError):
        raise InvalidTypeError(
            "operator must be a function mapping an md × md matrix to T(S) or a "
            f"((md)², (md)²) array of numbers; got {type(operator).__name__} {operator!r:.40}"
        ) from None
    if matrix.shape != (size * size, size * size):
        raise DimensionError(
            f"operator given as an array must have shape ((md)², (md)²) = ({size**2}, "
            f"{size**2}) in the row-major vec basis; got {matrix.shape}"
        )

    def apply(stack: np.ndarray) -> np.ndarray:
        flat = stack.reshape(-1, size * size)
        return (flat @ matrix.T).reshape(stack.shape)

    return apply


def operator_apply(
    operator: OperatorLike | None, prediction: StackOperator, size: int
) -> StackOperator:
    """A function applying the operator under test to a stack ``(k, md, md)``.

    Parameters
    ----------
    operator : callable or ndarray or None
        The user's operator (see :func:`stability.checks.check`); ``None`` for the
        prediction's own.
    prediction : callable
        The prediction's ``T`` on stacks (e.g. ``SecondMomentRecursion.apply``).
    size : int
        ``md``, the state size.

    Raises
    ------
    InvalidTypeError
        If ``operator`` is neither a function nor an array of numbers.
    DimensionError
        If the array has the wrong shape, or the function returns one.

    Examples
    --------
    >>> import numpy as np
    >>> from stability.checks._operator import operator_apply
    >>> apply = operator_apply(2.0 * np.eye(4), lambda stack: stack, 2)
    >>> apply(np.eye(2)[None])[0]
    array([[2., 0.],
           [0., 2.]])
    """
    if operator is None:
        return prediction
    if callable(operator):
        return _function_apply(operator, size)
    return _matrix_apply(operator, size)
