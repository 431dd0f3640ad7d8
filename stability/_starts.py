"""Start states of the recursion: the default error ``δ_0`` and the accepted forms of ``init``.

Shared by the exact prediction (:mod:`stability.numeric`) and the Monte Carlo
engine (:mod:`stability.simulation`), which must start from the same state.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from stability._validation import as_finite_array, check_positive_integer
from stability.errors import DimensionError

__all__ = ["default_initial_error", "initial_states"]


def default_initial_error(dimension: int) -> np.ndarray:
    """The default start ``δ_0 = (1, …, 1)/√d``, a unit vector with equal weight on every axis.

    It is used by :func:`predicted_mean_square` and :func:`stability.simulation.simulate`
    when no ``init`` is given; for momentum ``δ_{-1} = δ_0``. A start orthogonal to the
    unstable directions would hide an instability from any trajectory, so pass ``init``
    when the all-ones direction is special for your problem.

    Parameters
    ----------
    dimension : int
        ``d``.

    Examples
    --------
    >>> from stability._starts import default_initial_error
    >>> default_initial_error(4)
    array([0.5, 0.5, 0.5, 0.5])
    """
    dimension = check_positive_integer(dimension, "dimension")
    return np.full(dimension, 1.0 / np.sqrt(dimension))


def initial_states(init: Any, dimension: int, blocks: int) -> np.ndarray:
    """Normalise ``init`` to start states: shape ``(md,)`` or ``(runs, md)``.

    ``init`` may be ``None`` (:func:`default_initial_error`), an error vector ``δ_0`` of
    length ``d`` (every state block starts at ``δ_0``: for momentum ``δ_{-1} = δ_0``), a
    full state of length ``m d``, or a 2-D array with one such row per run.

    Parameters
    ----------
    init : array_like or None
        The start.
    dimension : int
        ``d``.
    blocks : int
        ``m``, the number of state blocks.

    Raises
    ------
    DimensionError
        If the length is neither ``d`` nor ``m d``.

    Examples
    --------
    >>> from stability._starts import initial_states
    >>> initial_states([1.0, 2.0], dimension=2, blocks=2)
    array([1., 2., 1., 2.])
    """
    if init is None:
        return np.tile(default_initial_error(dimension), blocks)
    array = as_finite_array(init, "init", (1, 2))
    length = array.shape[-1]
    if length == dimension:
        return np.tile(array, blocks) if array.ndim == 1 else np.tile(array, (1, blocks))
    if length == dimension * blocks:
        return array.copy()
    wanted = f"d={dimension}" + (f" or m·d={dimension * blocks}" if blocks > 1 else "")
    raise DimensionError(
        f"init must have {wanted} entries per start (the error δ_0"
        + (" or the full state)" if blocks > 1 else ")")
        + f"; got shape {array.shape}"
    )
