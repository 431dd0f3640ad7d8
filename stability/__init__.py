"""stability: linear-stability theory of optimisers near a quadratic minimum.

Theory: ``docs/theory/``. Every optimiser compiles to one description of its random
linear dynamics (:class:`~stability.dynamics.LinearDynamics`); the numeric, symbolic and
Monte Carlo evaluators all read that description.

Subpackages: :mod:`stability.numeric` (exact thresholds and moments),
:mod:`stability.symbolic` (SymPy), :mod:`stability.bounds` (published results),
:mod:`stability.testing` (assertions and strategies for users' CI) and
:mod:`stability.plot` (matplotlib extra).

Every name below is imported on first use (a module-level ``__getattr__``), so
``import stability`` is fast and loads neither SciPy, SymPy nor matplotlib until a
function that needs them is called. ``_EXPORTS`` maps each public name to the module
that defines it, one name per line.

Examples
--------
>>> import stability
>>> problem = stability.Quadratic.from_data([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]])
>>> round(stability.critical_learning_rate(problem, stability.SGD(batch_size=1)), 12)
1.267949192431
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

from stability._version import __version__

if TYPE_CHECKING:  # pragma: no cover - for type checkers and IDEs only
    from stability import bounds, losses, plot, symbolic, testing
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
    from stability.measures import batch_sharpness, escape_steps, non_uniformity
    from stability.methods import (
        GD,
        SGD,
        Adam,
        AdamW,
        HeavyBall,
        Method,
        Nesterov,
        RMSProp,
        VariationalGD,
    )
    from stability.numeric import (
        ThresholdReport,
        critical_learning_rate,
        edge_parameter,
        expected_loss_change,
        is_stable,
        predicted_mean_square,
        second_moment_operator,
        spectral_radius,
        stationary_second_moment,
        threshold_report,
        variational_edge,
        variational_edges,
        variational_factor,
    )
    from stability.preconditioning import congruent
    from stability.problems import Quadratic
    from stability.reshuffling import epoch_critical_learning_rate
    from stability.schedules import predicted_schedule_mean_square
    from stability.simulation import SimulationResult, SweepResult, simulate
    from stability.sweeps import sweep

#: Public name -> the module defining it (a subpackage maps to ``None``: it is itself).
_EXPORTS: dict[str, str | None] = {
    "GD": "stability.methods",
    "SGD": "stability.methods",
    "Adam": "stability.methods",
    "AdamW": "stability.methods",
    "AdditiveNoise": "stability.dynamics",
    "BatchLaw": "stability.dynamics",
    "CertificationError": "stability.errors",
    "CheckReport": "stability.checks",
    "ConvergenceError": "stability.errors",
    "DimensionError": "stability.errors",
    "HeavyBall": "stability.methods",
    "InvalidInputError": "stability.errors",
    "InvalidTypeError": "stability.errors",
    "LinearDynamics": "stability.dynamics",
    "MatrixPolynomial": "stability.dynamics",
    "Method": "stability.methods",
    "Nesterov": "stability.methods",
    "NotPositiveSemidefiniteError": "stability.errors",
    "NotSymmetricError": "stability.errors",
    "OutOfRangeError": "stability.errors",
    "Quadratic": "stability.problems",
    "RMSProp": "stability.methods",
    "SimulationResult": "stability.simulation",
    "SizeLimitError": "stability.errors",
    "StabilityError": "stability.errors",
    "StabilityWarning": "stability.errors",
    "SweepResult": "stability.simulation",
    "ThresholdReport": "stability.numeric._thresholds",
    "TransposedDataWarning": "stability.errors",
    "UnstableError": "stability.errors",
    "VariationalGD": "stability.methods",
    "batch_sharpness": "stability.measures",
    "bounds": None,
    "check": "stability.checks",
    "congruent": "stability.preconditioning",
    "critical_learning_rate": "stability.numeric._thresholds",
    "edge_parameter": "stability.numeric._variational_edge",
    "epoch_critical_learning_rate": "stability.reshuffling",
    "escape_steps": "stability.measures",
    "expected_loss_change": "stability.numeric._moments",
    "is_stable": "stability.numeric._thresholds",
    "losses": None,
    "non_uniformity": "stability.measures",
    "plot": None,
    "predicted_mean_square": "stability.numeric._prediction",
    "predicted_schedule_mean_square": "stability.schedules",
    "second_moment_operator": "stability.numeric._operators",
    "simulate": "stability.simulation",
    "spectral_radius": "stability.numeric._thresholds",
    "stationary_second_moment": "stability.numeric._moments",
    "sweep": "stability.sweeps",
    "symbolic": None,
    "testing": None,
    "threshold_report": "stability.numeric._thresholds",
    "variational_edge": "stability.numeric._variational_edge",
    "variational_edges": "stability.numeric._variational_edge",
    "variational_factor": "stability.numeric._variational_edge",
}

__all__ = [
    "GD",
    "SGD",
    "Adam",
    "AdamW",
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
    "RMSProp",
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
    "batch_sharpness",
    "bounds",
    "check",
    "congruent",
    "critical_learning_rate",
    "edge_parameter",
    "epoch_critical_learning_rate",
    "escape_steps",
    "expected_loss_change",
    "is_stable",
    "losses",
    "non_uniformity",
    "plot",
    "predicted_mean_square",
    "predicted_schedule_mean_square",
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
    """Import a public name (or subpackage) on first use and cache it in the module.

    Parameters
    ----------
    name : str
        The attribute asked for.

    Examples
    --------
    >>> import stability
    >>> stability.GD.__name__
    'GD'
    """
    if name not in _EXPORTS:
        raise AttributeError(f"module 'stability' has no attribute {name!r}")
    module_name = _EXPORTS[name]
    value = (
        import_module(f"stability.{name}")
        if module_name is None
        else getattr(import_module(module_name), name)
    )
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    """The public names, for tab completion."""
    return sorted(set(globals()) | set(__all__))
