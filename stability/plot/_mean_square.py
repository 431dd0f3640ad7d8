"""Predicted against simulated ``E‖z_t‖²`` over time (``docs/monte-carlo.md``).

matplotlib is imported only when a figure is drawn (the ``plot`` extra).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from stability.errors import DimensionError, InvalidTypeError
from stability.plot._backend import new_axes
from stability.plot._style import finish_axes
from stability.simulation import DEFAULT_FALSE_ALARM, SimulationResult

__all__ = ["plot_mean_square"]


def plot_mean_square(
    simulation: SimulationResult,
    predicted: Any = None,
    *,
    ax: Any = None,
    false_alarm: float = DEFAULT_FALSE_ALARM,
    typical: bool = False,
    label: str | None = None,
    color: Any = None,
    size: Any = "column",
) -> Any:
    """Draw the simulated ``E‖z_t‖²`` with its confidence band, and the exact prediction.

    The simulated mean is a solid line, its simultaneous band
    (:meth:`SimulationResult.band <stability.simulation.SimulationResult.band>` at
    ``false_alarm``) a shaded region, the prediction (e.g. from
    :func:`stability.numeric.predicted_mean_square`) a dashed line in the same
    colour. The vertical axis is logarithmic. With ``typical=True`` the typical run,
    ``exp(E log ‖z_t‖²)``, is drawn dotted: near or past the threshold it decays while the
    mean square grows, the signature of heavy tails.

    The legend names each run once (its colour) and what the line styles mean once (grey
    keys); the vertical range covers the means, predictions and typical runs, and a band
    reaching far beyond them (it then says nothing, ``docs/monte-carlo.md``) is cut.

    Artists carry ``gid`` tags: ``"simulated:<label>"``, ``"band:<label>"``,
    ``"predicted:<label>"`` and ``"typical:<label>"``; the grey keys ``"key:<what>"``.

    Parameters
    ----------
    simulation : SimulationResult
        From :func:`stability.simulation.simulate`.
    predicted : array_like, optional
        The exact ``E‖z_t‖²`` at ``t = 0, 1, …`` (any length; drawn up to the simulation's
        horizon).
    ax : matplotlib.axes.Axes, optional
        Where to draw; by default a new figure.
    false_alarm : float, default 1e-6
        The band's false-alarm probability.
    typical : bool, default False
        Also draw ``exp(E log ‖z_t‖²)``.
    label : str, optional
        Legend label (default: the method's name and learning rate).
    color : optional
        A matplotlib colour (default: the next in the cycle).
    size : {"column", "page"} or (width, height), default "column"
        Size of a new figure (:mod:`stability.plot`); ignored with ``ax``.

    Returns
    -------
    matplotlib.axes.Axes

    Raises
    ------
    InvalidTypeError
        If ``simulation`` is not a :class:`~stability.simulation.SimulationResult`.
    ImportError
        If matplotlib is missing (naming the ``plot`` extra).

    Examples
    --------
    >>> from stability import SGD, Quadratic
    >>> from stability.numeric import predicted_mean_square
    >>> from stability.plot import plot_mean_square
    >>> from stability.simulation import simulate
    >>> problem = Quadratic.from_data([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]])
    >>> result = simulate(problem, SGD(1), 0.8, steps=10, runs=2000, seed=0)
    >>> exact = predicted_mean_square(problem, SGD(1), 0.8, steps=10)
    >>> ax = plot_mean_square(result, exact, typical=True)
    >>> gids = [line.get_gid() for line in ax.lines]
    >>> sorted(gid.split(":")[0] for gid in gids if not gid.startswith("key:"))
    ['predicted', 'simulated', 'typical']
    >>> for text in ax.figure.legends[0].get_texts():  # colour: the run; style: what it is
    ...     print(text.get_text())
    SGD, η=0.8
    simulated mean
    band (bernstein, α=1e-06)
    exact prediction
    typical run exp E log‖z_t‖²
    """
    if not isinstance(simulation, SimulationResult):
        raise InvalidTypeError(
            "simulation must be a SimulationResult from stability.simulation.simulate; "
            f"got {type(simulation).__name__}"
        )
    ax = new_axes(ax, size=size)
    label = label or f"{simulation.name}, η={simulation.learning_rate:.4g}"
    times = simulation.times
    lower, upper = simulation.band(false_alarm)
    positive = simulation.mean_square[np.isfinite(simulation.mean_square)]
    positive = positive[positive > 0]
    floor = float(positive.min()) * 1e-3 if positive.size else np.finfo(float).tiny
    (line,) = ax.plot(times, simulation.mean_square, color=color, label=label)
    line.set_gid(f"simulated:{label}")
    colour = line.get_color()
    band = ax.fill_between(
        times,
        np.maximum(lower, floor),
        np.where(np.isfinite(upper), upper, np.nan),
        color=colour,
        alpha=0.2,
        linewidth=0,
        label="_nolegend_",
    )
    band.set_gid(f"band:{label}")
    styles = [
        ("simulated mean", "-"),
        (f"band ({simulation.band_kind()}, α={false_alarm:g})", None),
    ]
    if predicted is not None:
        values = np.asarray(predicted, dtype=float)
        if values.ndim != 1:
            raise DimensionError(f"predicted must be one-dimensional; got shape {values.shape}")
        count = min(values.size, times.size)
        (exact,) = ax.plot(times[:count], values[:count], "--", color=colour, label="_nolegend_")
        exact.set_gid(f"predicted:{label}")
        styles.append(("exact prediction", "--"))
    if typical:
        with np.errstate(over="ignore"):
            geometric = np.exp(simulation.mean_log_square)
        (dotted,) = ax.plot(times, geometric, ":", color=colour, label="_nolegend_")
        dotted.set_gid(f"typical:{label}")
        styles.append(("typical run exp E log‖z_t‖²", ":"))
    _add_style_keys(ax, styles)
    ax.set_yscale("log")
    _fit_vertical_range(ax)
    ax.set_xlabel("step t")
    ax.set_ylabel("E‖z_t‖²")
    finish_axes(ax)
    return ax


def _add_style_keys(ax: Any, styles: list[tuple[str, str | None]]) -> None:
    """Grey legend keys for what line styles mean (once per axes): colour names the run."""
    present = {artist.get_gid() for artist in [*ax.lines, *ax.collections]}
    for name, style in styles:
        gid = f"key:{name.split(' (')[0]}"
        if gid in present:
            continue
        if style is None:
            ax.fill_between([], [], [], color="0.5", alpha=0.3, linewidth=0, label=name, gid=gid)
        else:
            ax.plot([], [], color="0.45", linestyle=style, label=name, gid=gid)


def _fit_vertical_range(ax: Any) -> None:
    """Limit the log axis to the drawn means, predictions and typical runs (not the bands).

    A band reaching far beyond them says nothing about ``E‖z_t‖²`` (``docs/monte-carlo.md``)
    and is cut by the axes instead of flattening every curve.
    """
    values = [
        np.asarray(line.get_ydata(), dtype=float)
        for line in ax.lines
        if (line.get_gid() or "").split(":")[0] in {"simulated", "predicted", "typical"}
    ]
    data = np.concatenate(values) if values else np.array([])
    data = data[np.isfinite(data) & (data > 0)]
    if data.size:
        ax.set_ylim(float(data.min()) / 10.0, float(data.max()) * 10.0)
