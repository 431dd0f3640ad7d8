"""Stability diagrams with matplotlib (optional extra: ``pip install stability[plot]``).

matplotlib is imported lazily inside each function, so ``import stability.plot`` never
needs it; a figure asked for without it raises :class:`ImportError` naming the extra.
Every function draws on a given ``ax`` or on a new stand-alone figure and returns the
axes; save with ``ax.figure.savefig("figure.svg")``.
"""

from stability.plot.phase import PhaseData, phase_data, phase_diagram
from stability.plot.radius import radius_curve, spectral_radius_curves
from stability.plot.variational import variational_edge_curves

__all__ = [
    "PhaseData",
    "phase_data",
    "phase_diagram",
    "radius_curve",
    "spectral_radius_curves",
    "variational_edge_curves",
]
