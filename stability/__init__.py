"""stability: linear-stability theory of optimisers near a quadratic minimum.

Theory: ``shared/theory.md``. Every optimiser compiles to one description of its
random linear dynamics (:class:`~stability.dynamics.LinearDynamics`); the numeric,
symbolic and Monte Carlo evaluators all read that description.

Subpackages: :mod:`stability.numeric` (exact thresholds and moments),
:mod:`stability.symbolic` (SymPy), :mod:`stability.bounds` (published results),
:mod:`stability.testing` (assertions and strategies for users' CI) and
:mod:`stability.plot` (matplotlib extra). ``stability.symbolic`` and ``stability.plot``
are imported on first use, so ``import stability`` needs neither SymPy nor matplotlib
loaded.

Examples
--------
>>> import stability
>>> problem = stability.Quadratic.from_data([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]])
>>> round(stability.critical_learning_rate(problem, stability.SGD(batch_size=1)), 12)
1.267949192431
"""

from importlib import import_module
from typing import Any

from stability import bounds, testing
from stability._version import __version__
from stability.checks import CheckReport, check
from stability.dynamics import AdditiveNoise, BatchLaw, LinearDynamics, MatrixPolynomial
from stability.errors import (
    CertificationError,
    ConvergenceError,
    DimensionError,
    InvalidInputError,
    InvalidTypeError,
    NotPositiveSemidefiniteError,
    NotSymmetricError,
    OutOfRangeError,
    SizeLimitError,
    StabilityError,
    StabilityWarning,
    TransposedDataWarning,
    UnstableError,
)
from stability.methods import GD, SGD, HeavyBall, Method, Nesterov, VariationalGD
from stability.numeric.moments import expected_loss_change, stationary_second_moment
from stability.numeric.operators import second_moment_operator
from stability.numeric.prediction import predicted_mean_square
from stability.numeric.thresholds import (
    ThresholdReport,
    critical_learning_rate,
    is_stable,
    spectral_radius,
    threshold_report,
)
from stability.numeric.variational_edge import (
    edge_parameter,
    variational_edge,
    variational_edges,
    variational_factor,
)
from stability.problems import Quadratic
from stability.simulation import SimulationResult, SweepResult, simulate, sweep

_LAZY_SUBPACKAGES = ("plot", "symbolic")

__all__ = [
    "GD",
    "SGD",
    "AdditiveNoise",
    "BatchLaw",
    "CertificationError",
    "CheckReport",
    "ConvergenceError",
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
    "OutOfRangeError",
    "Quadratic",
    "SimulationResult",
    "SizeLimitError",
    "StabilityError",
    "StabilityWarning",
    "SweepResult",
    "ThresholdReport",
    "TransposedDataWarning",
    "UnstableError",
    "VariationalGD",
    "__version__",
    "bounds",
    "check",
    "critical_learning_rate",
    "edge_parameter",
    "expected_loss_change",
    "is_stable",
    "plot",
    "predicted_mean_square",
    "second_moment_operator",
    "simulate",
    "spectral_radius",
    "stationary_second_moment",
    "sweep",
    "symbolic",
    "testing",
    "threshold_report",
    "variational_edge",
    "variational_edges",
    "variational_factor",
]


def __getattr__(name: str) -> Any:
    """Import the optional-heavy subpackages (``symbolic``, ``plot``) on first use."""
    if name in _LAZY_SUBPACKAGES:
        return import_module(f"stability.{name}")
    raise AttributeError(f"module 'stability' has no attribute {name!r}")
