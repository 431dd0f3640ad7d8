"""The figure of a Monte Carlo check: exact against simulated one-step growth per rate.

:func:`stability.checks.check` compares, at each learning rate, the exact spectral radius
``ρ(T(η))`` with the simulated one-step growth of ``E‖z‖²`` along the operator's top mode,
``ρ̂``, and its guaranteed band (``docs/monte-carlo.md``). :func:`plot_check` draws exactly
that comparison: the verdict of a check is read off this figure, not off a trajectory
(whose automatic horizon is often a single step, where the band is informative).
matplotlib is imported only when a figure is drawn (the ``plot`` extra).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from stability.errors import InvalidTypeError
from stability.plot._backend import new_axes
from stability.plot._style import finish_axes

__all__ = ["plot_check"]

# the colours and markers of stability.plot._phase's verdict dots
_VERDICT_STYLE = {
    "stable": {"color": "tab:blue", "markerfacecolor": "tab:blue"},
    "unstable": {"color": "tab:red", "markerfacecolor": "tab:red"},
    "inconclusive": {"color": "0.45", "markerfacecolor": "white"},
}


def plot_check(report: Any, *, ax: Any = None, size: Any = "column") -> Any:
    """Draw a check report: exact ``ρ(T(η))`` and simulated ``ρ̂`` with its band, per rate.

    The horizontal axis is ``η / η*`` (``η`` when ``η* = ∞``); a dotted vertical line marks
    ``η*`` and a dashed horizontal one ``ρ = 1``. At each checked rate the exact radius is
    a black cross and the simulated one-step growth a dot with its guaranteed band as an
    error bar: blue when the band lies below one (the simulation says "stable"), red when
    above ("unstable"), hollow grey when it straddles one ("inconclusive": the band says
    nothing about the side of one, see ``docs/monte-carlo.md``). A band reaching past the
    axes is cut by them; its ends are in ``report.rates[k].radius_lower`` and
    ``radius_upper``.

    Artists carry ``gid`` tags: ``"exact"``, ``"simulated:<verdict>"`` (one per verdict
    present), ``"band:<k>"`` for the ``k``-th rate's band, ``"unit-radius"`` and
    ``"threshold"``. Trajectories ``E‖z_t‖²`` of a report are drawn by
    :func:`stability.plot.plot_mean_square` (``rate.simulation``, ``rate.predicted``).

    Parameters
    ----------
    report : CheckReport
        From :func:`stability.checks.check`.
    ax : matplotlib.axes.Axes, optional
        Where to draw; by default a new figure is made.
    size : {"column", "page"} or (width, height), default "column"
        Size of a new figure (:mod:`stability.plot`); ignored with ``ax``.

    Returns
    -------
    matplotlib.axes.Axes

    Raises
    ------
    InvalidTypeError
        If ``report`` is not a :class:`~stability.checks.CheckReport`.
    ImportError
        If matplotlib is missing (naming the ``plot`` extra).

    Examples
    --------
    >>> from stability import SGD
    >>> from stability.checks import check
    >>> from stability._examples import regression_example
    >>> from stability.plot import plot_check
    >>> problem = regression_example(samples=8, dimension=3)
    >>> report = check(problem, SGD(2), seed=0, runs=1000, symbolic=False)
    >>> ax = plot_check(report)
    >>> exact = [line for line in ax.lines if line.get_gid() == "exact"][0]
    >>> [round(float(x), 2) for x in exact.get_xdata()]   # η/η* of the two checked rates
    [0.95, 1.05]
    >>> [round(float(y), 4) for y in exact.get_ydata()] == [
    ...     round(rate.spectral_radius, 4) for rate in report.rates]
    True
    """
    from stability.checks import CheckReport

    if not isinstance(report, CheckReport):
        raise InvalidTypeError(
            f"report must be a CheckReport from stability.checks.check; got {type(report).__name__}"
        )
    ax = new_axes(ax, size=size)
    threshold = float(report.critical_learning_rate)
    relative = math.isfinite(threshold)
    rates = report.rates
    xs = np.array([rate.relative if relative else rate.learning_rate for rate in rates])
    exact = np.array([rate.spectral_radius for rate in rates])
    estimate = np.array([rate.radius_estimate for rate in rates])
    lower = np.array([rate.radius_lower for rate in rates])
    upper = np.array([rate.radius_upper for rate in rates])
    verdicts = [rate.simulated_verdict for rate in rates]
    for index, (x, low, high, verdict) in enumerate(zip(xs, lower, upper, verdicts, strict=True)):
        ax.plot(
            [x, x],
            [low, high],
            color=_VERDICT_STYLE[verdict]["color"],
            linewidth=1.2,
            solid_capstyle="butt",
            gid=f"band:{index}",
            label="_nolegend_",
        )
    for verdict in ("stable", "unstable", "inconclusive"):
        where = np.array([value == verdict for value in verdicts])
        if np.any(where):
            ax.plot(
                xs[where],
                estimate[where],
                linestyle="none",
                marker="o",
                markersize=5,
                zorder=3,
                label=f"simulated ρ̂ and band: {verdict}",
                gid=f"simulated:{verdict}",
                **_VERDICT_STYLE[verdict],
            )
    ax.plot(
        xs,
        exact,
        linestyle="none",
        marker="x",
        markersize=6,
        color="black",
        zorder=4,
        label="exact ρ(T(η))",
        gid="exact",
    )
    ax.axhline(1.0, color="0.4", linestyle="--", linewidth=1, gid="unit-radius")
    if relative:
        ax.axvline(1.0, color="0.4", linestyle=":", linewidth=1, gid="threshold")
        ax.set_xlabel(f"η / η*   (η* = {threshold:.4g})")
    else:
        ax.set_xlabel("learning rate η")
    # the y-range shows the points, one, and the bands' ends within [0, 2]; a band reaching
    # further (it says nothing about the side of one) is cut by the axes
    ends = np.concatenate([lower, upper])
    ends = ends[np.isfinite(ends) & (ends >= 0.0) & (ends <= 2.0)]
    shown = np.concatenate([exact, estimate[np.isfinite(estimate)], ends, [1.0]])
    span = max(float(shown.max() - shown.min()), 0.02)
    ax.set_ylim(float(shown.min()) - 0.1 * span, float(shown.max()) + 0.1 * span)
    from matplotlib.ticker import MaxNLocator

    ax.xaxis.set_major_locator(MaxNLocator(nbins=5))
    span_x = max(float(xs.max() - xs.min()), 0.1 * max(abs(float(xs.max())), 1e-12))
    left = float(xs.min()) - 0.5 * span_x
    ax.set_xlim(left if not relative else max(left, 0.0), float(xs.max()) + 0.5 * span_x)
    ax.set_ylabel("one-step growth of E‖z‖²")
    ax.set_title(report.method)
    finish_axes(ax)
    return ax
