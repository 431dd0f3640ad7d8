"""Confidence bands for means of i.i.d. runs: empirical Bernstein and normal (CLT) radii.

The statistics are explained in ``docs/monte-carlo.md``. :func:`band_ends` is the one band
of the engine, used for the mean square, the loss and the per-sample losses alike.
"""

from __future__ import annotations

import math
import statistics
from typing import Any, Literal

import numpy as np

from stability.errors import InvalidInputError

__all__ = [
    "DEFAULT_FALSE_ALARM",
    "ROUNDING",
    "BandKind",
    "band_ends",
    "bernstein_radius",
    "normal_radius",
]

#: Default probability that a reported band misses the true mean at any of its times.
DEFAULT_FALSE_ALARM = 1e-6
#: Relative rounding allowance per step between two exact computations of the same moment.
ROUNDING = 1e-9

BandKind = Literal["auto", "exact", "bernstein", "normal"]


def bernstein_radius(variance: Any, runs: int, value_range: Any, false_alarm: float) -> np.ndarray:
    """Half-width of the two-sided empirical Bernstein band (Maurer & Pontil 2009, Thm 4).

    For ``R`` i.i.d. variables in an interval of width ``b`` with unbiased sample variance
    ``V``, the true mean lies within

        sqrt(2 V log(4/δ) / R) + 7 b log(4/δ) / (3 (R − 1))

    of the sample mean with probability at least ``1 − δ`` (``δ = false_alarm``; each
    side at ``δ/2``). This holds for every ``R ≥ 2`` and every distribution on the interval.

    Parameters
    ----------
    variance : float or array_like
        The unbiased sample variance ``V`` (elementwise for arrays).
    runs : int
        The sample size ``R``; below 2 the radius is infinite.
    value_range : float or array_like
        The width ``b`` of an interval known to contain every value.
    false_alarm : float
        ``δ``, the probability that the true mean lies outside.

    Returns
    -------
    ndarray
        The half-widths (``inf`` where an input is infinite or undefined).

    Examples
    --------
    >>> from stability.simulation import bernstein_radius
    >>> round(float(bernstein_radius(0.0, 1001, 1.0, 1e-6)), 6)  # 7 log(4e6) / 3000
    0.035471
    """
    variance = np.asarray(variance, dtype=float)
    value_range = np.asarray(value_range, dtype=float)
    if runs < 2:
        return np.full(np.broadcast(variance, value_range).shape, np.inf)
    log_term = math.log(4.0 / false_alarm)
    with np.errstate(invalid="ignore", over="ignore"):
        radius = np.sqrt(2.0 * np.maximum(variance, 0.0) * log_term / runs) + (
            7.0 * value_range * log_term / (3.0 * (runs - 1))
        )
    return np.where(np.isnan(radius), np.inf, radius)


def normal_radius(variance: Any, runs: int, false_alarm: float) -> np.ndarray:
    """Half-width ``z_{1−δ/2} sqrt(V / R)`` of the two-sided CLT band (asymptotic coverage).

    Parameters
    ----------
    variance : float or array_like
        The sample variance ``V``.
    runs : int
        The sample size ``R``.
    false_alarm : float
        ``δ``, the nominal probability that the true mean lies outside.

    Examples
    --------
    >>> from stability.simulation import normal_radius
    >>> round(float(normal_radius(4.0, 100, 0.05)), 4)  # 1.96 · 2 / 10
    0.392
    """
    quantile = statistics.NormalDist().inv_cdf(1.0 - false_alarm / 2.0)
    variance = np.asarray(variance, dtype=float)
    with np.errstate(invalid="ignore", over="ignore"):
        radius = quantile * np.sqrt(np.maximum(variance, 0.0) / runs)
    return np.where(np.isnan(radius), np.inf, radius)


def band_ends(
    mean: np.ndarray,
    variance: np.ndarray,
    range_bound: np.ndarray,
    runs: int,
    kind: str,
    false_alarm: float,
    times: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """Ends of a band for means of non-negative per-run values, ``false_alarm`` per cell.

    ``mean``, ``variance`` and ``range_bound`` have the time axis first (``times``, used for
    the rounding allowance ``ROUNDING · (t + 1) · |mean|``); any further axes are cells too.

    Parameters
    ----------
    mean, variance : ndarray
        Sample means and unbiased sample variances.
    range_bound : ndarray
        An a priori bound every per-run value obeys (``inf`` if none).
    runs : int
        The number of runs.
    kind : {"exact", "bernstein", "normal"}
        The band.
    false_alarm : float
        The miss probability allowed to each cell (the caller applies Bonferroni).
    times : ndarray of int
        The time of each row.

    Examples
    --------
    >>> import numpy as np
    >>> lower, upper = band_ends(np.array([1.0]), np.array([0.0]), np.array([2.0]), 1,
    ...                          "exact", 1e-6, np.array([0]))
    >>> float(upper[0] - 1.0) < 1e-8
    True
    """
    shape = (-1,) + (1,) * (np.ndim(mean) - 1)
    slack = ROUNDING * (np.reshape(times, shape) + 1) * np.abs(mean)
    with np.errstate(invalid="ignore", over="ignore"):
        if kind == "exact":
            radius = slack
        elif kind == "bernstein":
            radius = bernstein_radius(variance, runs, range_bound, false_alarm) + slack
        elif kind == "normal":
            radius = normal_radius(variance, runs, false_alarm) + slack
        else:
            raise InvalidInputError(
                f"kind must be 'auto', 'exact', 'bernstein' or 'normal'; got {kind!r}"
            )
        lower = np.maximum(mean - radius, 0.0)
        upper = mean + radius
        if kind == "bernstein":
            upper = np.minimum(upper, range_bound * (1 + ROUNDING))
    lower = np.where(np.isfinite(mean), lower, 0.0)
    upper = np.where(np.isfinite(mean), upper, np.inf)
    return lower, upper
