"""Private helpers of :mod:`stability.plot`: the lazy matplotlib import, axes, labels.

matplotlib is an optional extra. It is imported only when a figure is asked for, and a
missing installation raises :class:`ImportError` naming the ``plot`` extra.
"""

from __future__ import annotations

import importlib
from typing import Any

from stability.methods import as_dynamics

__all__ = ["PLOT_EXTRA_HINT", "method_label", "new_axes", "require_matplotlib"]

PLOT_EXTRA_HINT = (
    "stability.plot needs matplotlib, which is an optional extra; install it with "
    "pip install 'optimizer-stability[plot]' (or pip install matplotlib)"
)


def require_matplotlib() -> Any:
    """Import and return :mod:`matplotlib`, or raise :class:`ImportError` naming the extra."""
    try:
        return importlib.import_module("matplotlib")
    except ImportError as error:
        raise ImportError(PLOT_EXTRA_HINT) from error


def new_axes(ax: Any, *, size: Any = "column") -> Any:
    """Return ``ax`` if given (checked), else the axes of a new figure of the package's style.

    See :func:`stability.plot.start_axes` (``size`` is ``"column"``, ``"page"`` or
    ``(width, height)`` in inches).

    Parameters
    ----------
    ax : matplotlib Axes or None
        Axes to draw on; None opens a new figure.
    size : str or tuple of float, default "column"
        Size of a new figure: ``"column"``, ``"page"`` or ``(width, height)`` in inches.
    """
    from stability.plot._style import start_axes

    return start_axes(ax, size=size)


def method_label(method: Any) -> str:
    """A short legend label for a method, e.g. ``"SGD, B=4"`` or ``"HeavyBall β=0.9"``.

    Examples
    --------
    >>> from stability import GD, SGD, HeavyBall
    >>> from stability.plot._backend import method_label
    >>> method_label(GD()), method_label(SGD(4)), method_label(SGD(2, replacement=True))
    ('GD', 'SGD, B=4', 'SGD, B=2 with repl.')
    >>> method_label(HeavyBall(0.9, batch_size=8))
    'HeavyBall β=0.9, B=8'
    """
    dynamics = as_dynamics(method)
    label = dynamics.name
    momentum = getattr(method, "momentum", None)
    if momentum is not None:
        label += f" β={momentum:g}" if isinstance(momentum, int | float) else f" β={momentum}"
    batch = dynamics.batch
    if batch.batch_size is not None:
        label += f", B={batch.batch_size}"
        if batch.replacement:
            label += " with repl."
    return label
