"""The numeric layer: exact thresholds, spectral radii and moments from eigenvalue problems."""

from stability.numeric._epoch import EPOCH_TRANSITION_LIMIT, EpochOperator, epoch_operator
from stability.numeric._higher_moments import (
    LyapunovEstimate,
    almost_sure_critical_learning_rate,
    infinite_moment_critical_learning_rate,
    lyapunov_exponent,
    moment_critical_learning_rate,
    moment_operator,
    moment_spectral_radius,
)
from stability.numeric.operator import SecondMomentOperator
from stability.numeric.operators import dense_operator, symmetric_basis
from stability.numeric.thresholds import (
    RadiusReport,
    critical_learning_rate,
    is_stable,
    radius_report,
    reduced_operator,
    spectral_gap,
    spectral_radius,
)

__all__ = [
    "EPOCH_TRANSITION_LIMIT",
    "EpochOperator",
    "LyapunovEstimate",
    "RadiusReport",
    "SecondMomentOperator",
    "almost_sure_critical_learning_rate",
    "critical_learning_rate",
    "dense_operator",
    "epoch_operator",
    "infinite_moment_critical_learning_rate",
    "is_stable",
    "lyapunov_exponent",
    "moment_critical_learning_rate",
    "moment_operator",
    "moment_spectral_radius",
    "radius_report",
    "reduced_operator",
    "spectral_gap",
    "spectral_radius",
    "symmetric_basis",
]
