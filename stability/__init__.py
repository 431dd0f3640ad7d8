"""stability: linear-stability theory of optimisers near a quadratic minimum.

Theory: ``shared/theory.md``. Every optimiser compiles to one description of its
random linear dynamics (:class:`~stability.dynamics.LinearDynamics`); the numeric,
symbolic and Monte Carlo evaluators all read that description.
"""

from stability._version import __version__
from stability.checks import check
from stability.dynamics import AdditiveNoise, BatchLaw, LinearDynamics, MatrixPolynomial
from stability.errors import (
    DimensionError,
    InvalidInputError,
    InvalidTypeError,
    NotPositiveSemidefiniteError,
    NotSymmetricError,
    SizeLimitError,
    StabilityError,
    UnstableError,
)
from stability.methods import GD, SGD, HeavyBall, Method, Nesterov, VariationalGD
from stability.numeric.moments import expected_loss_change, stationary_second_moment
from stability.numeric.operators import second_moment_operator
from stability.numeric.prediction import predicted_mean_square
from stability.numeric.thresholds import critical_learning_rate, is_stable, spectral_radius
from stability.numeric.variational_edge import variational_edge
from stability.problems import Quadratic
from stability.simulation import simulate, sweep

__all__ = [
    "GD",
    "SGD",
    "AdditiveNoise",
    "BatchLaw",
    "DimensionError",
    "HeavyBall",
    "InvalidInputError",
    "InvalidTypeError",
    "LinearDynamics",
    "MatrixPolynomial",
    "Method",
    "Nesterov",
    "NotPositiveSemidefiniteError",
    "NotSymmetricError",
    "Quadratic",
    "SizeLimitError",
    "StabilityError",
    "UnstableError",
    "VariationalGD",
    "__version__",
    "check",
    "critical_learning_rate",
    "expected_loss_change",
    "is_stable",
    "predicted_mean_square",
    "second_moment_operator",
    "simulate",
    "spectral_radius",
    "stationary_second_moment",
    "sweep",
    "variational_edge",
]
