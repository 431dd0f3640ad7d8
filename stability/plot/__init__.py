"""Stability diagrams with matplotlib (optional extra: ``pip install stability[plot]``).

matplotlib is imported lazily inside each function, so ``import stability.plot`` never
needs it; a figure asked for without it raises :class:`ImportError` naming the extra.
Every function draws on a given ``ax`` or on a new stand-alone figure and returns the
axes; save with ``ax.figure.savefig("figure.svg")``.

* :func:`spectral_radius_curves`: ``ρ(T(η))`` against ``η`` for several methods, exact
  thresholds marked (numbers: :func:`radius_curve`);
* :func:`phase_diagram`: the (learning rate, batch size) plane with the exact boundary and
  verdicts as dots, e.g. :func:`monte_carlo_verdict` (numbers: :func:`phase_data`);
* :func:`variational_edge_curves`: variational GD's expected-descent edge against ``z``;
* :func:`plot_mean_square`: predicted against simulated ``E‖z_t‖²``.
"""

from stability.plot.mean_square import plot_mean_square
from stability.plot.phase import (
    VERDICTS,
    PhaseData,
    monte_carlo_verdict,
    phase_data,
    phase_diagram,
)
from stability.plot.radius import radius_curve, spectral_radius_curves
from stability.plot.variational import variational_edge_curves

__all__ = [
    "VERDICTS",
    "PhaseData",
    "monte_carlo_verdict",
    "phase_data",
    "phase_diagram",
    "plot_mean_square",
    "radius_curve",
    "spectral_radius_curves",
    "variational_edge_curves",
]
