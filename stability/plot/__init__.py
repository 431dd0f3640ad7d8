"""Stability diagrams with matplotlib (optional extra: ``pip install optimizer-stability[plot]``).

matplotlib is imported lazily inside each function, so ``import stability.plot`` never
needs it; a figure asked for without it raises :class:`ImportError` naming the extra.
Every function draws on a given ``ax`` or on a new stand-alone figure and returns the
axes; save with ``ax.figure.savefig("figure.svg")``.

* :func:`spectral_radius_curves`: ``ρ(T(η))`` (or ``|1 − ρ|`` on a log axis,
  ``scale="margin"``) against ``η`` for several methods, exact thresholds marked
  (numbers: :func:`radius_curve`, :func:`radius_excess_curve`);
* :func:`phase_diagram`: the (learning rate, batch size) plane with the exact boundary and
  verdicts as dots, e.g. :func:`monte_carlo_verdict` (numbers: :func:`phase_data`);
* :func:`variational_edge_curves`: variational GD's expected-descent edge against ``z``;
* :func:`plot_mean_square`: predicted against simulated ``E‖z_t‖²`` (a simulation);
* :func:`plot_check`: exact against simulated one-step growth, per rate (a check report).

One style for all of them (:mod:`stability.plot`): ``size="column"`` or
``size="page"`` for one- and two-column papers, legends outside the data, nothing cut
off; save as vector SVG or PDF with :func:`save_figure`.
"""

from stability.plot._backend import new_axes, require_matplotlib
from stability.plot._check import plot_check
from stability.plot._mean_square import plot_mean_square
from stability.plot._phase import (
    VERDICTS,
    PhaseData,
    monte_carlo_verdict,
    phase_data,
    phase_diagram,
)
from stability.plot._radius import SCALES, radius_curve, radius_excess_curve, spectral_radius_curves
from stability.plot._style import (
    FIGURE_SIZES,
    FONT_SIZE,
    LEGEND_GID,
    figure_size,
    finish_axes,
    fit_title,
    owns,
    save_figure,
    start_axes,
)
from stability.plot._variational import variational_edge_curves

__all__ = [
    "FIGURE_SIZES",
    "FONT_SIZE",
    "LEGEND_GID",
    "SCALES",
    "VERDICTS",
    "PhaseData",
    "figure_size",
    "finish_axes",
    "fit_title",
    "monte_carlo_verdict",
    "new_axes",
    "owns",
    "phase_data",
    "phase_diagram",
    "plot_check",
    "plot_mean_square",
    "radius_curve",
    "radius_excess_curve",
    "require_matplotlib",
    "save_figure",
    "spectral_radius_curves",
    "start_axes",
    "variational_edge_curves",
]
