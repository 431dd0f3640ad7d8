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
from stability.numeric._operator import SecondMomentOperator
from stability.numeric._operators import dense_operator, symmetric_basis
from stability.numeric._thresholds import (
    RadiusReport,
    critical_learning_rate,
    is_stable,
    radius_report,
    reduced_operator,
    spectral_gap,
    spectral_radius,
)
from stability.numeric._operator import BatchSandwich
from stability.numeric._operators import DENSE_ENTRY_LIMIT
from stability.numeric._thresholds import DENSE_RADIUS_SIZE
from stability.numeric._matrix_free import EigenResult
from stability.numeric._matrix_free import GradientPencil
from stability.numeric._precision import MAX_PRECISION_DIGITS
from stability.numeric._precision import MAX_PRECISION_SIZE
from stability.numeric._thresholds import ReducedOperator
from stability.numeric._matrix_free import SampleSandwich
from stability.numeric._matrix_free import SecondMomentMap
from stability.numeric._prediction import SecondMomentRecursion
from stability.numeric._matrix_free import SymmetricLayout
from stability.numeric._thresholds import ThresholdReport
from stability.numeric._prediction import apply_second_moment_operator
from stability.numeric._moments import expected_loss_change
from stability.numeric._precision import high_precision_critical_learning_rate
from stability.numeric._matrix_free import lanczos_top
from stability.numeric._prediction import noise_second_moment
from stability.numeric._matrix_free import perron_radius
from stability.numeric._matrix_free import perron_threshold
from stability.numeric._prediction import predicted_mean_square
from stability.numeric._thresholds import principal_moments
from stability.numeric._operators import second_moment_operator
from stability.numeric._prediction import second_moment_recursion
from stability.numeric._moments import stationary_second_moment
from stability.numeric._thresholds import threshold_report
from stability.numeric._matrix_free import top_eigenpair

__all__ = [
    "almost_sure_critical_learning_rate",
    "apply_second_moment_operator",
    "BatchSandwich",
    "critical_learning_rate",
    "DENSE_ENTRY_LIMIT",
    "dense_operator",
    "DENSE_RADIUS_SIZE",
    "EigenResult",
    "epoch_operator",
    "EPOCH_TRANSITION_LIMIT",
    "EpochOperator",
    "expected_loss_change",
    "GradientPencil",
    "high_precision_critical_learning_rate",
    "infinite_moment_critical_learning_rate",
    "is_stable",
    "lanczos_top",
    "lyapunov_exponent",
    "LyapunovEstimate",
    "MAX_PRECISION_DIGITS",
    "MAX_PRECISION_SIZE",
    "moment_critical_learning_rate",
    "moment_operator",
    "moment_spectral_radius",
    "noise_second_moment",
    "perron_radius",
    "perron_threshold",
    "predicted_mean_square",
    "principal_moments",
    "radius_report",
    "RadiusReport",
    "reduced_operator",
    "ReducedOperator",
    "SampleSandwich",
    "second_moment_operator",
    "second_moment_recursion",
    "SecondMomentMap",
    "SecondMomentOperator",
    "SecondMomentRecursion",
    "spectral_gap",
    "spectral_radius",
    "stationary_second_moment",
    "symmetric_basis",
    "SymmetricLayout",
    "threshold_report",
    "ThresholdReport",
    "top_eigenpair",
]
