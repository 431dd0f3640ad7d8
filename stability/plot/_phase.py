"""The (learning rate, batch size) phase diagram of a stochastic method.

Theory: ``docs/theory/threshold.md``, ``docs/theory/methods.md`` and
``docs/monte-carlo.md``. The exact boundary is ``η*(B)`` from
:func:`stability.critical_learning_rate`; an independent verdict (typically Monte
Carlo simulation of the same dynamics, :func:`monte_carlo_verdict`) is drawn as dots on
top of it, so the figure shows at a glance where experiment and theory agree.

A verdict is ``"stable"``, ``"unstable"`` or ``"inconclusive"`` (also accepted: ``True``,
``False`` and ``None`` for the same three).
"""

from __future__ import annotations

import numbers
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from stability._validation import check_learning_rates, check_positive_integer
from stability.errors import InvalidInputError, InvalidTypeError
from stability.methods import SGD
from stability.numeric import critical_learning_rate
from stability.plot._backend import method_label, new_axes, require_matplotlib
from stability.plot._style import finish_axes
from stability.problems import Quadratic, as_problem

__all__ = ["VERDICTS", "PhaseData", "monte_carlo_verdict", "phase_data", "phase_diagram"]

Verdict = Callable[[Any, float], Any]

#: The three verdicts a dot can show.
VERDICTS = ("stable", "unstable", "inconclusive")
_ALIASES = {True: "stable", False: "unstable", None: "inconclusive"}


def _read_verdict(value: Any, method: Any, lr: float) -> str:
    """Normalise a verdict to one of :data:`VERDICTS`."""
    if isinstance(value, np.bool_):
        value = bool(value)
    if value is None or isinstance(value, bool):
        return _ALIASES[value]
    if isinstance(value, str) and value in VERDICTS:
        return value
    raise InvalidTypeError(
        "verdict must return 'stable', 'unstable' or 'inconclusive' (or True, False, None); "
        f"for {method_label(method)} at lr={lr:.6g} it returned {value!r}"
    )


def monte_carlo_verdict(
    problem: Quadratic,
    *,
    runs: int = 2000,
    seed: int = 0,
    false_alarm: float = 1e-6,
    **options: Any,
) -> Verdict:
    """A verdict from Monte Carlo simulation, for :func:`phase_diagram`.

    Returns ``verdict(method, lr)``, which runs :func:`stability.checks.check` at ``lr`` and
    reports the simulation's own verdict (:attr:`~stability.checks.RateCheck.simulated_verdict`):
    the one-step growth of ``E‖z‖²`` along the operator's top mode is estimated from
    ``10 · runs`` simulated steps, with a band that covers the true spectral radius with
    probability at least ``1 − false_alarm``; the verdict is "stable" or "unstable" when
    the band lies on one side of one, "inconclusive" when it straddles one (always so close
    enough to ``η*``). A conclusive verdict that contradicts the exact theory therefore has
    probability at most ``false_alarm`` per point (``docs/monte-carlo.md``).

    Parameters
    ----------
    problem : Quadratic
        The minimum (the same one the diagram is drawn for).
    runs : int, default 2000
        Runs of each simulation.
    seed : int, default 0
        Seed; grid point ``k`` (in call order) uses the stream ``SeedSequence(seed, (k,))``.
    false_alarm : float, default 1e-6
        False-alarm probability of each check.
    **options
        Further keyword arguments of :func:`stability.checks.check` (``horizon``,
        ``executor``, …); ``symbolic`` defaults to False.

    Returns
    -------
    callable
        ``verdict(method, lr) -> str``.

    Examples
    --------
    >>> import stability
    >>> from stability import SGD
    >>> from stability._examples import regression_example
    >>> from stability.plot import monte_carlo_verdict
    >>> problem = regression_example(samples=8, dimension=3)
    >>> verdict = monte_carlo_verdict(problem, runs=1000)
    >>> edge = stability.critical_learning_rate(problem, SGD(2))
    >>> verdict(SGD(2), 0.5 * edge), verdict(SGD(2), 2.0 * edge)
    ('stable', 'unstable')
    """
    from stability.checks import check

    problem = as_problem(problem)
    if isinstance(seed, bool) or not isinstance(seed, numbers.Integral) or seed < 0:
        raise InvalidInputError(f"seed must be a non-negative integer; got {seed!r}")
    options.setdefault("symbolic", False)
    calls = [0]

    def verdict(method: Any, lr: float) -> str:
        stream = np.random.SeedSequence(seed, spawn_key=(calls[0],))
        calls[0] += 1
        report = check(
            problem, method, lr, seed=stream, runs=runs, false_alarm=false_alarm, **options
        )
        return report.rates[0].simulated_verdict

    return verdict


@dataclass(frozen=True, eq=False)
class PhaseData:
    """The numbers behind a phase diagram (see :func:`phase_data`).

    Attributes
    ----------
    batch_sizes : ndarray of int, shape (b,)
        The batch sizes (rows), ascending.
    thresholds : ndarray, shape (b,)
        The exact ``η*(B)`` of each row.
    learning_rates : ndarray, shape (k,)
        The learning rates (columns) at which verdicts were taken, ascending.
    verdicts : ndarray of str, shape (b, k), or None
        ``verdicts[i, j]``: the verdict (one of :data:`VERDICTS`) at
        ``(learning_rates[j], batch_sizes[i])``.
    labels : list of str
        The method label of each row.

    Examples
    --------
    >>> from stability._examples import regression_example
    >>> from stability.plot import phase_data
    >>> data = phase_data(regression_example(), [1, 32], [1.0], verdict=lambda m, lr: None)
    >>> data.labels, data.verdicts.tolist(), bool(data.disagreements.any())
    (['SGD, B=1', 'SGD, B=32'], [['inconclusive'], ['inconclusive']], False)
    """

    batch_sizes: np.ndarray
    thresholds: np.ndarray
    learning_rates: np.ndarray
    verdicts: np.ndarray | None
    labels: list[str]

    @property
    def predicted(self) -> np.ndarray:
        """The exact theory's verdict on the grid: ``learning_rates[j] < thresholds[i]``."""
        return self.learning_rates[None, :] < self.thresholds[:, None]

    @property
    def disagreements(self) -> np.ndarray:
        """Grid points with a conclusive verdict that contradicts the exact theory."""
        if self.verdicts is None:
            return np.zeros((len(self.batch_sizes), len(self.learning_rates)), dtype=bool)
        predicted = np.where(self.predicted, "stable", "unstable")
        return (self.verdicts != "inconclusive") & (self.verdicts != predicted)


def phase_data(
    problem: Quadratic,
    batch_sizes: Sequence[int],
    lrs: Any = None,
    *,
    method: Callable[[int], Any] = SGD,
    verdict: Verdict | None = None,
) -> PhaseData:
    """Exact thresholds ``η*(B)`` and, optionally, verdicts on a (learning rate, B) grid.

    Parameters
    ----------
    problem : Quadratic
        The minimum, with per-sample structure.
    batch_sizes : sequence of int
        The batch sizes ``B`` (rows of the diagram).
    lrs : array_like, optional
        Positive learning rates (columns). By default 12 equally spaced values up to
        1.3 times the largest finite threshold.
    method : callable, default SGD
        ``method(B)`` builds the optimiser of a row: ``SGD`` (without replacement),
        ``functools.partial(SGD, replacement=True)``, or e.g.
        ``lambda B: HeavyBall(0.9, batch_size=B)``.
    verdict : callable, optional
        ``verdict(method, lr)`` returns ``"stable"``, ``"unstable"`` or ``"inconclusive"``
        (or ``True``, ``False``, ``None``), e.g. :func:`monte_carlo_verdict`. Called once per
        grid point, row by row. None: no verdicts.

    Returns
    -------
    PhaseData

    Examples
    --------
    >>> from stability._examples import regression_example
    >>> from stability.plot import phase_data
    >>> data = phase_data(regression_example(), [1, 4, 32], [0.5, 1.0, 2.0])
    >>> data.thresholds.round(3)
    array([0.745, 1.804, 2.646])
    >>> data.predicted
    array([[ True, False, False],
           [ True,  True, False],
           [ True,  True,  True]])
    """
    problem = as_problem(problem)
    if isinstance(batch_sizes, str) or not isinstance(batch_sizes, Sequence | np.ndarray):
        raise InvalidTypeError(
            f"batch_sizes must be a sequence of integers; got {type(batch_sizes).__name__}"
        )
    if len(batch_sizes) == 0:
        raise InvalidInputError("batch_sizes must not be empty")
    sizes = sorted(
        {
            check_positive_integer(
                int(size) if isinstance(size, np.integer) else size, "batch_sizes"
            )
            for size in batch_sizes
        }
    )
    if not callable(method):
        raise InvalidTypeError(
            f"method must be a callable B -> method (e.g. SGD); got {type(method).__name__}"
        )
    if verdict is not None and not callable(verdict):
        raise InvalidTypeError(
            f"verdict must be a callable (method, lr) -> bool or None; got {type(verdict).__name__}"
        )
    methods = [method(size) for size in sizes]
    thresholds = np.array([float(critical_learning_rate(problem, item)) for item in methods])
    if lrs is None:
        finite = thresholds[np.isfinite(thresholds)]
        if finite.size == 0:
            raise InvalidInputError(
                "every threshold is infinite (H = 0); pass lrs to choose the learning rates"
            )
        grid = np.linspace(0.0, 1.3 * float(finite.max()), 13)[1:]
    else:
        grid = np.unique(check_learning_rates(lrs))
    verdicts = None
    if verdict is not None:
        verdicts = np.array(
            [
                [_read_verdict(verdict(item, float(lr)), item, float(lr)) for lr in grid]
                for item in methods
            ],
            dtype=object,
        ).astype(str)
    return PhaseData(
        np.array(sizes), thresholds, grid, verdicts, [method_label(item) for item in methods]
    )


def phase_diagram(
    problem: Quadratic,
    batch_sizes: Sequence[int],
    lrs: Any = None,
    *,
    method: Callable[[int], Any] = SGD,
    verdict: Verdict | None = None,
    ax: Any = None,
    size: Any = "column",
) -> Any:
    """Plot the (learning rate, batch size) phase diagram with verdicts as dots.

    The exact boundary ``η*(B)`` is drawn as a line with markers and the mean-square
    stable region to its left is shaded. When ``verdict`` is given (for instance a
    Monte Carlo check), each grid point gets a dot: filled circles where the verdict is
    "stable", crosses where it is "diverges"; points where the verdict contradicts the
    exact theory are ringed. The batch-size axis is logarithmic (base 2) when the
    sizes span a factor of four or more.

    Artists carry ``gid`` tags: ``"boundary"`` (the line), ``"stable-region"`` (the
    shading), ``"verdict-stable"``, ``"verdict-unstable"``, ``"verdict-inconclusive"`` and
    ``"disagreement"`` (the dot collections; absent when empty).

    Parameters
    ----------
    problem : Quadratic
        The minimum, with per-sample structure.
    batch_sizes : sequence of int
        The batch sizes ``B`` (rows).
    lrs : array_like, optional
        Learning rates at which verdicts are taken (see :func:`phase_data`).
    method : callable, default SGD
        ``method(B)`` builds the optimiser of a row.
    verdict : callable, optional
        ``verdict(method, lr)`` returning ``"stable"``, ``"unstable"`` or
        ``"inconclusive"`` (or ``True``, ``False``, ``None``). None draws the exact
        boundary only.
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
        If ``batch_sizes`` is empty or holds a non-positive size, or a learning rate is
        not positive.

    Examples
    --------
    >>> from stability._examples import regression_example
    >>> from stability.plot import phase_diagram
    >>> import stability
    >>> problem = regression_example()
    >>> exact = lambda method, lr: stability.is_stable(problem, method, lr)
    >>> ax = phase_diagram(problem, [1, 2, 4, 8, 16, 32], verdict=exact)
    >>> ax.get_xlabel(), ax.get_ylabel()
    ('learning rate η', 'batch size B')
    >>> [c.get_gid() for c in ax.collections]
    ['stable-region', 'verdict-stable', 'verdict-unstable']
    """
    require_matplotlib()
    data = phase_data(problem, batch_sizes, lrs, method=method, verdict=verdict)
    ax = new_axes(ax, size=size)
    sizes = data.batch_sizes.astype(float)
    finite = np.isfinite(data.thresholds)
    right = float(data.learning_rates.max())
    if np.any(finite):
        right = max(right, float(data.thresholds[finite].max()))
    right *= 1.05
    edge = np.where(finite, data.thresholds, right)
    ax.fill_betweenx(
        sizes,
        0.0,
        edge,
        color="tab:green",
        alpha=0.12,
        linewidth=0,
        gid="stable-region",
        label="mean-square stable (exact)",
    )
    ax.plot(
        data.thresholds[finite],
        sizes[finite],
        color="tab:green",
        marker="D",
        markersize=4,
        label="exact threshold η*(B)",
        gid="boundary",
    )
    if data.verdicts is not None:
        lr_grid, size_grid = np.meshgrid(data.learning_rates, sizes)
        styles = {
            "stable": {"s": 22, "color": "tab:blue", "marker": "o", "label": "verdict: stable"},
            "unstable": {"s": 26, "color": "tab:red", "marker": "x", "label": "verdict: unstable"},
            "inconclusive": {
                "s": 22,
                "facecolors": "none",
                "edgecolors": "0.5",
                "marker": "o",
                "label": "verdict: inconclusive",
            },
        }
        for name, style in styles.items():
            where = data.verdicts == name
            if np.any(where):
                ax.scatter(
                    lr_grid[where], size_grid[where], gid=f"verdict-{name}", zorder=3, **style
                )
        wrong = data.disagreements
        if np.any(wrong):
            ax.scatter(
                lr_grid[wrong],
                size_grid[wrong],
                s=110,
                facecolors="none",
                edgecolors="black",
                linewidths=1.0,
                label="contradicts exact η*",
                gid="disagreement",
                zorder=4,
            )
    if sizes.max() >= 4 * sizes.min():
        ax.set_yscale("log", base=2)
    ax.set_yticks(sizes, [str(int(size)) for size in sizes])
    ax.minorticks_off()
    ax.set_xlim(0.0, right)
    ax.set_xlabel("learning rate η")
    ax.set_ylabel("batch size B")
    title = data.labels[0].split(",")[0]
    ax.set_title(title)
    finish_axes(ax)
    return ax
