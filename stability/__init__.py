"""stability: linear-stability theory of optimisers near a quadratic minimum.

Theory: ``shared/theory.md``. Every optimiser compiles to one description of its
random linear dynamics (:class:`~stability.dynamics.LinearDynamics`); the numeric,
symbolic and Monte Carlo evaluators all read that description.
"""

from stability._version import __version__
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
from stability.methods import GD, SGD, HeavyBall, Method, Nesterov
from stability.numeric.operators import second_moment_operator
from stability.numeric.thresholds import critical_learning_rate, is_stable, spectral_radius
from stability.problems import Quadratic

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
    "__version__",
    "critical_learning_rate",
    "is_stable",
    "second_moment_operator",
    "spectral_radius",
]
