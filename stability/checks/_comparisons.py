"""Comparisons of two layers: exact (relative tolerance) and statistical (confidence bands).

Theory: ``docs/monte-carlo.md``. Every function here returns one
:class:`~stability.checks.Comparison`; none draws random numbers or simulates.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from stability.checks._report import Comparison
from stability.simulation import SimulationResult, bernstein_radius, normal_radius

__all__ = [
    "EXACT_TOLERANCE",
    "exact_comparison",
    "growth_comparison",
    "matrix_comparison",
    "trajectory_comparison",
    "verdict_comparison",
]

#: Relative tolerance of the exact (non-statistical) comparisons.
EXACT_TOLERANCE = 1e-8
# Relative rounding allowance between a simulated and a predicted number.
_ROUNDING = 1e-9


def exact_comparison(name: str, layers: str, left: Any, right: Any) -> Comparison:
    """Two exact computations of the same numbers, to the relative tolerance ``1e-8``.

    The difference is relative to the largest magnitude in either array; equal infinities
    agree; arrays of different shapes disagree.

    Parameters
    ----------
    name : str
        What is compared.
    layers : str
        Which layers, e.g. ``"numeric–symbolic"``.
    left, right : array_like
        The two computations.

    Examples
    --------
    >>> from stability.checks._comparisons import exact_comparison
    >>> exact_comparison("η*", "numeric–symbolic", 2.0, 2.0 + 1e-9).passed
    True
    >>> exact_comparison("η*", "numeric–symbolic", 2.0, 2.0 + 1e-6).passed
    False
    """
    left = np.asarray(left, dtype=float)
    right = np.asarray(right, dtype=float)
    if left.shape != right.shape:
        detail = f"shapes differ: {left.shape} vs {right.shape}"
        return Comparison(name, layers, False, "exact", 0.0, math.inf, detail)
    if np.all(np.isinf(left) & np.isinf(right) & (np.sign(left) == np.sign(right))):
        return Comparison(name, layers, True, "exact", 0.0, 0.0, "both infinite")
    scale = max(float(np.max(np.abs(right), initial=0.0)), float(np.max(np.abs(left), initial=0.0)))
    difference = float(np.max(np.abs(left - right), initial=0.0))
    relative = difference / scale if scale > 0 else difference
    return Comparison(
        name,
        layers,
        bool(relative <= EXACT_TOLERANCE),
        "exact",
        0.0,
        relative / EXACT_TOLERANCE,
        f"largest relative difference {relative:.2g} (tolerance {EXACT_TOLERANCE:g})",
    )


def verdict_comparison(radius: float, lr: float, threshold: float) -> Comparison | None:
    """``ρ(T(η)) < 1 ⇔ η < η*``; ``None`` when ``η* = ∞`` or ``ρ`` is within ``1e-9`` of one.

    Parameters
    ----------
    radius : float
        ``ρ(T(η))``.
    lr : float
        ``η``.
    threshold : float
        ``η*``.

    Examples
    --------
    >>> from stability.checks._comparisons import verdict_comparison
    >>> verdict_comparison(0.9, 1.0, 2.0).passed, verdict_comparison(1.1, 1.0, 2.0).passed
    (True, False)
    """
    if not math.isfinite(threshold) or abs(radius - 1.0) <= 1e-9:
        return None
    consistent = (radius < 1.0) == (lr < threshold)
    return Comparison(
        "verdict ρ(T(η)) < 1 ⇔ η < η*",
        "numeric–numeric",
        consistent,
        "exact",
        0.0,
        0.0 if consistent else math.inf,
        f"ρ = {radius:.10g}, η/η* = {lr / threshold:.10g}",
    )


def matrix_comparison(
    name: str,
    estimate: np.ndarray,
    variance: np.ndarray,
    predicted: np.ndarray,
    runs: int,
    false_alarm: float,
    *,
    value_range: float | None,
) -> Comparison:
    """Entrywise comparison of a simulated and a predicted matrix, Bonferroni over entries.

    Only the upper triangle is compared (the matrices are symmetric). With a
    ``value_range`` the empirical Bernstein band is used (guaranteed), without one the
    normal band (asymptotic).

    Parameters
    ----------
    name : str
        What is compared.
    estimate : ndarray
        The sample mean of each entry.
    variance : ndarray
        The unbiased sample variance of each entry.
    predicted : ndarray
        The predicted matrix.
    runs : int
        The sample size.
    false_alarm : float
        The probability allotted to a false alarm of the whole comparison.
    value_range : float or None
        The width of an interval holding every sample of every entry, if known.

    Examples
    --------
    >>> import numpy as np
    >>> from stability.checks._comparisons import matrix_comparison
    >>> estimate, variance = np.eye(2), np.full((2, 2), 0.01)
    >>> matrix_comparison("S", estimate, variance, np.eye(2), 100, 1e-6, value_range=1.0).passed
    True
    >>> matrix_comparison("S", estimate, variance, 3 * np.eye(2), 100, 1e-6, value_range=1.0).passed
    False
    """
    rows, columns = np.triu_indices(estimate.shape[0])
    count = rows.size
    difference = np.abs(estimate - predicted)[rows, columns]
    slack = _ROUNDING * max(np.abs(predicted).max(), np.abs(estimate).max())
    if value_range is None:
        radius = normal_radius(variance[rows, columns], runs, false_alarm / count) + slack
        kind = "asymptotic"
    else:
        entry_variance = variance[rows, columns]
        radius = bernstein_radius(entry_variance, runs, value_range, false_alarm / count) + slack
        kind = "guaranteed"
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.where(radius > 0, difference / radius, np.where(difference > 0, np.inf, 0.0))
    worst = int(np.argmax(ratio))
    score = float(ratio[worst])
    row, column = rows[worst], columns[worst]
    detail = (
        f"{count} entries, worst ({row}, {column}): simulated {estimate[row, column]:.6g} vs "
        f"predicted {predicted[row, column]:.6g} ± {radius[worst]:.3g}"
    )
    return Comparison(name, "prediction–simulation", score <= 1.0, kind, false_alarm, score, detail)


def growth_comparison(
    growth: np.ndarray,
    predicted: float,
    overlap: float,
    value_range: float,
    false_alarm: float,
) -> tuple[Comparison, tuple[float, float, float]]:
    """The simulated one-step growth along the top mode against the predicted one.

    ``growth`` holds ``⟨W, z_1 z_1ᵀ⟩`` of every run started from ``Σ``; its mean estimates
    ``⟨W, T(Σ)⟩ = ρ ⟨W, Σ⟩`` within the guaranteed Bernstein band.

    Parameters
    ----------
    growth : ndarray, shape (runs,)
        ``⟨W, z_1 z_1ᵀ⟩`` per run.
    predicted : float
        ``⟨W, T(Σ)⟩``.
    overlap : float
        ``⟨W, Σ⟩`` (the unit the growth is reported in).
    value_range : float
        The width of an interval holding every ``⟨W, z_1 z_1ᵀ⟩``.
    false_alarm : float
        The probability allotted to a false alarm.

    Returns
    -------
    comparison : Comparison
        The comparison.
    band : tuple of float
        ``(ρ̂, lower, upper)``: the simulated growth and its band, in units of ``⟨W, Σ⟩``.

    Examples
    --------
    >>> import numpy as np
    >>> from stability.checks._comparisons import growth_comparison
    >>> growth = np.random.default_rng(0).uniform(0.0, 1.0, 10_000)
    >>> comparison, (estimate, lower, upper) = growth_comparison(growth, 0.5, 1.0, 1.0, 1e-6)
    >>> comparison.passed, bool(lower < 0.5 < upper)
    (True, True)
    """
    runs = growth.shape[0]
    radius = float(bernstein_radius(growth.var(ddof=1), runs, value_range, false_alarm))
    estimate = float(growth.mean())
    slack = _ROUNDING * max(abs(predicted), abs(estimate))
    difference = abs(estimate - predicted)
    comparison = Comparison(
        "one-step growth ⟨W, E[AΣAᵀ]⟩ along the top mode",
        "prediction–simulation",
        difference <= radius + slack,
        "guaranteed",
        false_alarm,
        difference / (radius + slack) if radius + slack > 0 else 0.0,
        f"simulated {estimate / overlap:.6g} vs predicted {predicted / overlap:.6g} "
        f"± {radius / overlap:.3g} (in units of ⟨W, Σ⟩)",
    )
    band = (
        estimate / overlap,
        max(estimate - radius, 0.0) / overlap,
        (estimate + radius) / overlap,
    )
    return comparison, band


def trajectory_comparison(
    trajectory: SimulationResult, predicted: np.ndarray, false_alarm: float
) -> Comparison:
    """The predicted ``E‖z_t‖²``, ``t = 1..steps``, inside the simulation's simultaneous band.

    Parameters
    ----------
    trajectory : SimulationResult
        The simulated trajectory.
    predicted : ndarray, shape (steps + 1,)
        The exact ``E‖z_t‖²``, ``t = 0..steps``.
    false_alarm : float
        The probability allotted to a false alarm over all times.

    Examples
    --------
    >>> import numpy as np
    >>> from stability import SGD, Quadratic
    >>> from stability.checks._comparisons import trajectory_comparison
    >>> from stability.numeric import predicted_mean_square
    >>> from stability.simulation import simulate
    >>> problem = Quadratic.from_data([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]])
    >>> trajectory = simulate(problem, SGD(1), 0.5, steps=3, runs=2000, seed=0)
    >>> exact = predicted_mean_square(problem, SGD(1), 0.5, steps=3)
    >>> trajectory_comparison(trajectory, exact, 1e-6).passed
    True
    >>> trajectory_comparison(trajectory, 2 * exact, 1e-6).passed
    False
    """
    horizon = trajectory.steps
    times = np.arange(1, horizon + 1)
    lower, upper = trajectory.band(false_alarm, times=times)
    values = predicted[times]
    inside = (lower <= values) & (values <= upper)
    width = np.maximum(upper - lower, np.finfo(float).tiny) / 2
    centre = (upper + lower) / 2
    ratio = np.abs(values - centre) / width
    worst = int(np.argmax(ratio))
    kind = {"exact": "exact", "bernstein": "guaranteed", "normal": "asymptotic"}[
        trajectory.band_kind()
    ]
    return Comparison(
        f"E‖z_t‖², t = 1..{horizon}",
        "prediction–simulation",
        bool(np.all(inside)),
        kind,
        false_alarm,
        float(ratio[worst]),
        f"worst t={times[worst]}: predicted {values[worst]:.6g}, simulated "
        f"{trajectory.mean_square[times[worst]]:.6g} in [{lower[worst]:.6g}, "
        f"{upper[worst]:.6g}]",
    )
