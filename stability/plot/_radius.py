"""Spectral radius of the second-moment operator against the learning rate.

Theory: ``docs/theory/operator.md`` and ``docs/theory/threshold.md``. Mean-square
stability at ``η`` is ``ρ(T(η)) < 1`` on the non-neutral subspace, and the exact
threshold ``η*`` is where the curve crosses one (always at ``+1``, by the Krein–Rutman
argument of ``docs/theory/operator.md``)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import scipy.linalg

from stability._validation import check_learning_rates
from stability.errors import InvalidInputError
from stability.methods import Method, as_dynamics
from stability.numeric import (
    DENSE_RADIUS_SIZE,
    ReducedOperator,
    critical_learning_rate,
    reduced_operator,
    spectral_gap,
    spectral_radius,
)
from stability.plot._backend import method_label, new_axes, require_matplotlib
from stability.plot._style import finish_axes
from stability.problems import Quadratic, as_problem

__all__ = ["SCALES", "radius_curve", "radius_excess_curve", "spectral_radius_curves"]

#: The vertical axes :func:`spectral_radius_curves` can draw.
SCALES = ("radius", "margin")


def _radius(operator: ReducedOperator, lr: float) -> float:
    if operator.size == 0:
        return 0.0
    matrix = operator.matrix(lr)
    if operator.gradient_scale is not None:
        # T is symmetric and maps the PSD cone into itself, so (Krein–Rutman,
        # docs/theory/operator.md) its spectral radius is its largest eigenvalue: only the
        # top one is computed.
        top = len(matrix) - 1
        return float(scipy.linalg.eigvalsh(matrix, subset_by_index=[top, top])[0])
    return float(np.max(np.abs(scipy.linalg.eigvals(matrix))))


def _radius_excess(operator: ReducedOperator, lr: float) -> float:
    """``ρ(T(η)) − 1`` without forming ``1 + (small)``: the top eigenvalue of ``T(η) − I``.

    For gradient steps ``T(η) − I = g²η² D − 2gη C`` is symmetric and its largest eigenvalue
    is ``ρ − 1`` (Krein–Rutman: ``ρ`` is the top eigenvalue of ``T``). Otherwise the Perron
    root is the eigenvalue of ``T`` of largest real part, so ``ρ − 1`` is the largest real
    part of the eigenvalues of ``T(η) − I``. Either way the identity is subtracted before
    the eigenvalue problem, so a small ``1 − ρ`` (a nearly flat direction) keeps its digits.
    """
    if operator.size == 0:
        return -1.0
    if operator.gradient_scale is not None:
        g_lr = operator.gradient_scale * lr
        matrix = g_lr**2 * operator.noise_curvature
        matrix[np.diag_indices_from(matrix)] -= 2.0 * g_lr * operator.curvature
        top = len(matrix) - 1
        return float(scipy.linalg.eigvalsh(matrix, subset_by_index=[top, top])[0])
    matrix = operator.matrix(lr) - np.eye(operator.coefficients.shape[-1])
    return float(np.max(scipy.linalg.eigvals(matrix).real))


def radius_excess_curve(problem: Quadratic, method: Any, lrs: Any) -> np.ndarray:
    """``ρ(T(η)) − 1`` at each learning rate of ``lrs``, accurate when ``ρ`` is close to one.

    Negative below ``η*`` (``−(ρ − 1)`` is how much ``E‖z‖²`` shrinks per step along the
    slowest mode), zero at ``η*``, positive above. :func:`radius_curve` minus one would
    lose the digits of a small ``1 − ρ`` (a nearly flat direction keeps ``ρ`` within
    ``1e-12`` of one); here the identity is subtracted from ``T(η)`` before its
    eigenvalues are taken (small operators; larger ones use
    :func:`stability.numeric.spectral_gap`, which avoids the cancellation where
    its route allows it).

    Parameters
    ----------
    problem : Quadratic
        The minimum.
    method : Method or LinearDynamics
        The optimiser.
    lrs : array_like, shape (k,)
        Positive learning rates.

    Returns
    -------
    ndarray, shape (k,)
        ``ρ(T(η)) − 1``.

    Examples
    --------
    >>> import numpy as np
    >>> from stability import GD, Quadratic
    >>> from stability.plot import radius_excess_curve
    >>> problem = Quadratic(np.diag([2.0, 1e-9]))   # a nearly flat direction
    >>> excess = radius_excess_curve(problem, GD(), [0.5])   # (1 − η λ_min)² − 1 = −1e-9
    >>> float(excess[0] / -1e-9)
    1.0
    """
    problem = as_problem(problem)
    values = check_learning_rates(lrs)
    state = as_dynamics(method).blocks * problem.reduced().rank
    if state * (state + 1) // 2 > DENSE_RADIUS_SIZE:
        return np.array([-spectral_gap(problem, method, float(lr)) for lr in values])
    operator = reduced_operator(problem, method)
    return np.array([_radius_excess(operator, float(lr)) for lr in values])


def radius_curve(problem: Quadratic, method: Any, lrs: Any) -> np.ndarray:
    """``ρ(T(η))`` at each learning rate of ``lrs``, assembling the operator only once.

    The same quantity as :func:`stability.spectral_radius`, evaluated on a grid: small
    operators (up to ``DENSE_RADIUS_SIZE`` coordinates) are assembled once and only the
    eigenvalues are recomputed per learning rate; larger ones are applied matrix-free at
    each learning rate (:func:`stability.spectral_radius` with ``solver="matrix-free"``).

    Parameters
    ----------
    problem : Quadratic
        The minimum.
    method : Method or LinearDynamics
        The optimiser.
    lrs : array_like, shape (k,)
        Positive learning rates.

    Returns
    -------
    ndarray, shape (k,)
        The spectral radii.

    Examples
    --------
    >>> import numpy as np
    >>> from stability import GD, Quadratic
    >>> from stability.plot import radius_curve
    >>> radius_curve(Quadratic(np.diag([2.0, 1.0])), GD(), [0.25, 1.0])  # max (1 − η λ)²
    array([0.5625, 1.    ])
    """
    problem = as_problem(problem)
    values = check_learning_rates(lrs)
    state = as_dynamics(method).blocks * problem.reduced().rank
    if state * (state + 1) // 2 > DENSE_RADIUS_SIZE:
        return np.array(
            [spectral_radius(problem, method, float(lr), solver="matrix-free") for lr in values]
        )
    operator = reduced_operator(problem, method)
    return np.array([_radius(operator, float(lr)) for lr in values])


def _as_methods(methods: Any) -> list[Any]:
    if isinstance(methods, Method):
        return [methods]
    if isinstance(methods, str) or not isinstance(methods, Sequence):
        raise InvalidInputError(
            "methods must be a method or a sequence of methods, e.g. [SGD(1), SGD(8), GD()]; "
            f"got {type(methods).__name__}"
        )
    if len(methods) == 0:
        raise InvalidInputError("methods must not be empty")
    return list(methods)


def spectral_radius_curves(
    problem: Quadratic,
    methods: Any,
    lrs: Any = None,
    *,
    points: int = 150,
    radius_limit: float = 2.0,
    scale: str = "radius",
    ax: Any = None,
    size: Any = "column",
) -> Any:
    """Plot ``ρ(T(η))`` against ``η`` for several methods, with the exact thresholds marked.

    One curve per method (typically SGD at several batch sizes, and GD); a dashed
    horizontal line at ``ρ = 1``; at each finite threshold ``η*`` a dotted vertical line
    and a marker at ``(η*, 1)`` in the curve's colour. Thresholds come from
    :func:`stability.critical_learning_rate` (an eigenvalue problem), so the markers are
    exact and independent of the grid; each ``η*`` is also added to the grid, so every
    curve passes through its marker.

    Artists carry ``gid`` tags for programmatic access: ``"radius:<label>"`` for a curve,
    ``"threshold:<label>"`` for a marker and ``"edge:<label>"`` for a vertical line,
    where ``<label>`` is the method's label (e.g. ``"SGD, B=4"``).

    Parameters
    ----------
    problem : Quadratic
        The minimum (with per-sample structure for stochastic methods).
    methods : Method or sequence of Method
        The optimisers, e.g. ``[SGD(1), SGD(4), SGD(16), GD()]``.
    lrs : array_like, optional
        Positive learning rates to evaluate at. By default ``points`` equally spaced
        values up to 1.3 times the largest finite threshold.
    points : int, default 150
        Grid size when ``lrs`` is not given. Past ``DENSE_RADIUS_SIZE`` operator
        coordinates (rank of ``H`` above about 34 for plain SGD) every point is a
        matrix-free eigenvalue computation: pass fewer points for large problems.
    radius_limit : float, default 2.0
        Upper limit of the vertical axis (the data above it are kept, only clipped). The
        lower limit is just below the smallest radius drawn, so the crossing stays visible
        when a flat direction keeps ``ρ`` close to one.
    scale : {"radius", "margin"}, default "radius"
        The vertical axis. ``"radius"``: ``ρ(T(η))`` on a linear axis, crossing the dashed
        line ``ρ = 1`` at ``η*``. ``"margin"``: ``|1 − ρ(T(η))|`` on a log axis
        (:func:`radius_excess_curve`), solid where ``ρ < 1`` and dashed where ``ρ > 1``;
        each curve dives at its ``η*``, and the stability margin of a nearly flat
        direction (``1 − ρ`` of order ``η λ_min``), invisible on the linear axis, is
        readable. ``radius_limit`` applies to ``"radius"`` only.
    ax : matplotlib.axes.Axes, optional
        Where to draw; by default a new figure is made.
    size : {"column", "page"} or (width, height), default "column"
        Size of a new figure (:mod:`stability.plot`); ignored with ``ax``.

    Returns
    -------
    matplotlib.axes.Axes
        The axes drawn on (save with :func:`stability.plot.save_figure` or
        ``ax.figure.savefig(path)``).

    Raises
    ------
    ImportError
        If matplotlib (the ``plot`` extra) is not installed.
    InvalidInputError
        If ``methods`` is empty, a learning rate is not positive, or every threshold is
        infinite and no ``lrs`` were given.

    Examples
    --------
    >>> from stability import GD, SGD
    >>> from stability._examples import regression_example
    >>> from stability.plot import spectral_radius_curves
    >>> ax = spectral_radius_curves(regression_example(), [SGD(1), SGD(8), GD()], points=50)
    >>> [line.get_label() for line in ax.get_lines() if line.get_gid().startswith("radius")]
    ['SGD, B=1: η* = 0.745', 'SGD, B=8: η* = 2.258', 'GD: η* = 2.646']
    >>> ax.get_xlabel()
    'learning rate η'
    """
    require_matplotlib()
    problem = as_problem(problem)
    method_list = _as_methods(methods)
    if isinstance(points, bool) or not isinstance(points, int) or points < 2:
        raise InvalidInputError(f"points must be an integer of at least 2; got {points!r}")
    if not (isinstance(radius_limit, int | float) and radius_limit > 1):
        raise InvalidInputError(f"radius_limit must be a number above 1; got {radius_limit!r}")
    thresholds = [float(critical_learning_rate(problem, method)) for method in method_list]
    finite = [value for value in thresholds if math.isfinite(value)]
    if lrs is None:
        if not finite:
            raise InvalidInputError(
                "every threshold is infinite (H = 0); pass lrs to choose the learning rates"
            )
        grid = np.linspace(0.0, 1.3 * max(finite), points + 1)[1:]
    else:
        grid = check_learning_rates(lrs)
    if scale not in SCALES:
        raise InvalidInputError(f"scale must be one of {SCALES}; got {scale!r}")
    ax = new_axes(ax, size=size)
    low, high = float(grid.min()), float(grid.max())
    lowest = 1.0
    floors: list[float] = []
    for method, threshold in zip(method_list, thresholds, strict=True):
        label = method_label(method)
        lr_values = grid
        if math.isfinite(threshold) and low <= threshold <= high:
            lr_values = np.union1d(grid, [threshold])
        shown = f"{label}: η* = {threshold:.4g}" if math.isfinite(threshold) else f"{label}: η* = ∞"
        if scale == "margin":
            colour, floor = _draw_margin(ax, problem, method, lr_values, threshold, label, shown)
            floors.append(floor)
        else:
            radii = radius_curve(problem, method, lr_values)
            lowest = min(lowest, float(radii.min()))
            (curve,) = ax.plot(lr_values, radii, label=shown, gid=f"radius:{label}")
            colour = curve.get_color()
        if math.isfinite(threshold):
            ax.axvline(threshold, color=colour, linestyle=":", linewidth=1, gid=f"edge:{label}")
            if scale == "radius":
                ax.plot(
                    [threshold],
                    [1.0],
                    marker="o",
                    color=colour,
                    linestyle="none",
                    label="_nolegend_",
                    gid=f"threshold:{label}",
                )
    ax.set_xlim(0.0, high)
    ax.set_xlabel("learning rate η")
    if scale == "margin":
        ax.set_yscale("log")
        # the dive at η* goes to rounding level: the axis starts below the rest of the data
        finite_floors = [floor for floor in floors if math.isfinite(floor)]
        if finite_floors:
            ax.set_ylim(bottom=0.3 * min(finite_floors))
        ax.plot([], [], color="0.4", label="ρ < 1 (stable)", gid="style:stable")
        ax.plot([], [], color="0.4", linestyle="--", label="ρ > 1 (unstable)", gid="style:unstable")
        ax.set_ylabel("|1 − ρ(T(η))|")
    else:
        ax.axhline(1.0, color="0.4", linestyle="--", linewidth=1, gid="unit-radius")
        bottom = max(0.0, lowest - 0.05 * (radius_limit - lowest))
        ax.set_ylim(bottom, float(radius_limit))
        ax.set_ylabel("spectral radius ρ(T(η))")
    finish_axes(ax)
    return ax


def _draw_margin(
    ax: Any,
    problem: Quadratic,
    method: Any,
    lrs: np.ndarray,
    threshold: float,
    label: str,
    shown: str,
) -> Any:
    """Draw ``|ρ − 1|``: solid where stable, dashed where not; return colour and floor.

    The floor is the smallest ``|ρ − 1|`` drawn more than two grid steps away from ``η*``.
    """
    excess = radius_excess_curve(problem, method, lrs)
    spacing = float(np.max(np.diff(lrs))) if lrs.size > 1 else 0.0
    away = np.abs(lrs - threshold) > 2.0 * spacing if math.isfinite(threshold) else True
    magnitudes = np.abs(excess)[away & (excess != 0)]
    floor = float(magnitudes.min()) if magnitudes.size else math.inf
    stable = np.where(excess < 0, -excess, np.nan)
    unstable = np.where(excess > 0, excess, np.nan)
    (curve,) = ax.plot(lrs, stable, label=shown, gid=f"margin:{label}")
    colour = curve.get_color()
    ax.plot(lrs, unstable, color=colour, linestyle="--", label="_nolegend_", gid=f"excess:{label}")
    return colour, floor
