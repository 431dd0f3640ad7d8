"""The numeric layer: exact thresholds, spectral radii and moments from eigenvalue problems."""

from stability.numeric._matrix_free import (
    EigenResult,
    GradientPencil,
    SampleSandwich,
    SecondMomentMap,
    lanczos_top,
    perron_radius,
    perron_threshold,
    top_eigenpair,
)
from stability.numeric._moments import expected_loss_change, stationary_second_moment
from stability.numeric._operator import BatchSandwich, SecondMomentOperator, SymmetricLayout
from stability.numeric._operators import (
    DENSE_ENTRY_LIMIT,
    dense_operator,
    second_moment_operator,
    symmetric_basis,
)
from stability.numeric._polynomial import smallest_positive_real_root
from stability.numeric._precision import (
    MAX_PRECISION_DIGITS,
    MAX_PRECISION_SIZE,
    high_precision_critical_learning_rate,
)
from stability.numeric._prediction import (
    SecondMomentRecursion,
    apply_second_moment_operator,
    noise_second_moment,
    predicted_mean_square,
    second_moment_recursion,
)
from stability.numeric._thresholds import (
    DENSE_RADIUS_SIZE,
    RadiusReport,
    ReducedOperator,
    ThresholdReport,
    critical_learning_rate,
    is_stable,
    principal_moments,
    radius_report,
    reduced_operator,
    spectral_gap,
    spectral_radius,
    threshold_report,
)
from stability.numeric._variational_edge import (
    VariationalEdges,
    edge_parameter,
    variational_edge,
    variational_edges,
    variational_factor,
)

__all__ = [
    "DENSE_ENTRY_LIMIT",
    "DENSE_RADIUS_SIZE",
    "MAX_PRECISION_DIGITS",
    "MAX_PRECISION_SIZE",
    "BatchSandwich",
    "EigenResult",
    "GradientPencil",
    "RadiusReport",
    "ReducedOperator",
    "SampleSandwich",
    "SecondMomentMap",
    "SecondMomentOperator",
    "SecondMomentRecursion",
    "SymmetricLayout",
    "ThresholdReport",
    "VariationalEdges",
    "apply_second_moment_operator",
    "critical_learning_rate",
    "dense_operator",
    "edge_parameter",
    "expected_loss_change",
    "high_precision_critical_learning_rate",
    "is_stable",
    "lanczos_top",
    "noise_second_moment",
    "perron_radius",
    "perron_threshold",
    "predicted_mean_square",
    "principal_moments",
    "radius_report",
    "reduced_operator",
    "second_moment_operator",
    "second_moment_recursion",
    "smallest_positive_real_root",
    "spectral_gap",
    "spectral_radius",
    "stationary_second_moment",
    "symmetric_basis",
    "threshold_report",
    "top_eigenpair",
    "variational_edge",
    "variational_edges",
    "variational_factor",
]
