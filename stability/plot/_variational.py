"""The expected-descent edge of variational GD against ``z``.

Theory: ``docs/theory/methods.md`` (Ghosh et al. 2025, Thm 3.1, re-derived). Along an
eigen-direction with ``z = S c / σ²``, one variational GD step decreases the expected
loss iff the curvature is below ``λ_edge(η, z) = (2/η) VF(z)``, which lies below GD's
``2/η``, grows like ``(2z/η)^{1/3}`` for small ``z`` and equals ``1/η`` (half of GD's
edge) exactly at ``η² z = 1``. The values come from
:func:`stability.numeric.variational_edge`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from stability._validation import as_finite_array, check_learning_rate
from stability.errors import InvalidInputError
from stability.numeric import variational_edge
from stability.plot._backend import new_axes, require_matplotlib
from stability.plot._style import finish_axes

__all__ = ["variational_edge_curves"]


def _as_rates(lrs: Any) -> list[float]:
    if isinstance(lrs, Sequence | np.ndarray) and not isinstance(lrs, str):
        if len(lrs) == 0:
            raise InvalidInputError("lrs must not be empty")
        return [check_learning_rate(lr, "lrs") for lr in lrs]
    return [check_learning_rate(lrs, "lrs")]


def variational_edge_curves(
    lrs: Any,
    z: Any = None,
    *,
    points: int = 200,
    ax: Any = None,
    size: Any = "column",
) -> Any:
    """Plot the variational edge ``λ_edge(η, z)`` against ``z`` for one or more ``η``.

    Log-log axes. For each learning rate: the edge (solid), GD's edge ``2/η`` (dashed,
    same colour), the small-``z`` asymptote ``(2z/η)^{1/3}`` (dotted) and a marker at
    ``z = 1/η²``, where the edge is exactly ``1/η``, half of GD's. Everything below a solid
    curve is a curvature at which the expected loss still decreases.

    Artists carry ``gid`` tags ``"edge:<η>"``, ``"gd-edge:<η>"``, ``"asymptote:<η>"`` and
    ``"half:<η>"``, with ``<η>`` formatted by ``:g``.

    Parameters
    ----------
    lrs : float or sequence of float
        Learning rates ``η > 0``.
    z : array_like, optional
        Positive values of ``z = S c / σ²``. By default ``points`` log-spaced values with
        ``η² z / 4`` from ``1e-4`` to ``1e3`` for every ``η`` given.
    points : int, default 200
        Grid size when ``z`` is not given.
    ax : matplotlib.axes.Axes, optional
        Where to draw; by default a new figure is made.
    size : {"column", "page"} or (width, height), default "column"
        Size of a new figure (:mod:`stability.plot`); ignored with ``ax``.

    Returns
    -------
    matplotlib.axes.Axes

    Raises
    ------
    ImportError
        If matplotlib (the ``plot`` extra) is not installed.
    InvalidInputError
        If a learning rate or a value of ``z`` is not positive.

    Examples
    --------
    >>> from stability.plot import variational_edge_curves
    >>> ax = variational_edge_curves([0.1, 0.02], points=50)
    >>> half = [line for line in ax.get_lines() if line.get_gid() == "half:0.1"][0]
    >>> half.get_xdata(), half.get_ydata()  # z = 1/η², edge = 1/η
    (array([100.]), array([10.]))
    >>> ax.get_xscale(), ax.get_yscale()
    ('log', 'log')
    """
    require_matplotlib()
    rates = _as_rates(lrs)
    if isinstance(points, bool) or not isinstance(points, int) or points < 2:
        raise InvalidInputError(f"points must be an integer of at least 2; got {points!r}")
    if z is None:
        low = 4e-4 / max(rates) ** 2
        high = 4e3 / min(rates) ** 2
        grid = np.logspace(np.log10(low), np.log10(high), points)
    else:
        grid = np.sort(as_finite_array(z, "z", 1))
        if np.any(grid <= 0):
            raise InvalidInputError(
                f"z must be positive on a log axis; the smallest entry is {grid.min():.6g}"
            )
    ax = new_axes(ax, size=size)
    for lr in rates:
        tag = f"{lr:g}"
        edges = np.asarray(variational_edge(lr, grid), dtype=float)
        (curve,) = ax.plot(grid, edges, label=f"variational GD, η = {tag}", gid=f"edge:{tag}")
        colour = curve.get_color()
        ax.plot(
            grid[[0, -1]],
            [2.0 / lr, 2.0 / lr],
            color=colour,
            linestyle="--",
            linewidth=1,
            label=f"GD edge 2/η = {2.0 / lr:g}",
            gid=f"gd-edge:{tag}",
        )
        asymptote = (2.0 * grid / lr) ** (1.0 / 3.0)
        shown = asymptote <= 2.0 / lr
        ax.plot(
            grid[shown],
            asymptote[shown],
            color=colour,
            linestyle=":",
            linewidth=1,
            label="_nolegend_",
            gid=f"asymptote:{tag}",
        )
        ax.plot(
            [1.0 / lr**2],
            [1.0 / lr],
            color=colour,
            marker="o",
            linestyle="none",
            label="_nolegend_",
            gid=f"half:{tag}",
        )
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("z = S c / σ²")
    ax.set_ylabel("edge curvature λ_edge")
    finish_axes(ax)
    return ax
