"""The crossing searches shared by every threshold of the numeric layer.

Theory: ``docs/theory/operator.md`` (rule 2) and ``docs/theory/higher-moments.md``. A threshold is
the first learning rate at which a moment operator ``T(η)`` (the second-moment operator, or the
``k``-th moment operator ``E[A^{⊗k}]``) reaches spectral radius one. Two searches find it, and
every evaluator of the numeric layer uses these two and no copy of them:

* :func:`pencil_threshold`: when the coefficients ``T(η) = Σ_q η^q T_q`` are assembled, the
  smallest positive real root of ``det(T(η) − I) = 0`` by the deflated companion pencil of
  :mod:`stability.numeric`, in the rescaled variable ``ν = scale · η`` so that the
  roots are of order one;
* :func:`first_crossing`: when only ``ρ(T(η))`` can be evaluated (matrix-free), the first root
  of ``ρ(T(η)) − 1`` in ``(0, upper]``: a bracket below ``upper`` (stepping down by factors of
  four, or scanning a uniform grid for the first crossing), shrunk by the Illinois variant of
  regula falsi.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from stability.errors import ConvergenceError
from stability.numeric._polynomial import smallest_positive_real_root

__all__ = ["first_crossing", "pencil_threshold"]

#: ``ρ(T(upper)) − 1`` at most this counts as the crossing being ``upper`` itself.
UPPER_TOLERANCE = 1e-12


def pencil_threshold(coefficients: np.ndarray, scale: float) -> float:
    """The smallest positive root ``η`` of ``det(Σ_q η^q T_q − I) = 0``.

    Parameters
    ----------
    coefficients : ndarray, shape (q + 1, s, s)
        ``T_q``, the coefficients of the operator in ``η`` (not modified).
    scale : float
        A positive number of the order of ``1/η*`` (the sharpness): the pencil is solved in
        ``ν = scale · η``.

    Returns
    -------
    float
        ``η*`` (``math.inf`` when ``det(T(η) − I)`` has no positive real root).

    Examples
    --------
    >>> import numpy as np
    >>> from stability.numeric._crossing import pencil_threshold
    >>> coefficients = np.array([[[1.0]], [[-2.0]], [[1.0]]])  # T(η) = (1 − η)²
    >>> pencil_threshold(coefficients, 1.0)  # (1 − η)² = 1 at η = 2
    2.0
    """
    powers = np.arange(len(coefficients))[:, None, None]
    scaled = coefficients / scale**powers  # in ν = scale · η
    scaled[0] -= np.eye(scaled.shape[1])
    return smallest_positive_real_root(scaled) / scale


def first_crossing(
    excess: Callable[[float], float],
    upper: float,
    *,
    relative_tolerance: float = 1e-13,
    grid: int | None = None,
) -> float:
    """The first ``η`` in ``(0, upper]`` with ``excess(η) = ρ(T(η)) − 1 = 0``.

    ``upper`` must satisfy ``excess(upper) ≥ 0`` (a full-batch or a lower-order threshold
    does); ``upper`` is returned when ``excess(upper) ≤ 1e-12``, or, with ``grid``, when no
    grid point crosses. The bracket is found by stepping down from ``upper`` by factors of
    four (``grid=None``), or by scanning the points ``upper · j / grid``, ``j = 1, …, grid``,
    for the first with ``excess ≥ 0``; the Illinois variant of regula falsi then shrinks it to
    a relative width of ``relative_tolerance``. The root is the smallest one whenever
    ``excess`` changes sign only once below the bracket (with ``grid``: at most once between
    grid points).

    Parameters
    ----------
    excess : callable
        ``η ↦ ρ(T(η)) − 1``; negative for small ``η``.
    upper : float
        A learning rate with ``excess(upper) ≥ 0``.
    relative_tolerance : float, default 1e-13
        Width of the final bracket relative to its upper end.
    grid : int or None, default None
        Scan this many uniform points of ``(0, upper]`` for the first crossing.

    Returns
    -------
    float
        The crossing.

    Raises
    ------
    ConvergenceError
        If no learning rate with ``excess < 0`` is found below ``upper``.

    Examples
    --------
    >>> from stability.numeric._crossing import first_crossing
    >>> round(first_crossing(lambda lr: lr * lr - 2.0, 4.0), 12)
    1.414213562373
    >>> round(first_crossing(lambda lr: lr * lr - 2.0, 4.0, grid=8), 12)
    1.414213562373
    """
    if grid is None:
        bracket = _descending_bracket(excess, float(upper))
    else:
        bracket = _grid_bracket(excess, float(upper), grid)
    if bracket is None:
        return float(upper)
    return _illinois(excess, *bracket, relative_tolerance)


Bracket = tuple[float, float, float, float]


def _descending_bracket(excess: Callable[[float], float], upper: float) -> Bracket | None:
    high, f_high = upper, excess(upper)
    if f_high <= UPPER_TOLERANCE:
        return None
    low, f_low = high, f_high
    for _ in range(40):
        low = 0.25 * high
        f_low = excess(low)
        if f_low < 0:
            break
        high, f_high = low, f_low
    else:  # pragma: no cover - T(η) → F ⊗ F with ρ ≤ 1 as η → 0
        raise ConvergenceError("no stable learning rate found below the upper end of the search")
    return low, f_low, high, f_high


def _grid_bracket(excess: Callable[[float], float], upper: float, grid: int) -> Bracket | None:
    previous, f_previous = 0.0, -1.0
    for point in upper * np.arange(1, grid + 1) / grid:
        point = float(point)
        value = excess(point)
        if value >= 0:
            if previous == 0.0:  # the first grid point already crosses: step below it
                previous = point
                for _ in range(40):
                    previous /= grid
                    f_previous = excess(previous)
                    if f_previous < 0:
                        break
                else:  # pragma: no cover - T(η) → F^{⊗k} with ρ ≤ 1 as η → 0
                    raise ConvergenceError(
                        "no stable learning rate found below the upper end of the search"
                    )
            return previous, f_previous, point, value
        previous, f_previous = point, value
    return None


def _illinois(
    excess: Callable[[float], float],
    low: float,
    f_low: float,
    high: float,
    f_high: float,
    relative_tolerance: float,
) -> float:
    side = 0
    for _ in range(200):
        if high - low <= relative_tolerance * high:
            break
        point = (low * f_high - high * f_low) / (f_high - f_low)
        if not low < point < high:
            point = 0.5 * (low + high)
        value = excess(point)
        if value == 0:
            return float(point)
        if value < 0:
            low, f_low = point, value
            if side == -1:
                f_high *= 0.5
            side = -1
        else:
            high, f_high = point, value
            if side == 1:
                f_low *= 0.5
            side = 1
    return float(low - f_low * (high - low) / (f_high - f_low))
