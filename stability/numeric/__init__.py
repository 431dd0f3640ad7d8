"""The numeric layer: exact thresholds, spectral radii and moments from eigenvalue problems."""

from stability.numeric.operators import dense_operator, symmetric_basis
from stability.numeric.thresholds import (
    critical_learning_rate,
    is_stable,
    reduced_operator,
    spectral_radius,
)

__all__ = [
    "critical_learning_rate",
    "dense_operator",
    "is_stable",
    "reduced_operator",
    "spectral_radius",
    "symmetric_basis",
]
