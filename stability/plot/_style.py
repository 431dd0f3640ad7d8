"""The one figure style of :mod:`stability.plot`: paper sizes, fonts, legends, saving.

Every figure the package draws (the API's functions and the ``stability plot``,
``simulate --output`` and ``check --output`` commands, which call them) is made here:

* **sizes for papers**: ``size="column"`` (3.4 × 2.6 in, one column of a two-column paper)
  or ``size="page"`` (7.0 × 3.2 in, the full text width), or ``(width, height)`` in inches;
  text is 8 pt at that size, so a figure included at its natural width in a paper has
  the paper's caption-sized text;
* **nothing cut off**: constrained layout; titles longer than the figure is wide are
  wrapped (:func:`save_figure`);
* **nothing overlapping**: the legend of a figure the package made sits below the axes,
  outside the data, with room reserved for it; on axes you pass in (``ax=``) it sits to
  their right, outside them;
* **vector output**: :func:`save_figure` writes SVG, PDF or EPS as vectors (PNG at
  300 dpi), with text kept as text in SVG and fonts embedded in PDF.

Examples
--------
>>> from stability.plot import FIGURE_SIZES, figure_size
>>> FIGURE_SIZES["column"], figure_size("page"), figure_size((4, 3))
((3.4, 2.6), (7.0, 3.2), (4.0, 3.0))
"""

from __future__ import annotations

import math
import numbers
import textwrap
import weakref
from pathlib import Path
from typing import Any

from stability.errors import InvalidInputError, InvalidTypeError

__all__ = [
    "FIGURE_SIZES",
    "FONT_SIZE",
    "LEGEND_GID",
    "figure_size",
    "finish_axes",
    "fit_title",
    "owns",
    "save_figure",
    "start_axes",
]

#: Figure sizes in inches: one column of a two-column paper, and the full text width.
FIGURE_SIZES: dict[str, tuple[float, float]] = {"column": (3.4, 2.6), "page": (7.0, 3.2)}

#: Text size in points (axis labels and titles; tick labels and legends one point less).
FONT_SIZE = 8.0

#: ``gid`` of the legend :func:`finish_axes` places.
LEGEND_GID = "stability-legend"

_VECTOR_SUFFIXES = {".svg", ".pdf", ".eps", ".ps"}
_RASTER_SUFFIXES = {".png", ".jpg", ".jpeg", ".tif", ".tiff", ".webp"}

# Figures made by start_axes: the package styles and lays out only its own figures.
_OWNED: weakref.WeakSet[Any] = weakref.WeakSet()


def figure_size(size: Any) -> tuple[float, float]:
    """``(width, height)`` in inches for ``"column"``, ``"page"`` or a pair of numbers.

    Parameters
    ----------
    size : {"column", "page"} or tuple of two positive floats
        A name from :data:`FIGURE_SIZES` or a size in inches.

    Returns
    -------
    tuple of float

    Raises
    ------
    InvalidInputError
        For an unknown name or a size that is not two positive finite numbers.

    Examples
    --------
    >>> figure_size("column")
    (3.4, 2.6)
    """
    if isinstance(size, str):
        if size not in FIGURE_SIZES:
            raise InvalidInputError(
                f"size must be 'column', 'page' or (width, height) in inches; got {size!r}"
            )
        return FIGURE_SIZES[size]
    try:
        width, height = size
    except (TypeError, ValueError):
        raise InvalidInputError(
            f"size must be 'column', 'page' or (width, height) in inches; got {size!r}"
        ) from None
    values = []
    for value in (width, height):
        if isinstance(value, bool) or not isinstance(value, numbers.Real):
            raise InvalidInputError(f"size must hold two numbers (inches); got {size!r}")
        if not (math.isfinite(value) and value > 0):
            raise InvalidInputError(f"size must hold two positive numbers; got {size!r}")
        values.append(float(value))
    return values[0], values[1]


def _require_matplotlib() -> None:
    from stability.plot._backend import require_matplotlib

    require_matplotlib()


def start_axes(ax: Any = None, *, size: Any = "column") -> Any:
    """``ax`` if given (checked), else the axes of a new figure of the package's style.

    The new figure is a plain :class:`matplotlib.figure.Figure` (not registered with
    pyplot, so library calls never accumulate open figures) of :func:`figure_size`
    ``(size)``, with constrained layout.

    Parameters
    ----------
    ax : matplotlib.axes.Axes, optional
        Axes to draw on; ``size`` is then ignored.
    size : {"column", "page"} or (width, height), default "column"
        The size of a new figure.

    Returns
    -------
    matplotlib.axes.Axes

    Examples
    --------
    >>> from stability.plot import owns, start_axes
    >>> ax = start_axes(size="page")
    >>> ax.figure.get_size_inches().tolist(), owns(ax)
    ([7.0, 3.2], True)
    """
    _require_matplotlib()
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

    if ax is None:
        figure = Figure(figsize=figure_size(size), layout="constrained")
        _OWNED.add(figure)
        return figure.add_subplot()
    if not isinstance(ax, Axes):
        raise InvalidTypeError(f"ax must be a matplotlib Axes or None; got {type(ax).__name__}")
    return ax


def owns(ax: Any) -> bool:
    """Whether ``ax`` lies on a figure made by :func:`start_axes` (and so is styled here).

    Parameters
    ----------
    ax : Any
        A Matplotlib axes.
    """
    return ax.figure in _OWNED


def finish_axes(ax: Any, *, columns: int = 2) -> Any:
    """Apply the text sizes and place the one legend, outside the data.

    On a figure made by :func:`start_axes` the legend is a figure legend below the axes
    (``columns`` entries a row, room reserved by the layout) and every text gets the
    style's size. On axes passed in by the caller only the legend is placed, to the right
    of the axes, outside them. Calling it again (after drawing more on the same axes)
    replaces the legend.

    Parameters
    ----------
    ax : matplotlib.axes.Axes
        Axes drawn by a :mod:`stability.plot` function.
    columns : int, default 2
        Legend entries per row below the axes.

    Returns
    -------
    matplotlib.legend.Legend or None
        The legend (``None`` when nothing is labelled).

    Examples
    --------
    >>> from stability.plot import LEGEND_GID, finish_axes, start_axes
    >>> ax = start_axes()
    >>> _ = ax.plot([0, 1], [0, 1], label="a line")
    >>> finish_axes(ax).get_gid() == LEGEND_GID
    True
    """
    figure = ax.figure
    handles, labels = ax.get_legend_handles_labels()
    # entries naming what a line style means (gid "key:…" or "style:…") come last
    order = sorted(
        range(len(handles)),
        key=lambda index: (handles[index].get_gid() or "").startswith(("key:", "style:")),
    )
    handles, labels = [handles[index] for index in order], [labels[index] for index in order]
    for legend in [legend for legend in figure.legends if legend.get_gid() == LEGEND_GID]:
        legend.remove()
    if ax.get_legend() is not None:
        ax.get_legend().remove()
    if not owns(ax):
        if not handles:
            return None
        legend = ax.legend(
            handles,
            labels,
            loc="upper left",
            bbox_to_anchor=(1.02, 1.0),
            borderaxespad=0.0,
            frameon=False,
            fontsize="small",
        )
        legend.set_gid(LEGEND_GID)
        return legend
    for text in (ax.title, ax.xaxis.label, ax.yaxis.label):
        text.set_fontsize(FONT_SIZE)
    ax.tick_params(which="both", labelsize=FONT_SIZE - 1)
    ax.xaxis.get_offset_text().set_fontsize(FONT_SIZE - 1)
    ax.yaxis.get_offset_text().set_fontsize(FONT_SIZE - 1)
    if not handles:
        return None
    legend = figure.legend(
        handles,
        labels,
        loc="outside lower center",
        ncols=max(1, min(columns, len(labels))),
        frameon=False,
        fontsize=FONT_SIZE - 1,
        handlelength=1.8,
        columnspacing=1.2,
    )
    legend.set_gid(LEGEND_GID)
    return legend


def fit_title(ax: Any, title: str, *, fontsize: float | None = None) -> Any:
    """Set ``title`` on ``ax``, wrapped onto as many lines as the figure's width needs.

    The title's rendered width is measured and the text is wrapped at word boundaries
    until it fits within the figure, so it is never cut off.

    Parameters
    ----------
    ax : matplotlib.axes.Axes
        The axes to title.
    title : str
        The title.
    fontsize : float, optional
        Text size in points (default: the style's size on a figure of the package, else
        matplotlib's title size).

    Returns
    -------
    matplotlib.text.Text
        The title.

    Examples
    --------
    >>> from stability.plot import fit_title, start_axes
    >>> ax = start_axes(size="column")
    >>> title = "a title far too long for one line of a figure one column wide, of a paper"
    >>> text = fit_title(ax, title)
    >>> text.get_text().count("\\n") >= 1
    True
    """
    if fontsize is None:
        fontsize = FONT_SIZE if owns(ax) else None
    figure = ax.figure
    words = str(title).split()
    limit = 0.98 * figure.bbox.width
    text = (
        ax.set_title(str(title))
        if fontsize is None
        else ax.set_title(str(title), fontsize=fontsize)
    )
    characters = len(str(title))
    while characters > 8:
        figure.draw_without_rendering()
        extent = text.get_window_extent()
        if extent.x0 >= 0 and extent.x1 <= figure.bbox.width and extent.width <= limit:
            break
        # a centred title fits when half its width fits on either side of its centre; the
        # widest line shrinks in proportion to its characters: aim just under that room
        centre = 0.5 * (extent.x0 + extent.x1)
        room = min(limit, 2.0 * min(centre, figure.bbox.width - centre))
        longest = max(len(line) for line in text.get_text().split("\n"))
        characters = min(int(longest * 0.95 * max(room, 1.0) / extent.width), longest - 1)
        wrapped = textwrap.fill(" ".join(words), characters)
        text.set_text(wrapped)
    return text


def save_figure(ax: Any, path: Any, *, title: str | None = None, dpi: float = 300) -> Path:
    """Save the figure of ``ax`` to ``path`` (format from the suffix), optionally titled.

    SVG, PDF, EPS and PS are written as vectors (SVG keeps text as text, PDF embeds
    TrueType fonts); PNG, JPEG, TIFF and WebP at ``dpi``. A title is wrapped to the
    figure's width, so it is never cut off.

    Parameters
    ----------
    ax : matplotlib.axes.Axes
        Any axes of the figure.
    path : str or pathlib.Path
        Where to write; the suffix chooses the format.
    title : str, optional
        A title for ``ax``.
    dpi : float, default 300
        Resolution of raster formats.

    Returns
    -------
    pathlib.Path

    Raises
    ------
    InvalidInputError
        For a suffix that is not one of the formats above.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> from stability.plot import save_figure, start_axes
    >>> ax = start_axes()
    >>> _ = ax.plot([0, 1], [1, 0])
    >>> with tempfile.TemporaryDirectory() as folder:
    ...     path = save_figure(ax, pathlib.Path(folder) / "line.svg", title="A line")
    ...     path.read_text().count("<svg") == 1
    True
    """
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in _VECTOR_SUFFIXES | _RASTER_SUFFIXES:
        known = ", ".join(sorted(_VECTOR_SUFFIXES | _RASTER_SUFFIXES))
        raise InvalidInputError(f"path must end in one of {known}; got {str(path)!r}")
    if title is not None:
        fit_title(ax, str(title))
    import matplotlib

    with matplotlib.rc_context({"svg.fonttype": "none", "pdf.fonttype": 42, "ps.fonttype": 42}):
        ax.figure.savefig(path, dpi=dpi)
    return path
