"""Private helpers of :mod:`stability.plot`: the lazy matplotlib import and axes.

Legend labels of methods come from :func:`stability.methods.registry.label`.

matplotlib is an optional extra. It is imported only when a figure is asked for, and a
missing installation raises :class:`ImportError` naming the ``plot`` extra.
"""

from __future__ import annotations

import importlib
from typing import Any

__all__ = ["PLOT_EXTRA_HINT", "new_axes", "require_matplotlib"]

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
